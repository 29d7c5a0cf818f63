"""Two real `sourced serve` processes on one PostgreSQL database: what one replica adds, the
other answers from, with no file shared between them. Replica A runs the bundled model,
replica B the fake LLM (the store is what is under test; both answer through the real
pipeline)."""

from __future__ import annotations

import shutil

import httpx
import pytest

from app.settings import Settings
from ingest.sync import run_ingest

from .conftest import SAMPLE
from .server import running_server


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, postgres):
    root = tmp_path_factory.mktemp("replicas")
    url = postgres.new()
    shutil.copytree(SAMPLE, root / "docs")
    config = Settings(store="postgres", database_url=url, _env_file=None)
    run_ingest([root / "docs"], "default", config)
    env = {"SOURCED_STORE": "postgres", "SOURCED_DATABASE_URL": url}
    a_env = {**env, "SOURCED_INDEX_DIR": str(root / "a"), "SOURCED_LLM_BACKEND": "local"}
    b_env = {**env, "SOURCED_INDEX_DIR": str(root / "b"), "SOURCED_LLM_BACKEND": "fake"}
    for folder in ("a", "b"):
        (root / folder).mkdir()
    with running_server(a_env, timeout_s=600) as (a, _), running_server(b_env) as (b, _):
        yield a, b


def test_both_replicas_serve_the_index_from_the_database(replicas):
    a, b = replicas
    for url in (a, b):
        ready = httpx.get(f"{url}/readyz").json()
        assert ready["ready"] and ready["indexes"] == ["default"]
    listed = [httpx.get(f"{url}/indexes").json() for url in (a, b)]
    assert listed[0] == listed[1]
    body = httpx.post(
        f"{a}/ask", json={"question": "How long does ingesting take?"}, timeout=180
    ).json()
    assert "minute" in body["answer"] and body["sources"][0]["document"] == "faq.json"


def test_an_upload_to_one_replica_is_answered_by_the_other(replicas):
    a, b = replicas
    files = [("files", ("valves.md", b"# Valves\n\nThe quux valve opens at 7 bar.\n"))]
    uploaded = httpx.post(f"{a}/indexes/default/documents", files=files, timeout=120)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["files"][0]["status"] == "added"
    version = uploaded.json()["version"]
    question = {
        "question": "At what pressure does the quux valve open?",
        "answer_mode": "extractive",
    }
    response = httpx.post(f"{b}/ask", json=question, timeout=60)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["sources"][0]["document"] == "uploads/valves.md"
    assert answer["index_version"] == version
    chunk = answer["sources"][0]["chunk_id"]
    context = httpx.get(f"{b}/indexes/default/chunks/{chunk}").json()
    assert "7 bar" in context["chunks"][0]["text"]
