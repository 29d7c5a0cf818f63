"""The service under load: `/ask` throughput and latency from a separate client process, and
the server's memory, idle and under load.

    .venv/bin/python bench/service_load.py [--docs 2000] [--seconds 20] [--clients 1,8,32]

1. Ingests SciFact abstracts (about 2.4 chunks each) into a temporary index.
2. Starts `sourced serve` with the fake LLM in generative mode, so every answer takes the
   whole path (retrieve, prompt, LLM queue, citations) and the LLM itself costs nothing: the
   latency at one client is the service's own overhead.
3. For each client count, a separate process runs that many asyncio clients for `--seconds`,
   each asking SciFact's questions one after another; the server's RSS is sampled meanwhile.
4. Starts `sourced serve` with the default models (local LLM included) and reads its RSS idle,
   after one generated answer, and at its peak under load from 8 clients asking in the
   default answer mode.

Prints a table and writes bench/results/service_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import (
    ROOT,
    machine,
    percentile,
    print_table,
    scifact_questions,
    scifact_records,
    write_result,
)

SOURCED = Path(sys.executable).parent / "sourced"


async def client_run(urls: list[str], clients: int, seconds: float) -> dict:
    """`clients` asking one question after another for `seconds`; client i asks the server
    urls[i % len(urls)], as a load balancer would spread them."""
    asked = scifact_questions()
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds

    async def one_client(worker: int, http: httpx.AsyncClient) -> None:
        nonlocal failures
        n = worker
        while time.monotonic() < deadline:
            body = {"question": asked[n % len(asked)], "index": "scifact"}
            started = time.perf_counter()
            try:
                response = await http.post(f"{urls[worker % len(urls)]}/ask", json=body)
                failed = response.status_code != 200
            except httpx.HTTPError:  # a dropped connection fails the request, not the run
                failed = True
            latencies.append((time.perf_counter() - started) * 1000)
            failures += failed
            n += clients

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await asyncio.gather(*(one_client(w, http) for w in range(clients)))
    return {
        "clients": clients,
        "requests": len(latencies),
        "failed": failures,
        "per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`sourced serve` in a subprocess, ready once /healthz answers."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [str(SOURCED), "serve", "--port", str(self.port)],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self._log.close()


def load_phase(server: Server, clients: int, seconds: float) -> dict:
    """Run the client process while sampling the server's memory."""
    result, peaks = load_servers([server], clients, seconds)
    result["rss_peak_mb"] = peaks[0]
    return result


def load_servers(
    servers: list[Server], clients: int, seconds: float, others: list[int] = ()
) -> tuple[dict, list[int]]:
    """The client process against every server at once; the peak RSS (MB) of each server,
    then of each process in `others`."""
    pids = [s.process.pid for s in servers] + list(others)
    samples: dict[int, list[float]] = {pid: [] for pid in pids}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            for pid in pids:
                samples[pid].append(rss_mb(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    urls = ",".join(s.url for s in servers)
    command = [sys.executable, __file__, "--client", urls, str(clients), str(seconds)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    done.set()
    sampler.join()
    result = json.loads(output.strip().splitlines()[-1])
    return result, [round(max(samples[pid], default=0.0)) for pid in pids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="SciFact abstracts to ingest")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", default="1,8,32")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sourced-bench-") as tmp:
        folder = Path(tmp) / "scifact"
        folder.mkdir()
        for r in scifact_records(args.docs):
            (folder / f"{r['_id']}.txt").write_text(f"{r['title']}\n\n{r['text']}\n")
        env = {"SOURCED_INDEX_DIR": str(Path(tmp) / "indexes"), "SOURCED_DEFAULT_INDEX": "scifact"}
        subprocess.run(
            [str(SOURCED), "ingest", str(folder), "--index", "scifact", "--quiet"],
            env={**os.environ, **env},
            check=True,
        )
        fake = {
            **env,
            "SOURCED_LLM_BACKEND": "fake",
            "SOURCED_ANSWER_MODE": "generative",
            "SOURCED_LLM_QUEUE_SIZE": "256",
        }
        server = Server(fake, Path(tmp) / "fake.log")
        try:
            asyncio.run(client_run([server.url], 2, 3))  # warm up
            idle_fake = rss_mb(server.process.pid)
            phases = []
            for clients in [int(c) for c in args.clients.split(",")]:
                phases.append(load_phase(server, clients, args.seconds))
                print(json.dumps(phases[-1]), flush=True)
        finally:
            server.stop()

        server = Server(env, Path(tmp) / "default.log")
        try:
            idle_default = rss_mb(server.process.pid)
            body = {"question": scifact_questions()[0], "answer_mode": "generative"}
            httpx.post(f"{server.url}/ask", json=body, timeout=300).raise_for_status()
            after_answer = rss_mb(server.process.pid)
            default_load = load_phase(server, 8, args.seconds)
            print(json.dumps(default_load), flush=True)
        finally:
            server.stop()

    result = {
        "documents": args.docs,
        "fake_llm": {"idle_rss_mb": round(idle_fake), "phases": phases},
        "default_models": {
            "idle_rss_mb": round(idle_default),
            "after_an_answer_rss_mb": round(after_answer),
            "under_load": default_load,
        },
        "machine": machine(),
    }
    out = write_result("service_load", result)
    rows = [
        [p["clients"], p["requests"], p["failed"], p["per_s"], p["p50_ms"], p["p95_ms"]]
        + [p["rss_peak_mb"]]
        for p in phases
    ]
    header = ["clients", "requests", "failed", "req/s", "p50 ms", "p95 ms", "RSS peak MB"]
    print_table("/ask with the fake LLM (generative), from a separate process", header, rows)
    print(f"  server RSS idle: {idle_fake:.0f} MB with the fake LLM")
    print(f"  server RSS with the default models: {idle_default:.0f} MB idle, ", end="")
    print(f"{after_answer:.0f} MB after an answer, ", end="")
    print(f"{default_load['rss_peak_mb']:.0f} MB at most under 8 clients ", end="")
    print(f"({default_load['per_s']} req/s, p95 {default_load['p95_ms']} ms)")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        urls, clients, seconds = sys.argv[2].split(","), int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(client_run(urls, clients, seconds))))
    else:
        main()
