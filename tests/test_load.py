"""Concurrent load on the real server while ingest swaps the index version underneath it: every
request must succeed and the server's memory must stay bounded.

32 clients ask (a quarter of them streaming) for 20 s, with the fake LLM writing every answer
through the real pipeline and queue, while this process re-ingests a changed file again and
again; each run writes a new version, makes it current and deletes the oldest."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from app.settings import Settings
from ingest.sync import run_ingest

from .conftest import SAMPLE
from .server import running_servers

CLIENTS = 32
SECONDS = 20.0
QUESTIONS = [
    "What should I do with an encrypted PDF?",
    "How do I install Sourced?",
    "Which settings control chunking?",
    "What changed in the latest release?",
]


def server_rss_mb(port: int) -> float:
    """The resident memory of the `sourced serve` process listening on `port`."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and str(port).encode() in argv:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    raise LookupError(f"no server on port {port}")


def ask_once(client: httpx.Client, url: str, n: int) -> str:
    """One request; returns "ok" or what went wrong."""
    body = {"question": QUESTIONS[n % len(QUESTIONS)], "stream": n % 4 == 0}
    if not body["stream"]:
        response = client.post(f"{url}/ask", json=body)
        if response.status_code != 200:
            return f"status {response.status_code}: {response.text[:200]}"
        answer = response.json()
        return "ok" if answer["answer"] and answer["sources"] else "empty answer"
    with client.stream("POST", f"{url}/ask", json=body) as response:
        if response.status_code != 200:
            return f"status {response.status_code}"
        events = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]
    if "error" in events or events[-1:] != ["done"]:
        return f"stream ended with {events[-1:]}"
    return "ok"


@pytest.mark.parametrize("store", ["local", "postgres"])
def test_concurrent_asks_while_ingest_swaps_versions(tmp_path, embedder, store, request):
    """On the local store, one server; on Postgres, two replicas sharing the clients."""
    database = {}
    if store == "postgres":
        url = request.getfixturevalue("database_url")
        database = {"SOURCED_STORE": "postgres", "SOURCED_DATABASE_URL": url}
    index_dir = tmp_path / "indexes"
    settings = Settings(
        index_dir=index_dir,
        _env_file=None,
        **{k.removeprefix("SOURCED_").lower(): v for k, v in database.items()},
    )
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    run_ingest([docs], "default", settings, embedder=embedder)
    env = {
        "SOURCED_INDEX_DIR": str(index_dir),
        "SOURCED_LLM_BACKEND": "fake",
        "SOURCED_ANSWER_MODE": "generative",  # every answer goes through the LLM queue
        "SOURCED_LLM_QUEUE_SIZE": str(CLIENTS * 2),
        **database,
    }
    with running_servers([env] * (2 if store == "postgres" else 1)) as started:
        urls = [url for url, _ in started]
        ports = [urlparse(url).port for url in urls]
        with httpx.Client(timeout=60) as warm:
            assert all(ask_once(warm, url, 1) == "ok" for url in urls)
        rss = [[server_rss_mb(port)] for port in ports]
        outcomes: Counter[str] = Counter()
        latencies: list[float] = []
        swaps: list[str] = []
        deadline = time.monotonic() + SECONDS
        lock = threading.Lock()

        def client_loop(worker: int) -> None:
            url = urls[worker % len(urls)]
            with httpx.Client(timeout=60) as client:
                n = worker
                while time.monotonic() < deadline:
                    began = time.perf_counter()
                    try:
                        outcome = ask_once(client, url, n)
                    except httpx.HTTPError as exc:
                        outcome = f"{type(exc).__name__}: {exc}"
                    with lock:
                        outcomes[outcome] += 1
                        latencies.append(time.perf_counter() - began)
                    n += CLIENTS

        def ingest_loop() -> None:
            change = docs / "changing.md"
            while time.monotonic() < deadline:
                change.write_text(f"# Changing\nVersion {len(swaps)} of a note that changes.")
                report = run_ingest([docs], "default", settings, embedder=embedder)
                swaps.append(report.version)

        def watch_memory() -> None:
            while time.monotonic() < deadline:
                time.sleep(1.0)
                for series, port in zip(rss, ports, strict=True):
                    series.append(server_rss_mb(port))

        threads = [threading.Thread(target=client_loop, args=(w,)) for w in range(CLIENTS)]
        threads += [threading.Thread(target=ingest_loop), threading.Thread(target=watch_memory)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SECONDS + 120)
        for series, port in zip(rss, ports, strict=True):
            series.append(server_rss_mb(port))
        server_logs = [log.read_text() for _, log in started]

    total = sum(outcomes.values())
    latencies.sort()
    summary = {
        "store": store,
        "servers": len(urls),
        "requests": total,
        "failed": total - outcomes["ok"],
        "per_second": round(total / SECONDS, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000),
        "versions_swapped": len(swaps),
        "rss_mb": [{"idle": round(r[0]), "peak": round(max(r)), "end": round(r[-1])} for r in rss],
    }
    print("load:", json.dumps(summary))
    assert outcomes["ok"] == total, outcomes.most_common(5)
    assert total > CLIENTS * 5 and len(swaps) >= 3, summary
    assert all("Traceback" not in text for text in server_logs)
    # Bounded: the first seconds of 32 concurrent requests take what they need (each running
    # request holds its own buffers); after that nothing grows with requests or swaps.
    for series in rss:
        half = len(series) // 2
        assert max(series[half:]) < max(series[1:half]) + 100, summary
