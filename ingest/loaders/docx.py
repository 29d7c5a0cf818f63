"""DOCX: body paragraphs and tables in document order, each knowing its heading path.

Paragraphs under one heading become one unit (the chunker splits it on paragraph boundaries);
each table row becomes `Column: value; …` text with its table and row number, grouped per table
so the chunker can pack neighbouring rows together.
"""

import re
import zipfile
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingest.errors import LoadError, SkipFile
from ingest.loaders.ooxml import check_archive
from ingest.units import LoadResult, Source, Unit

PARSER_VERSION = "docx-1"
EXTENSIONS = (".docx",)

_HEADING_STYLE = re.compile(r"^(?:Heading|Überschrift|Titre)\s*(\d)$", re.IGNORECASE)


def load(path: Path) -> LoadResult:
    try:
        check_archive(path)
        document = docx.Document(str(path))
        units = list(_units(document))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"not a readable DOCX file: {exc}") from exc
    if not units:
        raise SkipFile("no text in the document body")
    return LoadResult(units=units)


def _units(document):
    headings: list[str] = []  # the current heading path
    paragraphs: list[str] = []
    table_number = 0

    def flush():
        text = "\n\n".join(paragraphs).strip()
        paragraphs.clear()
        if text:
            yield Unit(text=text, source=Source(headings=tuple(headings)))

    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            level = _heading_level(block)
            text = block.text.strip()
            if level is not None and text:
                yield from flush()
                del headings[level - 1 :]
                headings.extend([""] * (level - 1 - len(headings)))
                headings.append(text)
                headings[:] = [h for h in headings if h]
            elif text:
                paragraphs.append(text)
        elif isinstance(block, Table):
            yield from flush()
            table_number += 1
            yield from _table_units(block, table_number, tuple(headings))
    yield from flush()


def _heading_level(paragraph: Paragraph) -> int | None:
    style = paragraph.style.name if paragraph.style is not None else ""
    if style == "Title":
        return 1
    match = _HEADING_STYLE.match(style or "")
    return int(match.group(1)) if match else None


def _table_units(table: Table, number: int, headings: tuple[str, ...]):
    rows = [_row_texts(row) for row in table.rows]
    if not rows:
        return
    header = rows[0]
    has_header = len(rows) > 1 and all(header) and len(set(header)) == len(header)
    body_start = 1 if has_header else 0
    if has_header and not any(any(row) for row in rows[1:]):
        body_start = 0
    group = f"table {number}"
    for index in range(body_start, len(rows)):
        row = rows[index]
        if has_header and body_start == 1:
            pairs = [f"{name}: {value}" for name, value in zip(header, row, strict=False) if value]
            text = "; ".join(pairs)
        else:
            text = " | ".join(value for value in row if value)
        if text:
            source = Source(headings=headings, table=number, rows=(index + 1, index + 1))
            yield Unit(text=text, source=source, group=group)


def _row_texts(row) -> list[str]:
    """Cell texts by grid column; a merged cell is read once, its other columns left empty."""
    texts: list[str] = []
    previous = None
    for cell in row.cells:
        texts.append("" if cell._tc is previous else " ".join(cell.text.split()))
        previous = cell._tc
    return texts
