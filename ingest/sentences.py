"""Sentences: how a text is cut into the sentences that are quoted, scored and checked.

Ingest cuts every chunk with these rules and stores each sentence's vector (sentence_index.py),
so that answering a question embeds no source sentence; the answer side cuts answers and
quotes with the same rules. `SENTENCES_VERSION` changes whenever the rules do, so sentences
stored by older rules are never mistaken for current ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SENTENCES_VERSION = 1

# A sentence ends at . ! ? before a space and a capital, digit or quote, or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n\s*")
# A single line break ends a sentence only where the next line starts a record's field
# ("answer: …", "faq.topic: …") or a list item, or the line before reads as a heading or ends
# a clause. Anywhere else it is a wrapped line of a PDF page, and the sentence goes on.
_LINE_BREAK = re.compile(r"[ \t]*\n[ \t]*")
_FIELD = re.compile(r"[A-Za-z_][\w.\[\]-]*: ")
_ITEM = re.compile(r"(?:[-*•]|\d+[.)])\s")
_CLAUSE_END = ".!?:;"
_HEADING_CHARS = 60
# "Dr. Smith", "e.g. this", "Fig. 3": a full stop after these does not end the sentence.
_ABBREVIATION = re.compile(
    r"\b(Dr|Mr|Mrs|Ms|Prof|St|Sr|Jr|vs|etc|e\.g|i\.e|cf|Fig|Figs|No|Vol|al|approx|Inc|Ltd|Co)\.$",
    re.IGNORECASE,
)
# Pieces of fewer words (headings, labels, numbers) are not claims or quotes.
_MIN_WORDS = 3
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Span:
    """A sentence of a text, by character offsets into it."""

    start: int
    end: int
    text: str


def sentences(text: str) -> list[Span]:
    """The sentences of a text with their offsets; whitespace around them is left out. A
    record's field (`answer: Files over 100 MB are skipped.`) is quoted as its value."""
    spans: list[Span] = []
    for start, end in _lines(text):
        start = _value_start(text, start, end)
        for boundary in [*_SENTENCE_END.finditer(text, start, end), None]:
            stop = boundary.start() if boundary else end
            if boundary is not None and text[boundary.start()] in "\"')]":
                stop += 1  # a closing quote or bracket belongs to the sentence it ends
            piece = text[start:stop]
            stripped = piece.strip()
            if stripped:
                lead = len(piece) - len(piece.lstrip())
                spans.append(Span(start + lead, start + lead + len(stripped), stripped))
            start = boundary.end() if boundary else end
    merged: list[Span] = []
    for span in spans:
        previous = merged[-1] if merged else None
        if (
            previous
            and _ABBREVIATION.search(previous.text)
            and "\n" not in text[previous.end : span.start]
        ):
            merged[-1] = Span(previous.start, span.end, text[previous.start : span.end])
        else:
            merged.append(span)
    return merged


def _lines(text: str) -> list[tuple[int, int]]:
    """The text cut at the line breaks that end a sentence, as (start, end) offsets."""
    pieces, start = [], 0
    for match in _LINE_BREAK.finditer(text):
        before = text[text.rfind("\n", 0, match.start()) + 1 : match.start()].strip()
        after = text[match.end() : match.end() + 40]
        heading = (
            0 < len(before) <= _HEADING_CHARS
            and before[-1] not in ",(-–"
            and (after[:1].isupper() or after[:1].isdigit())
        )
        if (
            not before
            or not after
            or before[-1] in _CLAUSE_END
            or _FIELD.match(after)
            or _ITEM.match(after)
            or heading
        ):
            pieces.append((start, match.start()))
            start = match.end()
    pieces.append((start, len(text)))
    return [(a, b) for a, b in pieces if b > a]


def _value_start(text: str, start: int, end: int) -> int:
    """Where the value of a one-field line starts, when that value can stand as a quote."""
    field = _FIELD.match(text, start)
    if field is None or _FIELD.search(text, field.end(), end):
        return start
    value = text[field.end() : end]
    return field.end() if is_statement(value) else start


def is_claim(text: str) -> bool:
    return len(_WORD.findall(text)) >= _MIN_WORDS


def is_statement(text: str) -> bool:
    """A sentence that can stand as an answer: a heading ("1. What Sourced is") cannot."""
    words = len(_WORD.findall(text))
    if is_question(text):  # a FAQ's own question answers nothing
        return False
    return words >= 8 or (words >= 4 and text.rstrip()[-1:] in ".!")


def is_question(text: str) -> bool:
    return text.rstrip().endswith("?") and len(_WORD.findall(text)) >= 3
