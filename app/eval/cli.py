"""`sourced eval DATASET`: build or reuse the corpus index, measure, print, write JSON."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from app.errors import AppError
from app.eval.datasets import load_dataset
from app.eval.report import format_report
from app.eval.runner import EvalOptions, evaluate_beir, evaluate_squad, prepare
from app.eval.tables import evaluate_wtq
from app.llm import create_llm
from app.settings import get_settings


def run_eval(args: argparse.Namespace, dataset_path: Path) -> int:
    settings = get_settings()
    if args.llm:
        settings = settings.model_copy(update={"llm_backend": args.llm})
    options = EvalOptions(
        retrieval_modes=args.mode or ["hybrid", "dense", "bm25"],
        answer_modes=args.answer_mode or ["extractive", "short", "generative", "auto"],
        limit=args.limit,
        table_settings=[f"table {t}" for t in args.table or ("given", "retrieved")],
        top_k=args.top_k,
        index=args.index,
    )

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    dataset = load_dataset(dataset_path)
    log(f"{dataset.name}: {len(dataset.documents)} documents, {len(dataset.questions)} questions")
    context = prepare(dataset, settings, options, log)

    def llm_factory():
        llm = create_llm(settings)
        llm.load()
        return llm

    try:
        if dataset.kind == "beir":
            results = evaluate_beir(dataset, context, options, log)
        elif dataset.kind == "wtq":
            results = evaluate_wtq(dataset, context, options, llm_factory, log)
        else:
            results = evaluate_squad(dataset, context, options, llm_factory, log)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    report = {
        "dataset": dataset.name,
        "kind": dataset.kind,
        "index": context.index.name,
        "index_version": context.index.version,
        "chunks": context.index.chunk_count,
        "index_seconds": context.build_seconds,
        "embedding_model": settings.embedding_model,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "llm": f"{settings.llm_backend}:{settings.llm_model or 'default'}",
        "machine": f"{platform.machine()}, {platform.python_version()}",
        **results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(format_report(report))
    print(f"\n{report['seconds']} s in all")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"report written to {args.json_out}")
    return 0
