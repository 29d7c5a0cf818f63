"""Column types read from messy cells, and a real table set's columns."""

import csv
from datetime import date

import pytest

from ingest.table_types import infer_column, read_number

from .conftest import ROOT


@pytest.mark.parametrize(
    ("cells", "kind", "values", "unit"),
    [
        (["1,234", "12", "1,000,000", ""], "integer", [1234, 12, 1_000_000, None], None),
        (["1 234", "5 000"], "integer", [1234, 5000], None),
        (["3.5", "4", "n/a", "-"], "number", [3.5, 4, None, None], None),
        (["3,5", "4,25"], "number", [3.5, 4.25], None),
        (["$12.50", "$1,200", "$0.99"], "number", [12.5, 1200, 0.99], "$"),
        (["12,50 €", "3 €"], "number", [12.5, 3], "€"),
        (["EUR 40", "EUR 12"], "integer", [40, 12], "eur"),
        (["12%", "7.5 %", "100%"], "number", [12, 7.5, 100], "%"),
        (["12 kg", "3.5 kg", ""], "number", [12, 3.5, None], "kg"),
        (["(40)", "12", "-3"], "integer", [-40, 12, -3], None),
        (
            ["2024-05-03", "2024-06-01", ""],
            "date",
            [date(2024, 5, 3), date(2024, 6, 1), None],
            None,
        ),
        (["03/05/2024", "25/12/2024"], "date", [date(2024, 5, 3), date(2024, 12, 25)], None),
        (["05/03/2024", "12/25/2024"], "date", [date(2024, 5, 3), date(2024, 12, 25)], None),
        (["3 May 2024", "May 4, 2024"], "date", [date(2024, 5, 3), date(2024, 5, 4)], None),
    ],
)
def test_messy_cells_are_read_as_their_type(cells, kind, values, unit):
    column = infer_column("c", cells)
    assert (column.type, column.values, column.unit) == (kind, values, unit)


@pytest.mark.parametrize(
    "cells",
    [
        ["12 kg", "3 lb"],  # two units: not one quantity
        ["12", "twelve"],
        ["3 May", "4 May"],  # no year: not a date, and "May" is no unit
        ["1.2.3", "4"],
        ["Berlin", "Paris"],
    ],
)
def test_a_column_that_does_not_all_read_as_one_type_stays_text_and_whole(cells):
    column = infer_column("c", cells)
    assert column.type == "text" and column.values == cells


def test_a_bare_number_keeps_no_unit_and_garbage_is_none():
    assert read_number("42") == (42, None)
    assert read_number("(42") is None and read_number("4 2 1") is None


def test_the_wikitablequestions_tables_get_typed_columns():
    folder = ROOT.parent / "shared" / "datasets" / "wtq-sample" / "csv"
    if not folder.is_dir():
        pytest.skip("../shared/datasets is not there")
    kinds: dict[str, int] = {}
    for path in sorted(folder.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            header, *rows = list(csv.reader(handle))
        for i, name in enumerate(header):
            cells = [row[i] if i < len(row) else "" for row in rows]
            kind = infer_column(name, cells).type
            kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds["integer"] + kinds.get("number", 0) >= 60, kinds
    assert kinds["text"] >= 60, kinds


@pytest.mark.parametrize(
    ("cells", "written", "shown"),
    [
        (["30 September 1943", "3 May 1944"], "%-d %B %Y", ["30 September 1943", "3 May 1944"]),
        (["June 11, 2005", "July 4, 2006"], "%B %-d, %Y", ["June 11, 2005", "July 4, 2006"]),
        (["03/05/2024", "25/12/2024"], "%d/%m/%Y", ["03/05/2024", "25/12/2024"]),
        (["3.5.2024", "12.25.2024"], "%-m.%-d.%Y", ["3.5.2024", "12.25.2024"]),
        (["2024-05-03", "2024-12-25"], None, ["2024-05-03", "2024-12-25"]),
    ],
)
def test_dates_are_written_back_as_their_column_writes_them(cells, written, shown):
    from ingest.table_types import write_date

    column = infer_column("Date", cells)
    assert column.type == "date" and column.written == written
    assert [write_date(day, column.written) for day in column.values] == shown


def test_a_text_column_of_numbers_gives_the_number_each_cell_shows():
    from ingest.table_types import numbers_within

    cells = ["1974 (downgraded in 1994)", "792 (241)", "26,277 killed", "1.", "n/d", "12"]
    assert numbers_within(infer_column("x", cells)) == [1974, 792, 26277, 1, None, 12]
    # Too few cells show one, a typed column, durations: none.
    assert numbers_within(infer_column("x", ["Gold", "Silver", "4"])) is None
    assert numbers_within(infer_column("x", ["4", "5"])) is None
    assert numbers_within(infer_column("x", ["2:03", "4:32"])) is None
