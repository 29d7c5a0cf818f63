"""Ollama's API, used through the official `ollama` client against the real server process:
indexes as models, chat and generate streaming NDJSON and not, keys off and on."""

from __future__ import annotations

import json

import httpx
import ollama
import pytest

from .server import DOCS_KEY

QUESTION = "How do I install Sourced?"


@pytest.fixture
def client(open_server):
    return ollama.Client(host=open_server)


def test_version_and_indexes_as_models(client, open_server):
    assert httpx.get(f"{open_server}/api/version").json()["version"]
    models = client.list().models
    assert [m.model for m in models] == ["default:latest", "docs:latest"]
    assert models[0].size > 0 and models[0].details.format == "sourced-index"
    shown = client.show("docs")
    assert shown.modelinfo["sourced.index"] == "docs" and "completion" in shown.capabilities


def test_chat_answers_with_footnotes(client):
    reply = client.chat(
        model="default",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! Ask me about Sourced."},
            {"role": "user", "content": QUESTION},
        ],
        options={"temperature": 0, "num_predict": 200},
    )
    content = reply.message.content
    assert reply.done and reply.done_reason == "stop" and reply.message.role == "assistant"
    assert "[1]" in content and content.endswith("[1] user-guide.pdf, p. 2")
    assert reply.eval_count > 0 and reply.prompt_eval_count > 0 and reply.total_duration > 0


def test_chat_streams_token_by_token_then_the_counts(client):
    parts = list(
        client.chat(
            model="docs:latest", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    assert len(parts) > 3 and not any(p.done for p in parts[:-1]) and parts[-1].done
    text = "".join(p.message.content for p in parts)
    assert "Sources:\n[1] user-guide.pdf, p. 2" in text


def test_generate_streamed_and_not(client):
    whole = client.generate(model="default", prompt=QUESTION)
    parts = client.generate(model="default", prompt=QUESTION, stream=True)
    streamed = "".join(p.response for p in parts)
    assert whole.response == streamed and whole.response.endswith("[1] user-guide.pdf, p. 2")
    loaded = client.generate(model="default", prompt="")  # Ollama's way to load a model
    assert loaded.done and loaded.done_reason == "load" and loaded.response == ""


def test_the_last_line_carries_the_structured_sources(open_server):
    body = {"model": "default", "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{open_server}/api/chat", json=body, timeout=120) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert lines[-1]["done"] and lines[-1]["sources"][0]["document"] == "user-guide.pdf"
    assert all("sources" not in line for line in lines[:-1])


def test_errors_are_clear(client):
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="nowhere", messages=[{"role": "user", "content": QUESTION}])
    assert missing.value.status_code == 404 and "no index named 'nowhere'" in str(missing.value)
    with pytest.raises(ollama.ResponseError) as last:
        client.chat(model="default", messages=[{"role": "assistant", "content": "x"}])
    assert last.value.status_code == 422 and "last message" in str(last.value)
    with pytest.raises(ollama.ResponseError) as long:
        client.chat(
            model="default",
            messages=[{"role": "user", "content": QUESTION}],
            options={"num_predict": 100_000},
        )
    assert long.value.status_code == 422 and "num_predict" in str(long.value)


def test_keys_scope_the_models(guarded_server):
    with pytest.raises(ollama.ResponseError) as refused:
        ollama.Client(host=guarded_server).list()
    assert refused.value.status_code == 401
    scoped = ollama.Client(host=guarded_server, headers={"authorization": f"Bearer {DOCS_KEY}"})
    assert [m.model for m in scoped.list().models] == ["docs:latest"]
    with pytest.raises(ollama.ResponseError) as outside:
        scoped.chat(model="default", messages=[{"role": "user", "content": QUESTION}])
    assert outside.value.status_code == 403
    reply = scoped.chat(model="docs", messages=[{"role": "user", "content": QUESTION}])
    assert "user-guide.pdf" in reply.message.content
