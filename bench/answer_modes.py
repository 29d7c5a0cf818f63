"""Which answer mode, and which `auto` cut-off, for the configured LLM (the bundled one unless
SOURCED_LLM_* says otherwise).

    .venv/bin/python bench/answer_modes.py [--limit 50] [--dataset PATH]

The LLM answers a sample of SQuAD v1.1 questions once; each answer is then scored as
`generative`, as `auto` with several SOURCED_MIN_GROUNDED cut-offs, and against the
`extractive` answer. Prints the table and writes bench/results/answer_modes.json.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from app.eval.datasets import load_squad
from app.eval.runner import (
    EvalOptions,
    _ask,
    _pipeline,
    _retriever,
    _sample,
    _score_answers,
    prepare,
)
from app.llm import create_llm
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-sample" / "dev-v1.1-sample.json"
RESULTS = ROOT / "bench" / "results"
CUTOFFS = (0.25, 0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--dataset", type=Path, default=SQUAD)
    args = parser.parse_args()

    settings = Settings()
    dataset = load_squad(args.dataset)
    context = prepare(dataset, settings, EvalOptions(["hybrid"], []), print)
    llm = create_llm(settings)
    llm.load()
    pipeline = _pipeline(context, _retriever(context, 10), llm, settings.answerable_threshold)
    sample = _sample(dataset.questions, args.limit, seed=13)
    chunk_text = {c.id: c.text for c in context.index.chunks()}
    options = EvalOptions([], [])

    answers: dict[str, dict] = {"generative": {}, "extractive": {}}
    answers.update({f"auto, min_grounded {c}": {} for c in CUTOFFS})
    started = time.perf_counter()
    for n, question in enumerate(sample, 1):
        prepared = pipeline.prepare(_ask(question, "generative", options, context.index.name))
        completion = None
        if prepared.plan == "generate":
            completion = llm.complete(prepared.prompt.messages, prepared.params)
        answers["generative"][question.id] = pipeline.finish(prepared, completion)
        as_extractive = replace(prepared, plan="extract" if completion else prepared.plan)
        answers["extractive"][question.id] = pipeline.finish(as_extractive, None)
        for cutoff in CUTOFFS:
            pipeline.settings = pipeline.settings.model_copy(update={"min_grounded": cutoff})
            auto = replace(prepared, requested_mode="auto")
            answers[f"auto, min_grounded {cutoff}"][question.id] = pipeline.finish(auto, completion)
        print(f"{n}/{len(sample)}", flush=True)
    seconds = (time.perf_counter() - started) / max(len(sample), 1)

    threshold = settings.answerable_threshold
    table = {
        mode: _score_answers(sample, responses, chunk_text, threshold, seconds=None)
        for mode, responses in answers.items()
    }
    print(f"\n{llm.model}: {len(sample)} questions, {seconds:.1f} s per answer")
    keys = ["answer_contained", "citation_accuracy", "f1", "grounded", "answer_rate"]
    print(f"{'mode':<28}" + "".join(f"{k:>19}" for k in keys))
    for mode, row in table.items():
        print(f"{mode:<28}" + "".join(f"{row[k]:>19.4f}" for k in keys))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"llm": llm.model, "questions": len(sample), "s_per_answer": seconds, "modes": table}
    (RESULTS / "answer_modes.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
