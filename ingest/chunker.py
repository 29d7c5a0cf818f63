"""Token-aware chunking against the embedding model's own tokenizer.

No chunk exceeds the model's window (text past it would be silently dropped by the model).
Chunks never cross documents or units (pages, sections, records); inside a unit they end at the
best boundary near the size limit — a paragraph, else a line, else a sentence, else a word.
Rows of one table (units sharing a `group`) are packed together, each row kept whole.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import replace

from ingest.errors import UsageError
from ingest.units import Chunk, Source, Unit, boxes_within

CHUNKER_VERSION = "tokens-1"

# Lone surrogates (legal in JSON escapes) can be neither tokenized nor stored as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


class Chunker:
    def __init__(self, tokenizer, chunk_size: int, chunk_overlap: int, max_tokens: int):
        if chunk_size > max_tokens:
            raise UsageError(
                f"chunk_size {chunk_size} exceeds the embedding model's window of "
                f"{max_tokens} tokens; lower SOURCED_CHUNK_SIZE"
            )
        self.tokenizer = tokenizer
        self.size = chunk_size
        self.overlap = chunk_overlap
        self.max_tokens = max_tokens
        # Grouped rows fill about half a chunk, so each vector stays about a few rows.
        self.group_budget = max(chunk_size // 2, 1)

    def chunk(self, document: str, units: list[Unit]) -> list[Chunk]:
        pieces: list[tuple[str, int, int, Source]] = []
        # Same length after replacement, so offsets still point into the loader's text.
        units = [replace(u, text=_SURROGATE.sub("\ufffd", u.text)) for u in units]
        for unit in self._pack_groups(units):
            pieces.extend(self._split(unit))
        seen: Counter[str] = Counter()
        chunks = []
        for text, start, end, source in pieces:
            key = json.dumps([source.to_dict(), text], sort_keys=True, ensure_ascii=False)
            occurrence = seen[key]
            seen[key] += 1
            chunks.append(
                Chunk(
                    id=chunk_id(document, key, occurrence),
                    document=document,
                    text=text,
                    char_start=start,
                    char_end=end,
                    source=source,
                )
            )
        return chunks

    def count_tokens(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def _pack_groups(self, units: list[Unit]) -> list[Unit]:
        """Merge neighbouring units of one group (table rows) while they fit the group budget."""
        if all(u.group is None for u in units):
            return units
        counts = self.count_tokens([u.text for u in units])
        packed: list[Unit] = []
        batch: list[Unit] = []
        batch_tokens = 0

        def flush() -> None:
            if batch:
                packed.append(_merge(batch))
                batch.clear()

        for unit, tokens in zip(units, counts, strict=True):
            fits = batch and unit.group == batch[0].group
            if unit.group is None or not fits or batch_tokens + tokens > self.group_budget:
                flush()
                batch_tokens = 0
            if unit.group is None:
                packed.append(unit)
                continue
            batch.append(unit)
            batch_tokens += tokens
        flush()
        return packed

    def _split(self, unit: Unit) -> list[tuple[str, int, int, Source]]:
        text = unit.text
        encoded = self.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        offsets = [(a, b) for a, b in encoded["offset_mapping"] if b > a]
        if not offsets:
            return []
        spans = _token_spans(text, offsets, self.size, self.overlap)
        if len(spans) > 1:
            spans = self._fit(text, offsets, spans)
        pieces = []
        for first, last in spans:
            start, end = offsets[first][0], offsets[last - 1][1]
            pieces.append((text[start:end], start, end, _narrow(unit, start, end)))
        return pieces

    def _fit(
        self, text: str, offsets: list[tuple[int, int]], spans: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """Shrink any span whose text re-tokenizes longer than the window.

        Only a cut inside a word can do that: a span that starts and ends at white space
        tokenizes exactly as it did inside the unit, so only the others are checked.
        """
        total = len(offsets)

        def clean(index: int) -> bool:
            return index in (0, total) or _boundary_score(text, offsets, index) > 0

        fitted = []
        for first, last in spans:
            if not (clean(first) and clean(last)):
                count = self.count_tokens([text[offsets[first][0] : offsets[last - 1][1]]])[0]
                while count > self.max_tokens and last - first > 1:
                    last -= 1
                    count = self.count_tokens([text[offsets[first][0] : offsets[last - 1][1]]])[0]
            fitted.append((first, last))
        return fitted


def _token_spans(
    text: str, offsets: list[tuple[int, int]], size: int, overlap: int
) -> list[tuple[int, int]]:
    """[first, last) token ranges of the chunks of one unit."""
    total = len(offsets)
    spans = []
    first = 0
    while first < total:
        if total - first <= size:
            spans.append((first, total))
            break
        last = _best_cut(text, offsets, first + max(size // 2, 1), first + size)
        spans.append((first, last))
        # Start the next chunk `overlap` tokens back, on a word boundary.
        following = last
        for candidate in range(max(last - overlap, first + 1), last):
            if _boundary_score(text, offsets, candidate) > 0:
                following = candidate
                break
        first = following
    return spans


def _best_cut(text: str, offsets: list[tuple[int, int]], low: int, high: int) -> int:
    """The token index in (low, high] to cut before: the strongest boundary, latest on ties."""
    best, best_score = high, 0.0
    for index in range(high, low, -1):
        score = _boundary_score(text, offsets, index)
        if score > best_score:
            best, best_score = index, score
            if score >= 3:
                break
    return best


def _boundary_score(text: str, offsets: list[tuple[int, int]], index: int) -> float:
    """How good a cut before token `index` is: 3 paragraph, 2 line, 1.5 sentence, 1 word."""
    gap = text[offsets[index - 1][1] : offsets[index][0]]
    if not gap:
        return 0.0
    if "\n\n" in gap:
        return 3.0
    if "\n" in gap:
        return 2.0
    previous = text[offsets[index - 1][0] : offsets[index - 1][1]]
    if previous and previous[-1] in ".!?;:":
        return 1.5
    return 1.0


def _merge(units: list[Unit]) -> Unit:
    if len(units) == 1:
        return units[0]
    first, last = units[0].source, units[-1].source
    rows = (first.rows[0], last.rows[1]) if first.rows and last.rows else first.rows
    text = "\n".join(u.text for u in units)
    return Unit(text=text, source=replace(first, rows=rows), group=units[0].group)


def _narrow(unit: Unit, start: int, end: int) -> Source:
    """The unit's source, with the line range narrowed to the chunk's own lines and the word
    boxes to its own words (their offsets then index the chunk's text)."""
    source = unit.source
    if source.boxes:
        source = replace(source, boxes=boxes_within(source.boxes, start, end))
    if source.lines is None:
        return source
    first = source.lines[0] + unit.text.count("\n", 0, start)
    last = first + unit.text.count("\n", start, end)
    return replace(source, lines=(first, last))


def chunk_id(document: str, key: str, occurrence: int) -> str:
    digest = hashlib.sha256(f"{document}\x00{key}\x00{occurrence}".encode()).hexdigest()
    return digest[:24]
