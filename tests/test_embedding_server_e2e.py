"""SOURCED_EMBEDDING_BACKEND=openai against a real embedding server: infinity (`make test`
installs it in .venv-embedding-server) serving the bundled all-MiniLM-L6-v2 from its package
folder. Ingest and questions go through it, on both stores; a stopped server is a clear
error that loses nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from ingest.embedder import Embedder, resolve_model_path
from ingest.errors import EmbeddingServerError
from ingest.settings import DEFAULT_EMBEDDING_MODEL
from ingest.stores import open_store
from ingest.sync import run_ingest

from .conftest import ROOT, SAMPLE
from .server import free_port, running_server, stop

INFINITY = ROOT / ".venv-embedding-server" / "bin" / "infinity_emb"


@contextmanager
def infinity_server(log: Path) -> Iterator[str]:
    """infinity serving the bundled model under its usual name; yields the /v1 URL."""
    if not INFINITY.exists():
        pytest.fail(f"no embedding server at {INFINITY}: `make test` installs it")
    port = free_port()
    command = [
        str(INFINITY), "v2",
        "--model-id", resolve_model_path(DEFAULT_EMBEDDING_MODEL),
        "--served-model-name", DEFAULT_EMBEDDING_MODEL,
        "--engine", "torch", "--device", "cpu",
        "--url-prefix", "/v1", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0"}
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 180
            while True:
                assert process.poll() is None, log.read_text()[-3000:]
                try:
                    if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
            yield url
        finally:
            stop(process)


@pytest.fixture(scope="module")
def embedding_url(tmp_path_factory) -> Iterator[str]:
    with infinity_server(tmp_path_factory.mktemp("infinity") / "server.log") as url:
        yield url


def served(settings, url: str):
    return settings.model_copy(
        update={
            "embedding_backend": "openai",
            "embedding_base_url": url,
            "embedding_batch_size": 16,
        }
    )


def test_the_server_gives_the_local_models_vectors(embedding_url, settings, model):
    texts = ["Aspirin lowers the risk of heart attacks.", "Sourced cites its sources.", "x"]
    remote = Embedder.from_settings(served(settings, embedding_url))
    assert remote.dimension == 384
    assert "openai server" in remote.describe()
    local = model.encode(texts, 8)
    local /= np.linalg.norm(local, axis=1, keepdims=True)
    cosines = np.sum(remote.embed(texts) * local, axis=1)
    assert cosines.min() > 0.99, cosines


def test_ingest_and_ask_through_the_server(embedding_url, store_settings, tmp_path):
    settings = served(store_settings, embedding_url)
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    report = run_ingest([docs], "default", settings)
    assert report.failed == [] and report.chunks > 0
    # The same spec as the local model's: an unchanged folder re-ingests nothing, and a
    # local embedder could keep the index up to date.
    again = run_ingest([docs], "default", settings)
    assert again.version is None and again.chunks_new == 0

    env = {
        "SOURCED_INDEX_DIR": str(settings.index_dir),
        "SOURCED_STORE": settings.store,
        "SOURCED_DATABASE_URL": settings.database_url or "",
        "SOURCED_EMBEDDING_BACKEND": "openai",
        "SOURCED_EMBEDDING_BASE_URL": embedding_url,
        "SOURCED_LLM_BACKEND": "fake",
    }
    with running_server(env) as (url, _):
        reply = httpx.post(
            f"{url}/ask", json={"question": "How long does ingesting take?"}, timeout=60
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["sources"][0]["document"] == "faq.json", reply.json()


def test_a_stopped_server_fails_the_ingest_and_loses_nothing(store_settings, tmp_path, model):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    first = run_ingest([docs], "default", store_settings)
    (docs / "new.md").write_text("# New\n\nA document added while the server is down.\n")
    port = free_port()  # nothing listens there
    down = served(store_settings, f"http://127.0.0.1:{port}/v1").model_copy(
        update={"embedding_retries": 1}
    )
    with pytest.raises(EmbeddingServerError, match="cannot reach the embedding server"):
        run_ingest([docs], "default", down)
    store = open_store(store_settings)
    try:
        assert store.current_version("default") == first.version
        assert "new.md" not in store.open_current("default").documents()
    finally:
        store.close()
