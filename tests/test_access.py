"""API keys (401/403), the per-key rate limit (429), the LLM queue (503) and the bind guard."""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest
from fastapi.testclient import TestClient

from app.access import RateLimiter
from app.errors import ServerBusy
from app.keys import KeyRing, key_line, new_key, parse_env_keys, read_keys_file
from app.llm import register_backend
from app.llm.fake import FakeLLM
from app.llm.queue import LLMQueue
from app.main import create_app
from app.settings import Settings
from ingest.errors import UsageError
from ingest.sync import run_ingest

from .conftest import ROOT, SAMPLE
from .server import SOURCED
from .test_api import assert_error

ALL = "sk-all-indexes-0123456789abcdef"
DOCS_ONLY = "sk-only-docs-index-0123456789"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, model):
    root = tmp_path_factory.mktemp("access")
    docs = root / "docs"
    shutil.copytree(SAMPLE, docs)
    settings = Settings(index_dir=root / "indexes", llm_backend="fake", _env_file=None)
    run_ingest([docs], "default", settings)
    run_ingest([docs], "docs", settings)
    return settings


@pytest.fixture(scope="module")
def client(workspace):
    settings = workspace.model_copy(
        update={"api_keys": f"{ALL},{DOCS_ONLY}:docs", "rate_limit_per_minute": 0}
    )
    with TestClient(create_app(settings)) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_keys_are_parsed_hashed_and_scoped(tmp_path):
    keys = parse_env_keys(f" {ALL} , {DOCS_ONLY}:docs|default ")
    assert [k.principal.indexes for k in keys] == [None, frozenset({"docs", "default"})]
    assert all(ALL.encode() not in k.digest for k in keys)
    ring = KeyRing(keys)
    assert ring.find(ALL).name == "env-1" and ring.find(DOCS_ONLY).name == "env-2"
    assert ring.find(ALL + "x") is None and ring.find("") is None
    with pytest.raises(UsageError, match="shorter than 16"):
        parse_env_keys("short")
    with pytest.raises(UsageError, match="not an index name"):
        parse_env_keys(f"{ALL}:../etc")

    key = new_key()
    path = tmp_path / "keys"
    path.write_text(f"# team keys\n{key_line('ci-bot', key, ['docs'])}\n")
    assert key not in path.read_text()  # only its hash is stored
    [stored] = read_keys_file(path)
    assert stored.principal.name == "ci-bot" and stored.principal.may_use("docs")
    assert not stored.principal.may_use("default")
    path.write_text("ci-bot not-a-hash *\n")
    with pytest.raises(UsageError, match="keys line 1"):
        read_keys_file(path)


def test_without_a_key_only_health_and_the_page_are_open(client):
    for path in ("/healthz", "/", "/static/app.js", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    for method, path in [("get", "/indexes"), ("get", "/readyz"), ("post", "/ask"),
                         ("get", "/v1/models"), ("get", "/indexes/docs/chunks/x"),
                         ("post", "/v1/embeddings")]:  # fmt: skip
        response = getattr(client, method)(path)
        error = assert_error(response, 401, "unauthorized")
        assert "Authorization: Bearer" in error["message"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = client.get("/indexes", headers=bearer(ALL[:-1] + "X"))
    assert assert_error(wrong, 401, "unauthorized")["message"] == "the API key is not valid"


def test_a_key_opens_the_api_by_header_or_bearer(client):
    assert client.get("/indexes", headers=bearer(ALL)).status_code == 200
    assert client.get("/indexes", headers={"x-api-key": ALL}).status_code == 200
    question = {"question": "What should I do with an encrypted PDF?", "index": "default"}
    assert client.post("/ask", json=question, headers=bearer(ALL)).status_code == 200
    embed = {"model": "all-MiniLM-L6-v2", "input": "encrypted PDF"}
    # A key scoped to some indexes embeds too: embedding reads no index.
    for key in (ALL, DOCS_ONLY):
        assert client.post("/v1/embeddings", json=embed, headers=bearer(key)).status_code == 200


def test_a_scoped_key_reaches_only_its_indexes(client):
    listed = client.get("/indexes", headers=bearer(DOCS_ONLY)).json()
    assert [i["name"] for i in listed] == ["docs"]
    models = client.get("/v1/models", headers=bearer(DOCS_ONLY)).json()["data"]
    assert [m["id"] for m in models] == ["docs"]
    question = {"question": "What should I do with an encrypted PDF?"}
    ok = client.post("/ask", json={**question, "index": "docs"}, headers=bearer(DOCS_ONLY))
    assert ok.status_code == 200
    # The default index is "default": outside this key's scope.
    denied = client.post("/ask", json=question, headers=bearer(DOCS_ONLY))
    assert (
        "may not use index 'default'" in assert_error(denied, 403, "forbidden", "index")["message"]
    )
    chunk_id = ok.json()["sources"][0]["chunk_id"]
    assert (
        client.get(f"/indexes/docs/chunks/{chunk_id}", headers=bearer(DOCS_ONLY)).status_code == 200
    )
    assert_error(
        client.get(f"/indexes/default/chunks/{chunk_id}", headers=bearer(DOCS_ONLY)),
        403, "forbidden", "index",
    )  # fmt: skip
    upload = client.post(
        "/indexes/default/documents",
        files={"files": ("note.md", b"# Note\nhello", "text/markdown")},
        headers=bearer(DOCS_ONLY),
    )
    assert_error(upload, 403, "forbidden", "index")
    chat = client.post(
        "/v1/chat/completions",
        json={"model": "default", "messages": [{"role": "user", "content": "hi"}]},
        headers=bearer(DOCS_ONLY),
    )
    assert_error(chat, 403, "forbidden", "model")


def test_rate_limit_answers_429_with_retry_after(workspace):
    settings = workspace.model_copy(update={"api_keys": ALL, "rate_limit_per_minute": 3})
    with TestClient(create_app(settings)) as client:
        codes = [client.get("/indexes", headers=bearer(ALL)).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        limited = client.get("/indexes", headers=bearer(ALL))
        assert (
            "SOURCED_RATE_LIMIT_PER_MINUTE" in assert_error(limited, 429, "rate_limited")["message"]
        )
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        assert client.get("/healthz").status_code == 200  # probes are never limited


def test_rate_limiter_refills_over_time():
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one a second, bursts of 60
    assert all(limiter.take("a") == 0 for _ in range(60))
    assert limiter.take("a") == pytest.approx(1.0)
    assert limiter.take("b") == 0  # callers have their own buckets
    now[0] += 1.0
    assert limiter.take("a") == 0 and limiter.take("a") > 0


def test_llm_queue_refuses_past_its_size():
    queue = LLMQueue(concurrency=1, waiting=1)
    running = queue.admit().__enter__()
    waiting = queue.admit()
    with pytest.raises(ServerBusy, match="SOURCED_LLM_QUEUE_SIZE"):
        queue.admit()
    waiting.release()  # given back without running (a client that went away)
    queue.admit().release()
    running.release()
    assert queue.admitted == 0


class GateLLM(FakeLLM):
    """The fake LLM, holding every answer until the test opens the gate."""

    name = "gate"
    gate = threading.Event()
    entered = threading.Event()

    def complete(self, messages, params):
        self.entered.set()
        self.gate.wait(30)
        return super().complete(messages, params)


register_backend("gate", lambda settings: GateLLM())


def test_a_full_llm_queue_answers_503_with_retry_after(workspace):
    settings = workspace.model_copy(
        update={"llm_backend": "gate", "answer_mode": "generative", "llm_queue_size": 0}
    )
    question = {"question": "What should I do with an encrypted PDF?"}
    with TestClient(create_app(settings)) as client:
        first = threading.Thread(target=client.post, args=("/ask",), kwargs={"json": question})
        first.start()
        assert GateLLM.entered.wait(30)
        busy = client.post("/ask", json=question)
        assert "busy" in assert_error(busy, 503, "server_busy")["message"]
        assert busy.headers["retry-after"] == "10"
        streamed = client.post("/ask", json={**question, "stream": True})
        assert_error(streamed, 503, "server_busy")
        extractive = client.post("/ask", json={**question, "answer_mode": "extractive"})
        assert extractive.status_code == 200  # answers that need no model are never queued
        GateLLM.gate.set()
        first.join(30)
        assert client.post("/ask", json=question).status_code == 200


def test_serve_refuses_a_public_address_without_keys(tmp_path):
    env = {"SOURCED_INDEX_DIR": str(tmp_path), "SOURCED_API_KEYS": "", "PATH": "/usr/bin:/bin"}
    refused = subprocess.run(
        [str(SOURCED), "serve", "--host", "0.0.0.0"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "--insecure-no-auth" in refused.stderr and "SOURCED_API_KEYS" in refused.stderr


def test_keys_command_adds_lists_and_removes_hashed_keys(tmp_path, capsys, monkeypatch):
    from app.cli import main

    path = tmp_path / "keys"
    assert main(["keys", "add", "ci-bot", "--index", "docs", "--file", str(path)]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("sk-") and key not in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert main(["keys", "add", "ci-bot", "--file", str(path)]) == 2  # names are unique
    assert main(["keys", "add", "admin", "--file", str(path)]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--file", str(path)]) == 0
    assert capsys.readouterr().out == "ci-bot\tdocs\nadmin\tevery index\n"
    ring = KeyRing.load("", path)
    assert ring.find(key).name == "ci-bot" and not ring.find(key).may_use("default")
    assert main(["keys", "remove", "ci-bot", "--file", str(path)]) == 0
    assert KeyRing.load("", path).find(key) is None
    assert main(["keys", "list", "--file", str(tmp_path / "missing")]) == 0
    with pytest.raises(UsageError, match="does not exist"):
        KeyRing.load("", tmp_path / "missing")
