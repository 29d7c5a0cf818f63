"""An answer's sources as other clients show them: numbered footnotes for plain text, links to
each passage on Sourced's page, OpenAI's `url_citation` annotations on the `[n]` marks, and the
`source` events Open WebUI turns into source cards."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import Request

from app.schemas import SourceOut
from app.settings import Settings

_MARK = re.compile(r"\[(\d{1,3})\]")


def footnotes(sources: list[SourceOut]) -> str:
    """Numbered source notes for the end of the content: the cited ones, else all."""
    listed = [s for s in sources if s.cited] or sources
    if not listed:
        return ""
    return "\n\nSources:\n" + "\n".join(f"[{s.n}] {title(s)}" for s in listed)


def title(source: SourceOut) -> str:
    return source.document + (f", {source.locator}" if source.locator else "")


def page_url(request: Request, settings: Settings) -> str:
    """Where users reach Sourced's page: SOURCED_PUBLIC_URL, else the address asked."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


def passage_link(page: str, index: str, source: SourceOut) -> str:
    """The page, opened at the passage with its quote marked (app.js: openLinkedPassage)."""
    link = f"{page}/#passage={quote(index, safe='')}/{quote(source.chunk_id, safe='')}"
    if source.quote is not None:
        link += f"&start={source.quote.start}&end={source.quote.end}"
    return link


def citation_marks(content: str, sources: list[SourceOut]) -> list[tuple[int, int, SourceOut]]:
    """Each `[n]` in the content that names one of the sources: (start, end, source)."""
    by_number = {s.n: s for s in sources}
    return [
        (m.start(), m.end(), by_number[int(m.group(1))])
        for m in _MARK.finditer(content)
        if int(m.group(1)) in by_number
    ]


def url_citations(content: str, sources: list[SourceOut], page: str, index: str) -> list[dict]:
    """A `url_citation` over each `[n]` mark, in the Responses API's flat shape."""
    return [
        {
            "type": "url_citation",
            "start_index": start,
            "end_index": end,
            "title": title(source),
            "url": passage_link(page, index, source),
        }
        for start, end, source in citation_marks(content, sources)
    ]


def chat_annotations(content: str, sources: list[SourceOut], page: str, index: str) -> list[dict]:
    """The same as chat completions nest them: `{"type": …, "url_citation": {…}}`."""
    return [
        {"type": "url_citation", "url_citation": {k: v for k, v in c.items() if k != "type"}}
        for c in url_citations(content, sources, page, index)
    ]


def open_webui_events(sources: list[SourceOut], page: str, index: str) -> list[dict]:
    """One `source` event per source, in the order of their numbers: Open WebUI links the
    answer's `[n]` to its n-th source card. Each card's id is the passage's (cards sharing an
    id merge into one, which would shift the numbers), and never a URL (a URL id becomes the
    card's title). The card shows the quote that supports the answer, else the snippet."""
    events = []
    for source in sorted(sources, key=lambda s: s.n):
        passage_id = f"{index}/{source.chunk_id}"
        link = passage_link(page, index, source)
        metadata = {
            "source": passage_id,
            "name": title(source),
            "document": source.document,
            "page": source.page,
            "locator": source.locator,
            "chunk_id": source.chunk_id,
            "cited": source.cited,
            "verified": source.verified,
            "url": link,
        }
        events.append(
            {
                "type": "source",
                "data": {
                    "source": {"id": passage_id, "name": title(source), "url": link},
                    "document": [source.quote.text if source.quote else source.snippet],
                    "metadata": [metadata],
                    "distances": [source.similarity],
                },
            }
        )
    return events
