"""The chat completions stream carries the answer's sources as Open WebUI's `source` events,
in the shape its middleware parses (backend/open_webui/utils/middleware.py: a chunk's
top-level `event` is emitted to the page) and its page groups into numbered cards
(src/lib/components/chat/Messages/Citations.svelte: one card per distinct id, `[n]` opens the
n-th). The same stream stays a valid OpenAI stream for every other client."""

from __future__ import annotations

import json

import httpx
import openai

from .server import DOCS_KEY, FULL_KEY

QUESTION = "How do I install Sourced?"


def stream_chunks(url: str, model: str = "default", key: str | None = None) -> list[dict]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    chunks = []
    with httpx.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=120
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[len("data: ") :]))
    return chunks


def cards(events: list[dict]) -> list[dict]:
    """Open WebUI's page: sources reduced to cards by id, in the order they came."""
    found: list[dict] = []
    for event in events:
        data = event["data"]
        for document, metadata in zip(data["document"], data["metadata"], strict=True):
            card_id = metadata.get("source") or data["source"].get("id") or "N/A"
            source = dict(data["source"], name=metadata.get("name", data["source"]["name"]))
            if card_id.startswith(("http://", "https://")):
                source = dict(source, name=card_id, url=card_id)
            same = [c for c in found if c["id"] == card_id]
            if same:
                same[0]["document"].append(document)
            else:
                found.append({"id": card_id, "source": source, "document": [document]})
    return found


def test_sources_come_as_open_webui_source_events_numbered_like_the_answer(open_server):
    chunks = stream_chunks(open_server)
    events = [c["event"] for c in chunks if "event" in c]
    sources = chunks[-1]["sources"]
    assert events and all(e["type"] == "source" for e in events)
    assert len(events) == len(sources)
    shown = cards(events)
    assert len(shown) == len(sources)  # no two sources merge into one card
    for n, card in enumerate(shown, 1):
        source = sources[n - 1]
        assert source["n"] == n
        assert card["source"]["name"] == f"{source['document']}, {source['locator']}"
        passage = f"#passage=default/{source['chunk_id']}"
        assert card["source"]["url"].startswith(f"{open_server}/{passage}")
        expected = source["quote"]["text"] if source["quote"] else source["snippet"]
        assert card["document"] == [expected]
    cited = [s for s in sources if s["cited"]]
    assert cited and all(s["quote"] for s in cited)
    # the answer's [n] marks name sources the cards hold, and the footnotes follow the events
    texts = [c["choices"][0]["delta"].get("content") or "" for c in chunks]
    assert "[1]" in "".join(texts) and "\n\nSources:\n[1] user-guide.pdf, p. 2" in "".join(texts)
    last_event = max(i for i, c in enumerate(chunks) if "event" in c)
    assert last_event < next(i for i, text in enumerate(texts) if "Sources:" in text)


def test_every_chunk_is_still_a_valid_openai_stream_chunk(open_server):
    client = openai.OpenAI(base_url=f"{open_server}/v1", api_key="unused")
    stream = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    text, events = "", 0
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk" and len(chunk.choices) == 1
        text += chunk.choices[0].delta.content or ""
        events += "event" in (chunk.model_extra or {})
    assert events == 5 and "Sources:" in text


def test_a_whole_completion_annotates_each_citation_with_a_link(open_server):
    client = openai.OpenAI(base_url=f"{open_server}/v1", api_key="unused")
    completion = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": QUESTION}]
    )
    message = completion.choices[0].message
    assert message.annotations
    for annotation in message.annotations:
        cited = annotation.url_citation
        mark = message.content[cited.start_index : cited.end_index]
        assert mark.startswith("[") and mark.endswith("]")
        assert cited.url.startswith(f"{open_server}/#passage=default/")
        assert cited.title == "user-guide.pdf, p. 2" or ", " in cited.title


def test_with_keys_the_stream_serves_only_a_key_that_reaches_the_index(guarded_server):
    refused = httpx.post(
        f"{guarded_server}/v1/chat/completions",
        json={"model": "default", "messages": [{"role": "user", "content": QUESTION}]},
        headers={"authorization": f"Bearer {DOCS_KEY}"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    chunks = stream_chunks(guarded_server, "docs", DOCS_KEY)
    assert any("event" in c for c in chunks)
    assert any("event" in c for c in stream_chunks(guarded_server, "default", FULL_KEY))
