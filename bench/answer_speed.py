"""How long answers take with the configured LLM (the bundled default unless SOURCED_LLM_* says
otherwise): first token and whole answer, short and generated, through the real pipeline.

    .venv/bin/python bench/answer_speed.py [--questions 30] [--long-tokens 150]

SQuAD v1.1 sample questions are asked of an index of its paragraphs (the one `sourced eval`
builds), the way `/ask` streams them: `short` (the reader's phrase and its quote) and
`generative` with room for a long answer. First token is the time from the request to the first
piece of the answer; the whole answer includes retrieval, evidence and citation checks.
Medians and 90th percentiles; process memory at the end. Writes bench/results/answer_speed.json.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time

from common import ROOT, machine, percentile, print_table, write_result

from app.eval.datasets import load_squad
from app.eval.runner import EvalOptions, prepare
from app.llm import create_llm
from app.rag.evidence import EvidenceScorer
from app.rag.indexes import IndexLibrary
from app.rag.pipeline import AnswerPipeline
from app.schemas import AskRequest, LLMOptions
from app.services import build_retriever, load_models
from app.settings import Settings

SQUAD = ROOT.parent / "shared" / "datasets" / "squad-sample" / "dev-v1.1-sample.json"
# Asking for an explanation makes the model write at length, as a long-form answer does.
LONG = "Explain in detail, in several sentences: {question}"


def timed(pipeline: AnswerPipeline, request: AskRequest) -> dict:
    started = time.perf_counter()
    first = None
    for name, data in pipeline.answer_stream(request):
        if name == "token" and first is None:
            first = time.perf_counter() - started
        if name == "done":
            total = time.perf_counter() - started
            return {
                "first_token_s": first if first is not None else total,
                "total_s": total,
                "tokens": data.usage.completion_tokens,
                "mode": data.answer_mode,
            }
    raise RuntimeError("no answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--long-tokens", type=int, default=150)
    args = parser.parse_args()

    settings = Settings()
    dataset = load_squad(SQUAD)
    context = prepare(dataset, settings, EvalOptions(["hybrid"], []), print)
    eval_settings = context.settings.model_copy(update={"default_index": context.index.name})
    llm = create_llm(eval_settings)
    load_models(context.embedder, llm)  # as the server does: off this thread
    library = IndexLibrary(
        eval_settings.index_dir, settings.embedding_model, context.index.dimension
    )
    pipeline = AnswerPipeline(
        eval_settings,
        library,
        build_retriever(eval_settings, context.embedder),
        llm,
        EvidenceScorer(context.embedder),
    )
    questions = random.Random(5).sample(dataset.questions, args.questions)
    runs: dict[str, list[dict]] = {"short": [], "long-form": []}
    for n, question in enumerate(questions, 1):  # interleaved, so drift hits both alike
        runs["short"].append(
            timed(pipeline, AskRequest(question=question.text, answer_mode="short"))
        )
        long_request = AskRequest(
            question=LONG.format(question=question.text),
            answer_mode="generative",
            llm=LLMOptions(max_tokens=args.long_tokens),
        )
        runs["long-form"].append(timed(pipeline, long_request))
        print(f"{n}/{len(questions)}", flush=True)

    rows, result = [], {"model": llm.model, "backend": llm.name, "machine": machine()}
    for kind, measured in runs.items():
        answered = [m for m in measured if m["mode"] != "none"]
        firsts = [m["first_token_s"] for m in answered]
        totals = [m["total_s"] for m in answered]
        tokens = [m["tokens"] for m in answered]
        row = {
            "answers": len(answered),
            "first_token_median_s": round(statistics.median(firsts), 2),
            "first_token_p90_s": round(percentile(firsts, 0.9), 2),
            "total_median_s": round(statistics.median(totals), 2),
            "total_p90_s": round(percentile(totals, 0.9), 2),
            "tokens_median": statistics.median(tokens),
            "tokens_max": max(tokens),
        }
        long_ones = [m["total_s"] for m in answered if m["tokens"] >= 0.8 * args.long_tokens]
        if kind == "long-form" and long_ones:
            row[f"total_median_s_at_{int(0.8 * args.long_tokens)}+_tokens"] = round(
                statistics.median(long_ones), 2
            )
        result[kind] = row
        rows.append([kind, *row.values()][:8])
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print_table(
        f"{llm.model} ({llm.name}), {args.questions} SQuAD questions",
        ["answer", "answers", "first token p50", "p90", "whole p50", "p90", "tokens p50", "max"],
        rows,
    )
    for kind in runs:
        extra = {k: v for k, v in result[kind].items() if k.startswith("total_median_s_at")}
        if extra:
            print(f"  {kind}: {extra}")
    print(f"  peak process memory: {result['max_rss_mb']} MB")
    print(f"written to {write_result('answer_speed', result)}")


if __name__ == "__main__":
    main()
