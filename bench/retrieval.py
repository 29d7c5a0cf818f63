"""Retrieval latency at 5k, 100k and 1M chunks, per retrieval mode, query embedding included.

    .venv/bin/python bench/retrieval.py [--sizes 5000,100000,1000000] [--queries 200]

The 5k index is real: SciFact abstracts ingested through the pipeline. The larger ones are
synthetic, built from it: each real chunk repeated with its vector moved by Gaussian noise
(so vectors keep the real ones' topical clusters and are all distinct) and its text kept (so
BM25 sees real term statistics). Each size is written as a real index version, so it gets the
vector search the store chooses for it (exact, or HNSW past SOURCED_ANN_MIN_CHUNKS) and its
measured recall. Queries are SciFact's own questions, each embedded afresh (no cache).

Prints a table and writes bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from common import (
    RESULTS,
    ROOT,
    machine,
    percentile,
    print_table,
    scifact_questions,
    scifact_records,
    write_result,
)

from app.rag.retriever import RETRIEVAL_MODES, Retriever
from ingest import vectors as vector_index
from ingest.embedder import Embedder
from ingest.manifest import FileRecord, Manifest
from ingest.settings import IngestSettings
from ingest.stores.local import IndexVersion, open_index, write_lock, write_version
from ingest.sync import index_spec, run_ingest
from ingest.units import Chunk

NOISE = 0.35  # per-dimension noise relative to a unit vector's typical coordinate


def real_index(tmp: Path, settings: IngestSettings, chunks_wanted: int) -> IndexVersion:
    """SciFact abstracts ingested until the index holds at least `chunks_wanted` chunks."""
    folder = tmp / "scifact"
    folder.mkdir()
    for r in scifact_records(int(chunks_wanted / 2.4) + 10):
        (folder / f"{r['_id']}.txt").write_text(f"{r['title']}\n\n{r['text']}\n")
    run_ingest([folder], "real", settings)
    return open_index(settings.index_dir, "real")


def synthetic_index(
    settings: IngestSettings, base: IndexVersion, size: int, name: str
) -> tuple[IndexVersion, float]:
    """`size` chunks made from the base index's chunks and vectors; and the build's seconds."""
    base_chunks = base.chunks()[: min(size, base.chunk_count)]
    base_vectors = base.vectors()[: len(base_chunks)]
    rng = np.random.default_rng(size)
    copies = -(-size // len(base_chunks))
    chunks: list[Chunk] = []
    vectors = np.empty((size, base.dimension), dtype=np.float32)
    scale = NOISE / np.sqrt(base.dimension)
    for copy in range(copies):
        begin = copy * len(base_chunks)
        take = min(len(base_chunks), size - begin)
        for c in base_chunks[:take]:
            document = f"copy{copy}/{c.document}"
            chunks.append(Chunk(f"{c.id}-{copy}", document, c.text, 0, len(c.text), c.source))
        part = base_vectors[:take]
        if copy:
            part = part + rng.normal(scale=scale, size=part.shape).astype(np.float32)
            part /= np.linalg.norm(part, axis=1, keepdims=True)
        vectors[begin : begin + take] = part
    files: dict[str, list[str]] = {}
    for c in chunks:
        files.setdefault(c.document, []).append(c.id)
    manifest = Manifest(
        files={d: FileRecord(d, 1, 1, "-", "text-1", ids) for d, ids in files.items()}
    )
    started = time.perf_counter()
    with write_lock(settings.index_dir, name):
        write_version(
            settings.index_dir,
            name,
            index_spec(settings),
            base.dimension,
            chunks,
            vectors,
            manifest,
            ann_min_chunks=settings.ann_min_chunks,
        )
    return open_index(settings.index_dir, name).load(), time.perf_counter() - started


def latencies(retriever: Retriever, index: IndexVersion, mode: str, queries: list[str]):
    retriever.embedder.__dict__.pop("_recent_queries", None)  # embed every question afresh
    retriever.retrieve(index, "warm up the caches", 5, mode)
    times = []
    for q in queries:
        started = time.perf_counter()
        retriever.retrieve(index, q, 5, mode)
        times.append((time.perf_counter() - started) * 1000)
    return times


def exact_dense_ms(index: IndexVersion, queries: np.ndarray) -> float:
    """p95 of exact FAISS search alone over the same vectors, for comparison with HNSW."""
    flat = faiss.IndexFlatIP(index.dimension)
    flat.add(index.vectors())
    times = []
    for q in queries:
        started = time.perf_counter()
        flat.search(q[None, :], 100)
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    queries = scifact_questions(args.queries)

    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="sourced-bench-") as tmp:
        settings = IngestSettings(index_dir=Path(tmp) / "indexes")
        embedder = Embedder.from_settings(settings)
        retriever = Retriever(embedder)
        base = real_index(Path(tmp), settings, min(sizes))
        query_vectors = np.stack([embedder.embed_query(q) for q in queries[:50]])
        # The synthetic copies cluster tightly, which flatters a graph's recall; this is the
        # recall HNSW reaches on the real vectors.
        _, real_info = vector_index.build(base.vectors(), base.dimension, ann_min_chunks=1)
        print(f"HNSW recall@10 on the {base.chunk_count} real vectors: {real_info.recall_at_10}")
        for size in sizes:
            index, build_s = synthetic_index(settings, base, size, f"n{size}")
            info = index.search_info
            entry = {
                "chunks": size,
                "vectors": "real" if size <= base.chunk_count else "synthetic",
                "search": info.to_dict(),
                "write_s": round(build_s, 1),
                "modes": {},
            }
            if info.kind == "hnsw":
                entry["exact_dense_search_alone_p95_ms"] = round(
                    exact_dense_ms(index, query_vectors), 2
                )
            for mode in RETRIEVAL_MODES:
                times = latencies(retriever, index, mode, queries)
                p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
                entry["modes"][mode] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
                recall = f"{info.recall_at_10:.3f}" if info.recall_at_10 else "exact"
                rows.append([f"{size:,}", mode, info.kind, recall, f"{p50:.1f}", f"{p95:.1f}"])
                print(f"{size} {mode}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
            results.append(entry)
            index.close()

    # Sizes measured by an earlier run (`--sizes` one at a time) are kept beside these.
    earlier = RESULTS / "retrieval.json"
    if earlier.exists():
        measured = {entry["chunks"] for entry in results}
        kept = json.loads(earlier.read_text()).get("sizes", [])
        results = sorted(
            [e for e in kept if e["chunks"] not in measured] + results, key=lambda e: e["chunks"]
        )
    out = write_result(
        "retrieval",
        {
            "hnsw_recall_at_10_real_vectors": real_info.recall_at_10,
            "queries": len(queries),
            "k": 5,
            "embedding": embedder.describe(),
            "sizes": results,
            "machine": machine(),
        },
    )
    header = ["chunks", "mode", "vectors", "recall@10", "p50 ms", "p95 ms"]
    print_table("Retrieval latency, query embedding included (top 5)", header, rows)
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
