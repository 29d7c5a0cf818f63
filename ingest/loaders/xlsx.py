"""XLSX: each sheet's rows as `column: value; …` text, with the sheet and the row number a
spreadsheet shows, as for CSV. A sheet's first non-empty row is its header when its cells are
distinct labels; otherwise rows read `value | value`. A sheet with a header is also kept as a
table (ingest/tables.py). Formulas give the values last saved with
them. Rows of one sheet share a group, so the chunker packs a few whole rows into one chunk.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from ingest.errors import LoadError, SkipFile
from ingest.loaders.ooxml import check_archive
from ingest.tables import Table, TooLarge, read_table
from ingest.units import LoadResult, Source, Unit

PARSER_VERSION = "xlsx-2"  # 2: sheets also kept as tables
EXTENSIONS = (".xlsx", ".xlsm")

MAX_COLUMNS = 1_000  # cells past this column are not read (a row's text stays bounded)


def load(path: Path, max_rows: int = 1_000_000, table_rows: int = 100_000) -> LoadResult:
    try:
        check_archive(path)
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise LoadError(f"not a readable XLSX file: {exc}") from exc
    units: list[Unit] = []
    tables: list[Table] = []
    warnings: list[str] = []
    try:
        for sheet in workbook.worksheets:
            if sheet.sheet_state != "visible":
                warnings.append(f"sheet '{sheet.title}' is hidden and was not read")
                continue
            room = max_rows - len(units)
            found, rows, cut = _sheet_units(sheet, room)
            units.extend(found)
            try:
                table = _table(sheet.title, *rows, table_rows) if rows else None
            except TooLarge as exc:
                table = None
                warnings.append(str(exc))
            tables.extend([table] if table else [])
            if cut:
                warnings.append(
                    f"only the first {max_rows:,} rows were read (SOURCED_CSV_MAX_ROWS)"
                )
                break
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise LoadError(f"a sheet cannot be read: {exc}") from exc
    finally:
        workbook.close()
    if not units:
        raise SkipFile("no rows in any visible sheet")
    return LoadResult(units=units, warnings=warnings, tables=tables)


def _sheet_units(
    sheet, room: int
) -> tuple[list[Unit], tuple[list[str], list[tuple[int, list[str]]]] | None, bool]:
    """The sheet's rows as units (at most `room`), its header and cells when it has a
    header, and whether rows were left unread."""
    units: list[Unit] = []
    header: list[str] | None = None
    cells_by_row: list[tuple[int, list[str]]] = []
    group = f"sheet {sheet.title}"
    rows = sheet.iter_rows(min_row=1, max_col=MAX_COLUMNS, values_only=True)
    for number, row in enumerate(rows, start=1):
        cells = [_text(value) for value in row]
        if not any(cells):
            continue
        if header is None:
            header = (
                [c or f"column {i + 1}" for i, c in enumerate(cells)] if _is_header(cells) else []
            )
            if header:
                continue
        if header:
            names = header + [f"column {i + 1}" for i in range(len(header), len(cells))]
            pairs = [f"{name}: {value}" for name, value in zip(names, cells, strict=False) if value]
            text = "; ".join(pairs)
            cells_by_row.append((number, cells))
        else:
            text = " | ".join(value for value in cells if value)
        if len(units) >= room:
            return units, (header, cells_by_row[:-1]) if header else None, True
        source = Source(sheet=sheet.title, rows=(number, number))
        units.append(Unit(text=text, source=source, group=group))
    return units, (header, cells_by_row) if header else None, False


def _table(
    title: str, header: list[str], rows: list[tuple[int, list[str]]], max_rows: int
) -> Table | None:
    width = max([len(header), *(len(cells) for _, cells in rows)])
    names = header + [f"column {i + 1}" for i in range(len(header), width)]
    return read_table(title, names, rows, max_rows)


def _is_header(cells: list[str]) -> bool:
    """Distinct labels, none of them a number: the names of the columns below."""
    labels = [c for c in cells if c]
    return (
        len(labels) >= 1
        and len(set(labels)) == len(labels)
        and not any(_is_number(c) for c in labels)
    )


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def _text(value) -> str:
    """A cell as a person reads it: 3 not 3.0, a date without a midnight time."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())
