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
_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]")


def _normal(text: str) -> str:
    return " ".join(re.sub(r"\[\d+(?:,\s*\d+)*\]", "", text).lower().split()).strip(" .!?")


def repeated_from(text: str) -> int | None:
    """Where the answer starts repeating itself, or None while it does not."""
    seen: set[str] = set()
    for match in _SENTENCE.finditer(text):
        sentence = _normal(match.group())
        if len(sentence) < _SENTENCE_CHARS:
            continue
        if sentence in seen:
            return match.start()
        seen.add(sentence)
    if len(text) >= 3 * _LOOP_CHARS:
        tail = text[-_LOOP_CHARS:]
        first = text.find(tail)
        if first + _LOOP_CHARS <= len(text) - _LOOP_CHARS:
            cut = len(text) - _LOOP_CHARS
            # End at the last whole sentence before the loop's second round, if there is one.
            ends = [m.end() for m in _SENTENCE.finditer(text, 0, cut)]
            return ends[-1] if ends else cut
    return None
