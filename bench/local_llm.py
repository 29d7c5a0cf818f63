"""The local LLM on a RAG-shaped request: time to first token, decode speed, whole answer.

    .venv/bin/python bench/local_llm.py [--context 1500] [--answer 150] [--rounds 3]
        [--engines local-bfloat16-int8,local-bfloat16,local-float32,llamacpp]
        [--model qwen2.5-coder-1.5b]

The request is what `/ask` sends: the system prompt, about 1,500 tokens of numbered SciFact
passages and a question asking for a long answer, capped at 150 tokens. Each engine runs
through its Sourced backend (so the figures include what the service adds), once to warm up and
then `--rounds` times; medians are reported. Decode speed counts the tokens after the first.
Prompt reading speed counts the prompt's tokens over the time to the first token; peak memory
is the engine's process's largest resident set. Writes bench/results/local_llm.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from common import machine, print_table, scifact_records, write_result

from app.llm import GenerationParams, create_llm
from app.rag.prompt import build_prompt
from app.rag.retriever import Hit
from app.settings import Settings
from ingest.units import Chunk, Source

ENGINES = {
    "local-bfloat16-int8": {"llm_backend": "local", "llm_dtype": "bfloat16"},  # the default
    "local-bfloat16-int8-weight-only": {
        "llm_backend": "local",
        "llm_dtype": "bfloat16",
        "llm_quantize": "int8-weight-only",
    },
    "local-int8-only": {"llm_backend": "local", "llm_quantize": "int8-only"},
    "local-bfloat16": {"llm_backend": "local", "llm_dtype": "bfloat16", "llm_quantize": "none"},
    "local-float32": {"llm_backend": "local", "llm_dtype": "float32"},
    "llamacpp": {"llm_backend": "llamacpp"},
}
QUESTION = (
    "Summarize what each passage above reports, passage by passage, in full sentences, and "
    "cite each one as [n]."
)


def rag_messages(llm, context_tokens: int, offset: int = 0) -> list[dict[str, str]]:
    """The prompt `/ask` would build from SciFact abstracts, filled to about `context_tokens`;
    `offset` picks other abstracts, so no engine can reuse the previous request's prompt."""
    hits = [
        Hit(Chunk(r["_id"], f"scifact/{r['_id']}.txt", r["text"], 0, len(r["text"]), Source()), 1.0)
        for r in scifact_records(offset + 60)[offset:]
    ]
    prompt = build_prompt(QUESTION, hits, [], context_tokens, llm.count_tokens)
    return prompt.messages


def measure(llm, messages, answer_tokens: int) -> dict[str, float]:
    """One request, streamed: seconds to the first piece of text and to the end."""
    params = GenerationParams(max_tokens=answer_tokens)
    started = time.perf_counter()
    first = None
    for item in llm.stream(messages, params):
        if isinstance(item, str):
            first = first or time.perf_counter() - started
        else:
            completion = item
    total = time.perf_counter() - started
    first = first or total
    decoded = max(completion.completion_tokens - 1, 0)
    return {
        "first_token_s": first,
        "total_s": total,
        "prompt_tokens": completion.prompt_tokens,
        "answer_tokens": completion.completion_tokens,
        "decode_tokens_per_s": decoded / (total - first) if total > first else 0.0,
        "prompt_tokens_per_s": completion.prompt_tokens / first,
        # What a full-length answer takes, when the model stops early.
        "full_answer_s": first + (answer_tokens - 1) / (decoded / (total - first))
        if decoded and total > first
        else total,
    }


def run_engine(
    name: str, context: int, answer: int, rounds: int, model: str = ""
) -> dict[str, float]:
    llm = create_llm(Settings(**ENGINES[name], llm_model=model))
    started = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - started
    measure(llm, rag_messages(llm, context), answer)  # warm up
    # Other passages each round: no engine may reuse the previous request's prompt.
    runs = [
        measure(llm, rag_messages(llm, context, offset=10 * (n + 1)), answer) for n in range(rounds)
    ]
    return {
        "load_s": round(load_s, 2),
        **{key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--context", type=int, default=1500, help="context tokens")
    parser.add_argument("--answer", type=int, default=150, help="answer tokens (at most)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--model", default="", help="SOURCED_LLM_MODEL (default: the default)")
    parser.add_argument("--one", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = run_engine(args.one, args.context, args.answer, args.rounds, args.model)
        print(json.dumps(result))
        return

    results = {}
    for name in args.engines.split(","):
        # Each engine in a fresh process: a second model in one process runs slower.
        command = [sys.executable, __file__, "--one", name, "--context", str(args.context)]
        command += ["--answer", str(args.answer), "--rounds", str(args.rounds)]
        command += ["--model", args.model]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(output.strip().splitlines()[-1])
        print(f"{name}: {results[name]}", flush=True)

    out = write_result(
        "local_llm",
        {
            "context_tokens": args.context,
            "answer_tokens": args.answer,
            "model": args.model or "default",
            "engines": results,
            "machine": machine(),
        },
    )
    rows = [
        [
            name,
            f"{r['prompt_tokens']:.0f}",
            f"{r['first_token_s']:.2f} s",
            f"{r['prompt_tokens_per_s']:.0f}",
            f"{r['decode_tokens_per_s']:.1f}",
            f"{r['answer_tokens']:.0f}",
            f"{r['total_s']:.2f} s",
            f"{r['full_answer_s']:.2f} s",
            f"{r['load_s']:.1f} s",
            f"{r['peak_rss_mb']:,} MB",
        ]
        for name, r in results.items()
    ]
    header = ["engine", "prompt tok", "first token", "prompt tok/s", "decode tok/s"]
    header += ["answer tok", "total", f"{args.answer} tok", "load", "peak RSS"]
    print_table("Local LLM, RAG-shaped request", header, rows)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
