"""What loaders produce (units) and what the index stores (chunks), with their provenance.

A `Source` says where a piece of text came from inside its document. Loaders set it, the chunker
narrows it (line ranges, merged table rows), and it travels unchanged into the index and out of
the API, so users can find the passage again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.tables import Table

# A word read by OCR: its offsets in the text, and its box as fractions of the page image.
Box = tuple[int, int, float, float, float, float]


@dataclass(frozen=True)
class Source:
    page: int | None = None  # 1-based page number (PDF)
    slide: int | None = None  # 1-based slide number (PPTX)
    sheet: str | None = None  # worksheet name (XLSX)
    page_label: str | None = None  # the label the PDF prints on that page, when it differs
    headings: tuple[str, ...] = ()  # heading path: ("Setup", "Installation")
    table: int | None = None  # 1-based table number inside the document (DOCX)
    rows: tuple[int, int] | None = None  # first and last row, as a spreadsheet numbers them
    json_path: str | None = None  # $.products[3]
    lines: tuple[int, int] | None = None  # first and last 1-based line (text, Markdown, JSONL)
    # Text read by OCR: each word's (start, end, x0, y0, x1, y1), its offsets in the text and
    # its box as fractions of the page image (ingest/loaders/ocr.py), to highlight a quote.
    boxes: tuple[Box, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The non-empty fields, JSON-ready."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if value is None or value == ():
                continue
            if key == "boxes":
                value = [list(box) for box in value]
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        fields = dict(data)
        for key in ("headings", "rows", "lines"):
            if key in fields and fields[key] is not None:
                fields[key] = tuple(fields[key])
        if fields.get("boxes"):
            fields["boxes"] = tuple(tuple(box) for box in fields["boxes"])
        return cls(**fields)

    def locator(self) -> str:
        """A short human-readable place: 'p. 3 · Setup > Install · table 1, rows 2–5'."""
        parts: list[str] = []
        if self.page is not None:
            label = f" ({self.page_label})" if self.page_label else ""
            parts.append(f"p. {self.page}{label}")
        if self.slide is not None:
            parts.append(f"slide {self.slide}")
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet}")
        if self.headings:
            parts.append(" > ".join(self.headings))
        rows = _span("row", self.rows)
        if self.table is not None:
            parts.append(f"table {self.table}" + (f", {rows}" if rows else ""))
        elif rows:
            parts.append(rows)
        if self.json_path:
            parts.append(self.json_path)
        if self.lines and self.page is None and self.rows is None:
            parts.append(_span("line", self.lines))
        return " · ".join(parts)


def boxes_within(boxes: tuple[Box, ...], start: int, end: int) -> tuple[Box, ...]:
    """The boxes of the words inside text[start:end], their offsets made relative to start."""
    return tuple(
        (max(s, start) - start, min(e, end) - start, *corners)
        for s, e, *corners in boxes
        if s < end and e > start
    )


def _span(word: str, span: tuple[int, int] | None) -> str:
    if span is None:
        return ""
    first, last = span
    return f"{word} {first}" if first == last else f"{word}s {first}–{last}"


@dataclass(frozen=True)
class Unit:
    """A piece of a document as its loader found it: a page, a section, a table row, a record.

    `group` marks units that the chunker may pack together into one chunk (rows of one table);
    units without a group are never merged.
    """

    text: str
    source: Source = field(default_factory=Source)
    group: str | None = None


@dataclass(frozen=True)
class LoadResult:
    units: list[Unit]
    warnings: list[str] = field(default_factory=list)
    ocr_pages: int = 0  # pages (or images) whose text was read by OCR
    tables: list[Table] = field(default_factory=list)  # also kept as tables (ingest/tables.py)


@dataclass(frozen=True)
class Chunk:
    """One searchable piece of text: the unit of embedding, retrieval and citation."""

    id: str  # stable: same document, place and text give the same id
    document: str  # path relative to the ingested folder, with forward slashes
    text: str
    char_start: int  # offsets of `text` inside its unit's text
    char_end: int
    source: Source = field(default_factory=Source)
