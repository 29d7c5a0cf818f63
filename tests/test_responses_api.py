"""OpenAI's Responses API, used through the official `openai` client's `responses.create`
against the real server process, streaming and not, keys off and on."""

from __future__ import annotations

import openai
import pytest

from .server import DOCS_KEY

QUESTION = "How do I install Sourced?"


@pytest.fixture
def client(open_server):
    return openai.OpenAI(base_url=f"{open_server}/v1", api_key="unused")


def test_a_response_answers_with_annotated_citations_and_sources(client, open_server):
    response = client.responses.create(
        model="default", input=QUESTION, instructions="Be brief.", max_output_tokens=200
    )
    assert response.status == "completed" and response.object == "response"
    text = response.output_text
    assert "[1]" in text and text.endswith("[1] user-guide.pdf, p. 2")
    part = response.output[0].content[0]
    assert part.annotations
    for annotation in part.annotations:
        assert annotation.type == "url_citation"
        assert text[annotation.start_index : annotation.end_index].startswith("[")
        assert annotation.url.startswith(f"{open_server}/#passage=default/")
    sources = response.model_extra["sources"]
    assert sources[0]["document"] == "user-guide.pdf" and sources[0]["cited"]
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


def test_input_as_messages_with_history(client):
    response = client.responses.create(
        model="default",
        input=[
            {"role": "developer", "content": "Answer from the documents."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! Ask me about Sourced."},
            {"role": "user", "content": [{"type": "input_text", "text": QUESTION}]},
        ],
        temperature=0,
    )
    assert "user-guide.pdf" in response.output_text


def test_streaming_uses_the_responses_event_types(client):
    stream = client.responses.create(model="default", input=QUESTION, stream=True)
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert "response.output_text.annotation.added" in kinds
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = events[-1].response
    assert deltas == done.output_text and done.model_extra["sources"]
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_unknown_models_and_stored_conversations_are_clear_errors(client):
    with pytest.raises(openai.NotFoundError, match="no index named 'nowhere'"):
        client.responses.create(model="nowhere", input=QUESTION)
    with pytest.raises(openai.UnprocessableEntityError, match="not stored"):
        client.responses.create(model="default", input=QUESTION, previous_response_id="resp_1")
    with pytest.raises(openai.UnprocessableEntityError, match="last message must come"):
        client.responses.create(model="default", input=[{"role": "assistant", "content": "x"}])


def test_keys_scope_the_responses(guarded_server):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{guarded_server}/v1", api_key="sk-wrong-0123456789abcdef")\
            .responses.create(model="docs", input=QUESTION)  # fmt: skip
    scoped = openai.OpenAI(base_url=f"{guarded_server}/v1", api_key=DOCS_KEY)
    with pytest.raises(openai.PermissionDeniedError):
        scoped.responses.create(model="default", input=QUESTION)
    assert "user-guide.pdf" in scoped.responses.create(model="docs", input=QUESTION).output_text
