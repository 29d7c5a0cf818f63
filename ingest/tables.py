"""Tables kept as tables: a CSV's or a sheet's rows, or a JSON array of records, with typed
columns (table_types.py) and the row numbers the document shows, so that a question asking
for a count or a maximum can be answered by a query (app/rag/table_answers.py).

Loaders build them (`read_table`) next to the text units; the store keeps them with the
version (as JSON: `to_json` / `from_json`), one per sheet or array, under the document's path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from ingest.table_types import TypedColumn, infer_column

# Fewer rows than this is a record, not a table worth a query.
MIN_ROWS = 2


@dataclass(frozen=True)
class Table:
    name: str  # "" for a file that is one table; a sheet's name; a JSON array's path
    columns: list[TypedColumn]
    row_numbers: list[int]  # as the document shows them: a spreadsheet's row, an array index
    document: str = ""  # the document's path, set when the index keeps it

    @property
    def label(self) -> str:
        """How a person finds it: 'sales.xlsx · sheet 2024', 'prices.csv'."""
        if not self.name:
            return self.document
        where = self.name if self.name.startswith("$") else f"sheet {self.name}"
        return f"{self.document} · {where}"

    @property
    def row_count(self) -> int:
        return len(self.row_numbers)

    def in_document(self, document: str) -> Table:
        return replace(self, document=document)

    def to_json(self) -> str:
        columns = [
            {
                "name": c.name,
                "type": c.type,
                "unit": c.unit,
                "written": c.written,
                "values": [v.isoformat() if isinstance(v, date) else v for v in c.values],
            }
            for c in self.columns
        ]
        data = {"name": self.name, "rows": self.row_numbers, "columns": columns}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, document: str = "") -> Table:
        data = json.loads(text)
        columns = [_column(c) for c in data["columns"]]
        return cls(data["name"], columns, list(data["rows"]), document)


def _column(data: dict[str, Any]) -> TypedColumn:
    values = data["values"]
    if data["type"] == "date":
        values = [None if v is None else date.fromisoformat(v) for v in values]
    return TypedColumn(data["name"], data["type"], values, data.get("unit"), data.get("written"))


class TooLarge(ValueError):
    """More rows than a table is kept for (SOURCED_TABLE_MAX_ROWS): its text is still read."""

    def __init__(self, name: str, rows: int, limit: int):
        where = f"'{name}' " if name else ""
        super().__init__(
            f"the table {where}has {rows:,} rows, more than the {limit:,} kept as a table "
            "(SOURCED_TABLE_MAX_ROWS); its rows are indexed as text only"
        )


def read_table(
    name: str, header: list[str], rows: list[tuple[int, list[str]]], max_rows: int = 100_000
) -> Table | None:
    """A table of these cells under these column names (a row shorter than the header has
    blanks), or None when there are too few rows or no columns to query; TooLarge past
    `max_rows` rows."""
    if len(rows) < MIN_ROWS or not header:
        return None
    if len(rows) > max_rows:
        raise TooLarge(name, len(rows), max_rows)
    columns = [
        infer_column(header[i], [cells[i] if i < len(cells) else "" for _, cells in rows])
        for i in range(len(header))
    ]
    # A column without a single value answers nothing (a sheet's blank trailing columns).
    columns = [c for c in columns if any(v is not None for v in c.values)]
    if not columns:
        return None
    return Table(name, columns, [number for number, _ in rows])
