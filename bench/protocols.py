"""What each protocol costs on top of the answer: the same questions through every client
Sourced speaks, against one `sourced serve`, interleaved.

    .venv/bin/python bench/protocols.py [--rounds 5]

Builds the sample index in a temporary folder and starts `sourced serve` with extractive
answers (no LLM call, so what is timed is retrieval, evidence and each protocol's own work).
Each round asks every question through every client, in a shuffled order: `POST /search`,
MCP `search` (the official SDK, one session), the LangChain retrievers (over HTTP, and in this
process over the store), `POST /ask`, MCP `ask`, OpenAI chat completions (whole and streamed),
the Responses API, and Ollama's chat. Prints p50/p95 per client and writes
bench/results/protocols.json.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import ollama
import openai
from common import ROOT, machine, percentile, print_table, write_result
from mcp import Client
from service_load import Server

from app.langchain_retriever import SourcedHTTPRetriever, SourcedRetriever
from app.settings import Settings
from ingest.sync import run_ingest

QUESTIONS = [
    "How do I install Sourced?",
    "What happens when an ingest run is interrupted?",
    "Which file formats can Sourced read?",
    "Does Sourced send my documents anywhere?",
    "How long does ingesting take?",
]


def clients(url: str, index_dir: Path, mcp: Client) -> dict[str, Callable[[str], object]]:
    """Each client's call of one question; the MCP ones return a coroutine."""
    http = httpx.Client(base_url=url, timeout=60)
    oai = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    olla = ollama.Client(host=url)
    remote = SourcedHTTPRetriever(url=url)
    local = SourcedRetriever.from_settings(Settings(index_dir=index_dir, _env_file=None))

    def chat(q: str) -> list[dict]:
        return [{"role": "user", "content": q}]

    def whole(q: str) -> None:
        oai.chat.completions.create(model="default", messages=chat(q))

    def streamed(q: str) -> None:
        for _ in oai.chat.completions.create(model="default", messages=chat(q), stream=True):
            pass

    async def mcp_call(tool: str, arguments: dict) -> None:
        result = await mcp.call_tool(tool, arguments)
        assert not result.is_error, result.content

    return {
        "POST /search": lambda q: http.post("/search", json={"query": q}).raise_for_status(),
        "MCP search": lambda q: mcp_call("search", {"query": q}),
        "LangChain, HTTP": remote.invoke,
        "LangChain, in process": local.invoke,
        "POST /ask": lambda q: http.post("/ask", json={"question": q}).raise_for_status(),
        "MCP ask": lambda q: mcp_call("ask", {"question": q}),
        "chat completions": lambda q: oai.chat.completions.create(
            model="default", messages=chat(q)
        ),
        "chat completions, streamed": streamed,
        "Responses API": lambda q: oai.responses.create(model="default", input=q),
        "Ollama chat": lambda q: olla.chat(model="default", messages=chat(q)),
    }


async def measure(url: str, index_dir: Path, rounds: int) -> dict[str, list[float]]:
    """Milliseconds per call, by client; every client asks each question once a round, in a
    shuffled order (the calls block: one runs at a time)."""
    async with Client(f"{url}/mcp") as mcp:
        calls = clients(url, index_dir, mcp)

        async def call(name: str, question: str) -> None:
            done = calls[name](question)
            if inspect.isawaitable(done):
                await done

        for name in calls:  # warm up every path once
            await call(name, QUESTIONS[0])
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for question in QUESTIONS:
                order = list(calls)
                random.shuffle(order)
                for name in order:
                    started = time.perf_counter()
                    await call(name, question)
                    times[name].append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sourced-bench-") as tmp:
        index_dir = Path(tmp) / "indexes"
        run_ingest([ROOT / "data" / "sample"], "default", Settings(index_dir=index_dir))
        env = {
            "SOURCED_INDEX_DIR": str(index_dir),
            "SOURCED_LLM_BACKEND": "fake",
            "SOURCED_ANSWER_MODE": "extractive",
        }
        server = Server(env, Path(tmp) / "server.log")
        try:
            times = asyncio.run(measure(server.url, index_dir, args.rounds))
        finally:
            server.stop()

    rows, result = [], {"machine": machine(), "rounds": args.rounds, "clients": {}}
    for name, values in times.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        rows.append([name, len(values), f"{p50:.1f}", f"{p95:.1f}"])
        result["clients"][name] = {"requests": len(values), "p50_ms": p50, "p95_ms": p95}
    print_table(
        "The same questions through each client (extractive answers, sample index)",
        ["client", "requests", "p50 ms", "p95 ms"],
        rows,
    )
    print(f"wrote {write_result('protocols', result)}")


if __name__ == "__main__":
    main()
