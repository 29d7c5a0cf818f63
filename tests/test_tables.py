"""Tables kept as tables at ingest: which files give which tables, typed, with their rows."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from ingest.loaders import ParseLimits, load_file
from ingest.tables import Table, read_table


def _load(path: Path):
    return load_file(path, ParseLimits())


def test_a_csv_is_one_table_numbered_as_a_spreadsheet(tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text("office;closed;month\nBerlin;1 204;May\n\nLyon;87;May\nOslo;-;June\n")
    (table,) = _load(path).tables
    assert table.name == "" and table.row_numbers == [2, 4, 5]
    assert [(c.name, c.type) for c in table.columns] == [
        ("office", "text"),
        ("closed", "integer"),
        ("month", "text"),
    ]
    assert table.columns[1].values == [1204, 87, None]


def test_each_sheet_with_a_header_is_a_table(tmp_path):
    book = Workbook()
    sales = book.active
    sales.title = "Sales"
    sales.append(["Region", "Revenue", None])
    sales.append(["North", 1200.0, None])
    sales.append(["South", 800.5, None])
    loose = book.create_sheet("Notes")
    loose.append([1, 2])
    loose.append([3, 4])
    path = tmp_path / "book.xlsx"
    book.save(path)
    (table,) = _load(path).tables
    assert table.name == "Sales" and table.row_numbers == [2, 3]
    assert [(c.name, c.type, c.values) for c in table.columns] == [
        ("Region", "text", ["North", "South"]),
        ("Revenue", "number", [1200, 800.5]),
    ]


def test_arrays_of_records_in_json_are_tables(tmp_path):
    path = tmp_path / "shop.json"
    path.write_text(
        '{"shop": "Corner", "items": [{"name": "tea", "price": {"eur": 3.5}, "tags": ["hot"]},'
        ' {"name": "cake", "price": {"eur": 4}, "tags": null}], "one": [{"a": 1}]}'
    )
    (table,) = _load(path).tables
    assert table.name == "$.items" and table.row_numbers == [0, 1]
    assert [(c.name, c.type) for c in table.columns] == [
        ("name", "text"),
        ("price.eur", "number"),
        ("tags", "text"),
    ]
    assert table.columns[2].values == ["hot", None]


def test_a_table_reads_back_from_json_as_written():
    table = read_table(
        "Q1", ["when", "amount"], [(2, ["2024-05-03", "12 kg"]), (3, ["3 May 2024", ""])]
    ).in_document("a/b.xlsx")
    again = Table.from_json(table.to_json(), "a/b.xlsx")
    assert again == table and again.label == "a/b.xlsx · sheet Q1"
    written = read_table("", ["when"], [(2, ["3 May 2024"]), (3, ["12 June 2024"])])
    assert Table.from_json(written.to_json()).columns[0].written == "%-d %B %Y"
    assert read_table("", ["only"], [(2, ["x"])]) is None  # one row is a record
    assert read_table("", ["blank"], [(2, [""]), (3, ["-"])]) is None


def test_a_table_past_the_limit_is_read_as_text_only_with_a_warning(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("n,v\n" + "".join(f"{i},{i * 2}\n" for i in range(50)))
    result = load_file(path, ParseLimits(table_max_rows=20))
    assert result.tables == [] and len(result.units) == 50
    assert result.warnings == [
        "the table has 50 rows, more than the 20 kept as a table (SOURCED_TABLE_MAX_ROWS); "
        "its rows are indexed as text only"
    ]
    records = tmp_path / "big.json"
    records.write_text('{"items": [' + ",".join(f'{{"n": {i}}}' for i in range(30)) + "]}")
    result = load_file(records, ParseLimits(table_max_rows=20))
    assert result.tables == [] and "'$.items' has 30 rows" in result.warnings[0]
