"""CSV / TSV: header-aware rows as `column: value; …` text, numbered as a spreadsheet shows them,
and the whole file as a table (ingest/tables.py).

Rows of one file share a group, so the chunker packs a few whole rows into one chunk.
"""

import csv
import io
import re
from pathlib import Path

from ingest.errors import LoadError, SkipFile
from ingest.loaders.textio import decode_text
from ingest.tables import TooLarge, read_table
from ingest.units import LoadResult, Source, Unit

PARSER_VERSION = "csv-3"  # 2: also kept as a table; 3: quotes escaped with a backslash
EXTENSIONS = (".csv", ".tsv")

_DELIMITERS = ",;\t|"
# A quote escaped with a backslash inside a field (`"\"Teenage Thug\" (Bonus Track)"`), as
# MySQL and some exporters write them instead of doubling it; not one closing a field.
_BACKSLASH_QUOTE = re.compile(r'\\"(?![,;\t|\r\n]|$)')


def load(
    path: Path, field_limit: int = 1_000_000, max_rows: int = 1_000_000, table_rows: int = 100_000
) -> LoadResult:
    text = decode_text(path.read_bytes())
    if not text.strip():
        raise SkipFile("empty file")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(text)
    units, warnings = [], []
    records = numbered_records(text, delimiter, field_limit, max_rows + 1)
    if len(records) > max_rows:
        records = records[:max_rows]
        warnings.append(f"only the first {max_rows:,} rows were read (SOURCED_CSV_MAX_ROWS)")
    for number, record in records:
        pairs = [f"{name}: {value}" for name, value in record.items() if value.strip()]
        if pairs:
            units.append(
                Unit(text="; ".join(pairs), source=Source(rows=(number, number)), group="rows")
            )
    if not units:
        raise SkipFile("no rows under the header")
    names = list(dict.fromkeys(name for _, record in records for name in record))
    try:
        rows = [(n, [r.get(k, "") for k in names]) for n, r in records]
        table = read_table("", names, rows, table_rows)
    except TooLarge as exc:
        table = None
        warnings.append(str(exc))
    return LoadResult(units=units, warnings=warnings, tables=[table] if table else [])


def sniff_delimiter(text: str) -> str:
    sample = text[:64_000]
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def read_records(text: str, delimiter: str = ",", field_limit: int = 1_000_000) -> list[dict]:
    """Parse CSV text into one dict per row, keyed by the header (blank names become `column N`)."""
    return [record for _, record in numbered_records(text, delimiter, field_limit)]


def numbered_records(
    text: str, delimiter: str = ",", field_limit: int = 1_000_000, max_rows: int | None = None
) -> list[tuple[int, dict]]:
    """Rows as (row number, record); row 1 is the header, as a spreadsheet numbers them.

    Blank rows are left out (their numbers too); at most `max_rows` are read. Quotes escaped
    with a backslash are read as quotes, when the file escapes them so. Raises LoadError when
    a row cannot be parsed.
    """
    previous_limit = csv.field_size_limit(field_limit)
    escape = "\\" if _BACKSLASH_QUOTE.search(text) else None
    try:
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=delimiter, escapechar=escape, strict=False
        )
        try:
            header = next(reader, None)
            if header is None:
                return []
            names = _column_names(header)
            records = []
            for number, row in enumerate(reader, start=2):
                if not any(cell.strip() for cell in row):
                    continue
                keys = names + [f"column {i + 1}" for i in range(len(names), len(row))]
                records.append((number, dict(zip(keys, row, strict=False))))
                if max_rows is not None and len(records) >= max_rows:
                    break
            return records
        except csv.Error as exc:
            raise LoadError(f"invalid CSV near row {reader.line_num}: {exc}") from exc
    finally:
        csv.field_size_limit(previous_limit)


def _column_names(header: list[str]) -> list[str]:
    names: list[str] = []
    for index, raw in enumerate(header):
        name = raw.strip() or f"column {index + 1}"
        if name in names:
            name = f"{name} ({index + 1})"
        names.append(name)
    return names
