"""Noticing an answer that has begun to repeat itself, so that writing stops there.

Small models fall into loops: the same sentence again and again until the token limit. Every
streaming backend feeds its text to `repeated_from`, stops when it returns a position, and
keeps the text before it.
"""

from __future__ import annotations

import re

# A loop without punctuation: this many characters, written twice.
_LOOP_CHARS = 50
# A sentence this long written a second time is a repetition, not a coincidence.
_SENTENCE_CHARS = 12
_SENTENCE_END = re.compile(r"[.!?\n]")


def _normal(text: str) -> str:
    return " ".join(re.sub(r"\[\d+(?:,\s*\d+)*\]", "", text).lower().split()).strip(" .!?")


def _sentences(text: str, stop: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each finished sentence before `stop`: text up to and including a full
    stop, question or exclamation mark or line break. Found by its ends, in one pass: this
    runs on every token written."""
    found, start = [], 0
    for end in _SENTENCE_END.finditer(text, 0, len(text) if stop is None else stop):
        if end.start() > start:  # not a bare mark right after another
            found.append((start, end.end()))
        start = end.end()
    return found


def repeated_from(text: str) -> int | None:
    """Where the answer starts repeating itself, or None while it does not."""
    seen: set[str] = set()
    for start, end in _sentences(text):
        sentence = _normal(text[start:end])
        if len(sentence) < _SENTENCE_CHARS:
            continue
        if sentence in seen:
            return start
        seen.add(sentence)
    if len(text) >= 3 * _LOOP_CHARS:
        tail = text[-_LOOP_CHARS:]
        first = text.find(tail)
        if first + _LOOP_CHARS <= len(text) - _LOOP_CHARS:
            cut = len(text) - _LOOP_CHARS
            # End at the last whole sentence before the loop's second round, if there is one.
            ends = [end for _, end in _sentences(text, cut)]
            return ends[-1] if ends else cut
    return None
