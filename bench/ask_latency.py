"""Service load time, `/ask` latency split into retrieve and generate, and the local model's
tokens per second, on the sample index.

    .venv/bin/python bench/ask_latency.py [--backend local] [--rounds 3]

Builds the sample index in a temporary folder, loads the service as `sourced serve` does, then
asks a fixed set of questions. Prints a table and writes bench/results/ask_latency_<backend>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import percentile

from app.schemas import AskRequest
from app.services import build_services
from app.settings import Settings
from ingest.sync import run_ingest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
QUESTIONS = [
    "How do I install Sourced?",
    "What happens when an ingest run is interrupted?",
    "Which file formats can Sourced read?",
    "Does Sourced send my documents anywhere?",
    "What does the error about another embedding model mean?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="local")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sourced-bench-") as tmp:
        settings = Settings(index_dir=Path(tmp) / "indexes", llm_backend=args.backend)
        run_ingest([ROOT / "data" / "sample"], "default", settings)
        started = time.perf_counter()
        services = build_services(settings)
        load_s = time.perf_counter() - started

        runs = []
        for _ in range(args.rounds):
            for question in QUESTIONS:
                response = services.pipeline.answer(AskRequest(question=question))
                runs.append(response)

    retrieve = [r.timings_ms.retrieve for r in runs]
    generate = [r.timings_ms.generate for r in runs]
    tokens = sum(r.usage.completion_tokens for r in runs)
    prompt_tokens = [r.usage.prompt_tokens for r in runs]
    result = {
        "backend": args.backend,
        "model": runs[0].model,
        "requests": len(runs),
        "load_s": round(load_s, 2),
        "retrieve_ms_p50": round(statistics.median(retrieve), 1),
        "retrieve_ms_p95": round(percentile(retrieve, 0.95), 1),
        "generate_ms_p50": round(statistics.median(generate), 1),
        "generate_ms_p95": round(percentile(generate, 0.95), 1),
        "prompt_tokens_mean": round(statistics.mean(prompt_tokens)),
        "completion_tokens_total": tokens,
        "tokens_per_s_end_to_end": round(tokens / (sum(generate) / 1000), 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ask_latency_{args.backend}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n/ask on the sample index, {args.backend} backend ({result['model']})")
    for key, value in result.items():
        print(f"  {key:<26} {value}")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
