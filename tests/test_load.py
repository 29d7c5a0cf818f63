"""Concurrent load on the real server while ingest swaps the index version underneath it: every
request must succeed and the server's memory must stay bounded.

32 clients ask (a quarter of them streaming) for 30 s, with the fake LLM writing every answer
through the real pipeline and queue, while this process re-ingests a changed file again and
again; each run writes a new version, makes it current and deletes the oldest."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import httpx

from ingest.sync import run_ingest

from .server import running_server, sample_index

CLIENTS = 32
SECONDS = 30.0
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


def test_concurrent_asks_while_ingest_swaps_versions(tmp_path, embedder):
    index_dir = sample_index(tmp_path)
    docs = tmp_path / "docs"
    env = {
        "SOURCED_INDEX_DIR": str(index_dir),
        "SOURCED_LLM_BACKEND": "fake",
        "SOURCED_ANSWER_MODE": "generative",  # every answer goes through the LLM queue
        "SOURCED_LLM_QUEUE_SIZE": str(CLIENTS * 2),
    }
    with running_server(env) as (url, log):
        port = urlparse(url).port
        with httpx.Client(timeout=60) as warm:
            assert ask_once(warm, url, 1) == "ok"
        rss = [server_rss_mb(port)]
        outcomes: Counter[str] = Counter()
        latencies: list[float] = []
        swaps: list[str] = []
        deadline = time.monotonic() + SECONDS
        lock = threading.Lock()

        def client_loop(worker: int) -> None:
            with httpx.Client(timeout=60) as client:
                n = worker
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    try:
                        outcome = ask_once(client, url, n)
                    except httpx.HTTPError as exc:
                        outcome = f"{type(exc).__name__}: {exc}"
                    with lock:
                        outcomes[outcome] += 1
                        latencies.append(time.perf_counter() - started)
                    n += CLIENTS

        def ingest_loop() -> None:
            settings = _settings(index_dir)
            change = docs / "changing.md"
            while time.monotonic() < deadline:
                change.write_text(f"# Changing\nVersion {len(swaps)} of a note that changes.")
                report = run_ingest([docs], "default", settings, embedder=embedder)
                swaps.append(report.version)

        def watch_memory() -> None:
            while time.monotonic() < deadline:
                time.sleep(1.0)
                rss.append(server_rss_mb(port))

        threads = [threading.Thread(target=client_loop, args=(w,)) for w in range(CLIENTS)]
        threads += [threading.Thread(target=ingest_loop), threading.Thread(target=watch_memory)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SECONDS + 120)
        rss.append(server_rss_mb(port))
        server_log = log.read_text()

    total = sum(outcomes.values())
    latencies.sort()
    summary = {
        "requests": total,
        "failed": total - outcomes["ok"],
        "per_second": round(total / SECONDS, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000),
        "versions_swapped": len(swaps),
        "rss_mb": {"idle": round(rss[0]), "peak": round(max(rss)), "end": round(rss[-1])},
    }
    print("load:", json.dumps(summary))
    assert outcomes["ok"] == total, outcomes.most_common(5)
    assert total > CLIENTS * 5 and len(swaps) >= 3, summary
    assert "Traceback" not in server_log
    # Bounded: the first seconds of 32 concurrent requests take what they need (each running
    # request holds its own buffers); after that nothing grows with requests or swaps.
    half = len(rss) // 2
    assert max(rss[half:]) < max(rss[1:half]) + 100, summary


def _settings(index_dir: Path):
    from app.settings import Settings

    return Settings(index_dir=index_dir, _env_file=None)
