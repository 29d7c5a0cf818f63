"""Where to put the answerability threshold: evidence of in-corpus vs off-corpus questions.

    .venv/bin/python bench/answerability.py

SQuAD v2.0's unanswerable questions are written against the very paragraph they cannot be
answered from, so retrieval evidence barely separates them (`sourced eval` prints that curve).
The threshold's everyday job is different: to refuse questions the documents are not about.
This measures that with SQuAD v1.1: the index holds the paragraphs of half of the articles,
and the questions of the other half are off-corpus (then the halves swap). For each threshold
it prints the share of in-corpus questions answered and of off-corpus questions refused, and
writes bench/results/answerability.json.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from app.eval.datasets import load_squad
from app.eval.runner import THRESHOLDS, EvalOptions, _ask, _pipeline, _retriever, prepare
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "datasets" / "squad-sample" / "dev-v1.1-sample.json"
RESULTS = ROOT / "bench" / "results"


def evidence(dataset, questions, settings) -> list[float]:
    context = prepare(dataset, settings, EvalOptions(["hybrid"], ["extractive"]), print)
    pipeline = _pipeline(context, _retriever(context, 10), None, answerable_threshold=0.0)
    options = EvalOptions([], [])
    return [
        pipeline.answer(_ask(q, "extractive", options, context.index.name)).evidence
        for q in questions
    ]


def main() -> None:
    full = load_squad(SQUAD)
    articles = sorted({q.gold_document.split("-")[0] for q in full.questions})
    halves = [set(articles[: len(articles) // 2]), set(articles[len(articles) // 2 :])]
    inside, outside = [], []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sourced-answerability-") as tmp:
        settings = Settings(model_cache_dir=Path(tmp))
        for n, half in enumerate(halves):
            part = replace(
                full,
                name=f"squad-half-{n}",
                documents={d: t for d, t in full.documents.items() if d.split("-")[0] in half},
            )
            questions = full.questions
            scores = evidence(part, questions, settings)
            for question, score in zip(questions, scores, strict=True):
                (inside if question.gold_document.split("-")[0] in half else outside).append(score)
    curve = [
        {
            "threshold": t,
            "answered_in_corpus": round(sum(e >= t for e in inside) / len(inside), 4),
            "refused_off_corpus": round(sum(e < t for e in outside) / len(outside), 4),
        }
        for t in THRESHOLDS
    ]
    print(f"{len(inside)} in-corpus and {len(outside)} off-corpus questions")
    print("threshold  answered in-corpus  refused off-corpus")
    for point in curve:
        print(
            f"{point['threshold']:<9.2f}  {point['answered_in_corpus']:<18.1%}  "
            f"{point['refused_off_corpus']:.1%}"
        )
    print(f"{time.perf_counter() - started:.0f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "answerability.json").write_text(json.dumps({"curve": curve}, indent=2) + "\n")


if __name__ == "__main__":
    main()
