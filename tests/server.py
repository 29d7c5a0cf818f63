"""Start the real server (`sourced serve`) as a subprocess and wait until it is ready."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.settings import Settings
from ingest.sync import run_ingest

from .conftest import ROOT, SAMPLE

SOURCED = Path(sys.executable).parent / "sourced"


def sample_index(
    root: Path, name: str = "default", extra: dict[str, str | bytes] | None = None
) -> Path:
    """Copy the sample documents (plus `extra` files: name → text or bytes) under `root`,
    ingest them into the index `name`, and return the index folder."""
    docs = root / "docs"
    shutil.copytree(SAMPLE, docs)
    for file_name, content in (extra or {}).items():
        path = docs / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    index_dir = root / "indexes"
    run_ingest([docs], name, Settings(index_dir=index_dir, _env_file=None))
    return index_dir


def stop(process: subprocess.Popen) -> None:
    """Stop a server process: politely, then for good."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(env: dict[str, str], timeout_s: float = 300, args: tuple[str, ...] = ()):
    with running_servers([env], timeout_s, args) as ((url, log),):
        yield url, log


@contextmanager
def running_servers(envs: list[dict[str, str]], timeout_s: float = 300, args: tuple[str, ...] = ()):
    """Start a server per environment (with `args` after `sourced serve --port N`), all at
    once (their models load side by side), and yield their (url, log) once every one is
    ready."""
    started = []
    try:
        for env in envs:
            port = free_port()
            log = Path(env["SOURCED_INDEX_DIR"]).parent / f"server-{port}.log"
            with log.open("w") as out:
                process = subprocess.Popen(
                    [str(SOURCED), "serve", "--port", str(port), *args],
                    cwd=ROOT,
                    env={**os.environ, **env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started.append((process, f"http://127.0.0.1:{port}", log))
        for process, url, log in started:
            _wait_ready(process, url, log, timeout_s)
        yield [(url, log) for _, url, log in started]
    finally:
        for process, _, _ in started:
            stop(process)


def _wait_ready(process: subprocess.Popen, url: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server not up in {timeout_s} s: {log.read_text()[-2000:]}")
        time.sleep(0.25)


# The API keys of `guarded_server`: one reaching every index, one reaching only "docs".
FULL_KEY = "sk-protocols-every-index-0123456789"
DOCS_KEY = "sk-protocols-docs-only-0123456789"


def protocol_env(root: Path, keys: bool) -> dict[str, str]:
    """The server the protocol tests share: indexes "default" and "docs" (both the sample),
    the deterministic fake LLM writing generative answers, with or without API keys."""
    index_dir = root / "indexes"
    if not index_dir.is_dir():
        sample_index(root, "default")
        run_ingest([root / "docs"], "docs", Settings(index_dir=index_dir, _env_file=None))
    env = {
        "SOURCED_INDEX_DIR": str(index_dir),
        "SOURCED_LLM_BACKEND": "fake",
        "SOURCED_ANSWER_MODE": "generative",
        "SOURCED_RATE_LIMIT_PER_MINUTE": "0",
    }
    if keys:
        env["SOURCED_API_KEYS"] = f"{FULL_KEY},{DOCS_KEY}:docs"
    return env
