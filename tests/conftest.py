"""Shared fixtures: the real embedding model (loaded once), real corpora, temporary indexes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ingest.embedder import Embedder
from ingest.settings import IngestSettings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPORA = SHARED / "corpora"
SAMPLE = ROOT / "data" / "sample"


def pytest_collection_modifyitems(config, items):
    if not CORPORA.is_dir():
        skip = pytest.mark.skip(reason=f"shared corpora not found at {CORPORA}")
        for item in items:
            if "corpora" in item.keywords:
                item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "corpora: needs ../shared/corpora")


def ask_in_process(settings, llm, **body) -> dict:
    """POST /ask to an app built with this LLM, in process; the JSON of a 200."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(settings, llm=llm)) as client:
        response = client.post("/ask", json=body)
    assert response.status_code == 200, response.text
    return response.json()


class CountingEmbedder(Embedder):
    """The real embedder, counting how many texts it was asked to embed."""

    def __init__(self, model) -> None:
        super().__init__("sentence-transformers/all-MiniLM-L6-v2")
        self.__dict__["engine"] = model  # share the loaded model across tests
        self.embedded = 0

    def embed(self, texts: Sequence[str], on_progress=None) -> np.ndarray:
        self.embedded += len(texts)
        return super().embed(texts, on_progress)


@pytest.fixture(scope="session")
def model():
    return Embedder("sentence-transformers/all-MiniLM-L6-v2").engine


@pytest.fixture
def embedder(model) -> CountingEmbedder:
    return CountingEmbedder(model)


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return IngestSettings(index_dir=tmp_path / "indexes", parse_timeout_s=60)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL + pgvector server for the session (tests/postgres.py)."""
    from .postgres import postgres_server

    with postgres_server(tmp_path_factory.mktemp("postgres")) as databases:
        yield databases


@pytest.fixture
def database_url(postgres) -> str:
    """The URL of a fresh, empty database."""
    return postgres.new()


STORES = ("local", "postgres")


@pytest.fixture(params=STORES)
def store_settings(request, settings: IngestSettings) -> IngestSettings:
    """The ingest settings for each store in turn: every test using this runs on both."""
    if request.param == "local":
        return settings
    url = request.getfixturevalue("database_url")
    return settings.model_copy(update={"store": "postgres", "database_url": url})


@pytest.fixture
def store(store_settings):
    from ingest.stores import open_store

    opened = open_store(store_settings)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def protocol_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("protocols")


@pytest.fixture(scope="session")
def protocol_servers(protocol_root):
    """The real server without API keys and the same with them (server.FULL_KEY,
    server.DOCS_KEY), shared by the protocol tests and started side by side: their URLs."""
    from .server import protocol_env, running_servers

    envs = [protocol_env(protocol_root, keys=False), protocol_env(protocol_root, keys=True)]
    with running_servers(envs) as ((open_url, _), (guarded_url, _)):
        yield open_url, guarded_url


@pytest.fixture(scope="session")
def open_server(protocol_servers) -> str:
    return protocol_servers[0]


@pytest.fixture(scope="session")
def guarded_server(protocol_servers) -> str:
    return protocol_servers[1]
