"""Sourced's OpenAI-compatible API, used through the official `openai` client against the real
server process (with the deterministic fake LLM, so answers are known)."""

import httpx
import openai
import pytest

from .server import running_server, sample_index


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    index_dir = sample_index(tmp_path_factory.mktemp("oai"), "guide")
    env = {
        "SOURCED_INDEX_DIR": str(index_dir),
        "SOURCED_LLM_BACKEND": "fake",
        "SOURCED_ANSWER_MODE": "generative",
        "SOURCED_DEFAULT_INDEX": "guide",
    }
    with running_server(env) as (url, _):
        yield url


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused")


def test_models_are_the_indexes(client):
    assert [m.id for m in client.models.list()] == ["guide"]


def test_chat_completion_answers_with_footnotes_and_sources(client):
    completion = client.chat.completions.create(
        model="guide",
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
        model="guide",
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
        json={"model": "guide", "messages": [{"role": "assistant", "content": "hi"}]},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "messages"
