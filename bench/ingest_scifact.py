"""Ingest throughput on BEIR SciFact (5,183 abstracts), measured against the model's own limit.

    .venv/bin/python bench/ingest_scifact.py [--limit N] [--as files|jsonl]

1. Full ingest of the corpus, written out as one text file per abstract (or one JSONL file),
   through the real pipeline: scan, parse in the worker, chunk, embed, write the index.
2. The same chunk texts encoded directly by sentence-transformers, in the same run: the model's
   own throughput. The ratio of the two is the pipeline's overhead.
3. Re-ingest of the unchanged folder, then of the folder with one file changed.

Prints a table and writes bench/results/ingest_scifact.json. The dataset is read from
../shared/datasets/scifact and never copied into the product.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from ingest.embedder import Embedder
from ingest.progress import Progress
from ingest.settings import IngestSettings
from ingest.store import open_index
from ingest.sync import run_ingest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"
RESULTS = ROOT / "bench" / "results"


def write_corpus(target: Path, limit: int | None, layout: str) -> int:
    records = []
    with CORPUS.open(encoding="utf-8") as handle:
        for line in handle:
            records.append(json.loads(line))
            if limit and len(records) >= limit:
                break
    if layout == "jsonl":
        with (target / "corpus.jsonl").open("w", encoding="utf-8") as out:
            for r in records:
                out.write(json.dumps({"title": r["title"], "text": r["text"]}) + "\n")
    else:
        for r in records:
            (target / f"{r['_id']}.txt").write_text(f"{r['title']}\n\n{r['text']}\n")
    return len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N abstracts")
    parser.add_argument("--as", dest="layout", choices=("files", "jsonl"), default="files")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sourced-bench-") as tmp:
        folder = Path(tmp) / "scifact"
        folder.mkdir()
        documents = write_corpus(folder, args.limit, args.layout)
        settings = IngestSettings(index_dir=Path(tmp) / "indexes")
        progress = Progress()

        started = time.perf_counter()
        full = run_ingest([folder], "scifact", settings, progress=progress)
        full_s = time.perf_counter() - started
        index = open_index(settings.index_dir, "scifact")
        texts = [c.text for c in index.chunks()]

        model = Embedder(settings.embedding_model).model
        started = time.perf_counter()
        model.encode(texts, batch_size=settings.embedding_batch_size, normalize_embeddings=True)
        direct_s = time.perf_counter() - started

        started = time.perf_counter()
        unchanged = run_ingest([folder], "scifact", settings)
        unchanged_s = time.perf_counter() - started

        victim = sorted(folder.iterdir())[0]
        victim.write_text(victim.read_text() + "\nAn added sentence about the findings.\n")
        started = time.perf_counter()
        one_changed = run_ingest([folder], "scifact", settings)
        one_changed_s = time.perf_counter() - started

    chunks = len(texts)
    result = {
        "dataset": "BEIR SciFact corpus",
        "layout": args.layout,
        "documents": documents,
        "chunks": chunks,
        "full_ingest_s": round(full_s, 2),
        "full_ingest_chunks_per_s": round(chunks / full_s, 1),
        "direct_encode_s": round(direct_s, 2),
        "direct_encode_chunks_per_s": round(chunks / direct_s, 1),
        "pipeline_vs_model": round(direct_s / full_s, 3),
        "unchanged_reingest_s": round(unchanged_s, 2),
        "unchanged_reingest_embedded": unchanged.chunks_embedded,
        "one_file_changed_s": round(one_changed_s, 2),
        "one_file_changed_embedded": one_changed.chunks_embedded,
        "failed_files": len(full.failed),
        "machine": {
            "cpus": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ingest_scifact_{args.layout}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nSciFact ingest ({documents} documents as {args.layout}, {chunks} chunks)")
    rows = [
        ("full ingest", f"{full_s:.1f} s", f"{chunks / full_s:.1f} chunks/s"),
        ("model alone, same texts", f"{direct_s:.1f} s", f"{chunks / direct_s:.1f} chunks/s"),
        ("pipeline / model throughput", f"{direct_s / full_s:.0%}", ""),
        ("unchanged re-ingest", f"{unchanged_s:.2f} s", f"{unchanged.chunks_embedded} embedded"),
        ("one file changed", f"{one_changed_s:.2f} s", f"{one_changed.chunks_embedded} embedded"),
    ]
    for name, value, extra in rows:
        print(f"  {name:<30} {value:>10}  {extra}")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
