"""Sourced's OpenAI-compatible API, used through the official `openai` client against the real
server process (the protocol tests' shared one, with the deterministic fake LLM, so answers
are known)."""

import base64

import httpx
import numpy as np
import openai
import pytest


@pytest.fixture
def server(open_server):
    return open_server


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused")


def test_models_are_the_indexes(client):
    assert [m.id for m in client.models.list()] == ["default", "docs"]


def test_chat_completion_answers_with_footnotes_and_sources(client):
    completion = client.chat.completions.create(
        model="docs",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! Ask me about Sourced."},
            {"role": "user", "content": "How do I install Sourced?"},
        ],
        temperature=0,
    )
    content = completion.choices[0].message.content
    assert "[1]" in content and content.endswith("[1] user-guide.pdf, p. 2")
    assert "\n\nSources:\n" in content
    sources = completion.model_extra["sources"]
    assert sources[0]["document"] == "user-guide.pdf" and sources[0]["cited"] is True
    assert completion.usage.total_tokens > 0 and completion.choices[0].finish_reason == "stop"


def test_streaming_chat_completion(client):
    stream = client.chat.completions.create(
        model="docs",
        messages=[{"role": "user", "content": "How do I install Sourced?"}],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "[1]" in text and text.endswith("[1] user-guide.pdf, p. 2")
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["sources"][0]["page"] == 2
    assert len(chunks) > 4


def test_unknown_model_is_a_not_found_error(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "q"}])
    assert "GET /v1/models" in str(caught.value)


def test_last_message_must_be_from_the_user(server):
    response = httpx.post(
        f"{server}/v1/chat/completions",
        json={"model": "docs", "messages": [{"role": "assistant", "content": "hi"}]},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "messages"


def test_embeddings_are_the_vectors_sourced_searches_with(client, embedder):
    texts = ["How do I install Sourced?", "The largest file Sourced reads"]
    expected = embedder.embed(texts)
    # Unless told otherwise, the client asks for base64 and decodes it itself.
    for encoding in (openai.NOT_GIVEN, "float", "base64"):
        reply = client.embeddings.create(
            model="sentence-transformers/all-MiniLM-L6-v2", input=texts, encoding_format=encoding
        )
        vectors = np.array(
            [
                np.frombuffer(base64.b64decode(item.embedding), dtype="<f4")
                if encoding == "base64"
                else item.embedding
                for item in reply.data
            ],
            dtype=np.float32,
        )
        assert [item.index for item in reply.data] == [0, 1] and vectors.shape == (2, 384)
        assert np.allclose(vectors, expected, atol=1e-2)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
        assert reply.model == "sentence-transformers/all-MiniLM-L6-v2"
        assert reply.usage.prompt_tokens == reply.usage.total_tokens > 10
    one = client.embeddings.create(model="all-MiniLM-L6-v2", input="How do I install Sourced?")
    assert len(one.data) == 1 and np.allclose(one.data[0].embedding, expected[0], atol=1e-2)


def test_embedding_requests_it_cannot_serve_are_clear_errors(client, server):
    with pytest.raises(openai.NotFoundError, match="embeds with"):
        client.embeddings.create(model="text-embedding-3-small", input="hello")
    for wrong, field in (
        ({"input": ""}, "input"),
        ({"input": ["hello"] * 257}, "input"),
        ({"input": "hello", "dimensions": 1536}, "dimensions"),
        ({"input": [[1, 2, 3]]}, "input"),
    ):
        reply = httpx.post(
            f"{server}/v1/embeddings", json={"model": "all-MiniLM-L6-v2", **wrong}, timeout=60
        )
        assert reply.status_code == 422, wrong
        error = reply.json()["error"]
        assert error["code"] == "invalid_request" and error["field"].startswith(field), wrong
