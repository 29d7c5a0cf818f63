"""Two real `sourced serve` processes on one PostgreSQL database: what one replica adds, the
other answers from, with no file shared between them; API keys and their rate limit, held in
the database, hold on both. Replica A runs the bundled model,
replica B the fake LLM (the store is what is under test; both answer through the real
pipeline)."""

from __future__ import annotations

import os
import shutil
import subprocess

import httpx
import pytest

from app.settings import Settings
from ingest.sync import run_ingest

from .conftest import SAMPLE
from .server import SOURCED, running_servers


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
    with running_servers([a_env, b_env], timeout_s=600) as ((a, _), (b, _)):
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


@pytest.fixture(scope="module")
def keyed_replicas(tmp_path_factory, postgres):
    """Two replicas on one database holding the API keys, with a limit of 20 requests a
    minute per key."""
    root = tmp_path_factory.mktemp("keyed")
    url = postgres.new()
    shutil.copytree(SAMPLE, root / "docs")
    run_ingest([root / "docs"], "default", Settings(store="postgres", database_url=url))
    env = {
        "SOURCED_STORE": "postgres",
        "SOURCED_DATABASE_URL": url,
        "SOURCED_LLM_BACKEND": "fake",
        "SOURCED_RATE_LIMIT_PER_MINUTE": "20",
    }
    for folder in ("a", "b"):
        (root / folder).mkdir()
    envs = [{**env, "SOURCED_INDEX_DIR": str(root / folder)} for folder in ("a", "b")]
    with running_servers(envs) as ((a, _), (b, _)):
        yield a, b, env


def sourced_keys(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SOURCED), "keys", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_keys_in_the_database_hold_on_every_replica(keyed_replicas):
    a, b, env = keyed_replicas
    assert all(httpx.get(f"{url}/indexes").status_code == 200 for url in (a, b))  # no keys yet
    added = sourced_keys(env, "add", "alice")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert "stored hashed in the database" in added.stderr
    assert sourced_keys(env, "list").stdout.split() == ["alice", "every", "index"]
    auth = {"authorization": f"Bearer {key}"}
    for url in (a, b):  # the first key closes both replicas to callers without one
        assert httpx.get(f"{url}/indexes").status_code == 401
        assert httpx.get(f"{url}/indexes", headers=auth).status_code == 200

    # One limit across replicas: 20 a minute in all, whichever replica is asked.
    statuses = [httpx.get(f"{(a, b)[n % 2]}/indexes", headers=auth).status_code for n in range(30)]
    assert statuses.count(200) in (18, 19), statuses  # 2 were spent above, maybe 1 refilled
    assert statuses[-1] == 429
    limited = httpx.get(f"{a}/indexes", headers=auth)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1

    removed = sourced_keys(env, "remove", "alice")
    assert removed.returncode == 0 and "every replica" in removed.stdout
    for url in (a, b):  # revoked everywhere at once, no restart
        response = httpx.get(f"{url}/indexes", headers=auth)
        assert response.status_code == 401, response.text
