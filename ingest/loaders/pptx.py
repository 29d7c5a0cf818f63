"""PPTX: one unit per slide, its number as the locator and its title as the heading: the text of
its shapes in reading order (text boxes, tables as `cell | cell` rows, grouped shapes), then the
speaker's notes.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from pptx import Presentation
from pptx.exc import PackageNotFoundError
from pptx.shapes.group import GroupShape

from ingest.errors import LoadError, SkipFile
from ingest.loaders.ooxml import check_archive
from ingest.units import LoadResult, Source, Unit

PARSER_VERSION = "pptx-1"
EXTENSIONS = (".pptx",)


def load(path: Path) -> LoadResult:
    try:
        check_archive(path)
        deck = Presentation(str(path))
        units = [unit for n, slide in enumerate(deck.slides, 1) if (unit := _slide(n, slide))]
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"not a readable PPTX file: {exc}") from exc
    if not units:
        raise SkipFile("no text on any slide")
    return LoadResult(units=units)


def _slide(number: int, slide) -> Unit | None:
    title_shape = slide.shapes.title
    title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
    title_id = title_shape.shape_id if title_shape is not None else None
    blocks = [
        text
        for shape in _reading_order(slide.shapes)
        if shape.shape_id != title_id and (text := _shape_text(shape))
    ]
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            blocks.append("Notes: " + notes.text.strip())
    text = "\n\n".join(blocks)
    if not text and not title:
        return None
    source = Source(slide=number, headings=(title,) if title else ())
    return Unit(text=text or title, source=source)


def _reading_order(shapes) -> list:
    """Top to bottom, then left to right; shapes without a position keep their order."""
    return sorted(shapes, key=lambda s: (s.top if s.top is not None else 0, s.left or 0))


def _shape_text(shape) -> str:
    if isinstance(shape, GroupShape):
        return "\n".join(t for inner in _reading_order(shape.shapes) if (t := _shape_text(inner)))
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = []
        for row in shape.table.rows:
            cells = [" ".join(cell.text.split()) for cell in row.cells]
            if any(cells):
                rows.append(" | ".join(c for c in cells if c))
        return "\n".join(rows)
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        lines = [" ".join(p.text.split()) for p in shape.text_frame.paragraphs]
        return "\n".join(line for line in lines if line)
    return ""
