"""The read-only check and the bounded run of SQL written for one table, on a real DuckDB."""

import csv
from pathlib import Path

import pytest

from app.rag.table_sql import (
    QueryFailed,
    UnsafeQuery,
    check_select,
    create_table,
    restricted_connection,
    run_select,
)
from ingest.table_types import infer_column

from .conftest import ROOT


@pytest.fixture
def connection():
    connection = restricted_connection()
    connection.execute("CREATE TABLE tickets (office VARCHAR, month VARCHAR, closed INTEGER)")
    connection.execute(
        "INSERT INTO tickets VALUES ('Berlin', 'May', 41), ('Berlin', 'June', 38), "
        "('Paris', 'May', 29)"
    )
    return connection


def test_a_select_over_the_table_runs_and_gives_its_rows(connection):
    result = run_select(
        connection,
        "SELECT sum(closed) AS total FROM tickets WHERE office = 'Berlin' AND month = 'May'",
        "tickets",
    )
    assert result.columns == ["total"] and result.rows == [(41,)] and not result.truncated
    ranked = "WITH by_office AS (SELECT office, sum(closed) AS n FROM tickets GROUP BY office) "
    ranked += "SELECT office FROM by_office ORDER BY n DESC LIMIT 1"
    assert run_select(connection, ranked, "tickets").rows == [("Berlin",)]
    union = "SELECT office FROM tickets UNION SELECT month FROM tickets"
    assert len(run_select(connection, union, "tickets").rows) == 4


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("INSERT INTO tickets VALUES ('Rome', 'May', 1)", "not INSERT"),
        ("UPDATE tickets SET closed = 0", "not UPDATE"),
        ("DELETE FROM tickets", "not DELETE"),
        ("DROP TABLE tickets", "not DROP"),
        ("CREATE TABLE x AS SELECT * FROM tickets", "not CREATE"),
        ("ATTACH '/tmp/other.db' AS other", "not ATTACH"),
        ("COPY tickets TO '/tmp/out.csv'", "not COPY"),
        ("PRAGMA database_list", "not PRAGMA"),
        ("SET enable_external_access = true", "not SET"),
        ("SELECT 1; DROP TABLE tickets", "not 2 statements"),
        ("SELECT * FROM tickets; SELECT 1", "not 2 statements"),
        ("SELECT * FROM read_csv('/etc/passwd')", "function"),
        ("SELECT * FROM '/etc/passwd'", "only the table tickets"),
        ("SELECT read_text('/etc/passwd')", "read_text"),
        ("SELECT * FROM glob('/*')", "function"),
        ("SELECT getenv('HOME')", "getenv"),
        ("SELECT * FROM other", "not other"),
        ("SELECT * FROM main.tickets", "only the table tickets"),
        ("SELECT * FROM tickets, sqlite_master", "not sqlite_master"),
        ("SELECT * FROM duckdb_settings()", "function"),
        ("this is not sql at all (", "not valid SQL"),
        ('SELECT "Closed FROM tickets', "not valid SQL"),  # an unterminated identifier
    ],
)
def test_anything_but_one_select_over_the_table_is_refused(connection, sql, why):
    with pytest.raises(UnsafeQuery, match=why):
        run_select(connection, sql, "tickets")
    assert connection.execute("SELECT count(*) FROM tickets").fetchone() == (3,)


def test_the_connection_itself_reaches_no_file_and_cannot_be_unlocked(tmp_path: Path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    connection = restricted_connection()
    with pytest.raises(Exception, match="disabled|external access"):
        connection.execute(f"SELECT * FROM read_csv('{secret}')").fetchall()
    with pytest.raises(Exception, match="locked|lock_configuration"):
        connection.execute("SET enable_external_access = true")


def test_rows_and_time_are_bounded(connection):
    result = run_select(connection, "SELECT * FROM tickets", "tickets", max_rows=2)
    assert len(result.rows) == 2 and result.truncated
    slow = "SELECT count(*) FROM tickets, range(100000000000) AS r(i)"
    with pytest.raises((UnsafeQuery, QueryFailed)):
        run_select(connection, slow, "tickets", timeout_s=0.5)


def test_a_query_the_database_cannot_run_says_why_for_a_second_try(connection):
    with pytest.raises(QueryFailed, match="nope"):
        run_select(connection, "SELECT nope FROM tickets", "tickets")
    assert check_select("select   Office from tickets", "tickets") == "SELECT Office FROM tickets"


def test_typed_tables_are_made_from_messy_cells_with_their_row_numbers():
    columns = [
        infer_column("Supplier", ["Acme", "Globex", "Initech"]),
        infer_column("Price", ["$1,200", "$950.50", ""]),
        infer_column("Delivered", ["2024-05-03", "2024-05-09", "2024-06-01"]),
        infer_column("row", ["a", "b", "c"]),  # a column named like the row numbers
        infer_column("", ["x", "y", "z"]),
    ]
    connection = restricted_connection()
    names = create_table(connection, "suppliers", columns, [2, 3, 4])
    assert names == ["supplier", "price", "delivered", "row_2", "column_5"]
    described = [c[0] for c in connection.execute("DESCRIBE suppliers").fetchall()]
    assert described == ["row", *names]
    top = "SELECT supplier, row FROM suppliers ORDER BY price DESC NULLS LAST LIMIT 1"
    assert run_select(connection, top, "suppliers").rows == [("Acme", 2)]
    late = "SELECT count(*) FROM suppliers WHERE delivered >= DATE '2024-05-05'"
    assert run_select(connection, late, "suppliers").rows == [(2,)]
    # Text matches as a person reads it: without regard to case or accents.
    found = "SELECT row FROM suppliers WHERE supplier = 'GLOBEX' OR supplier LIKE 'iníT%'"
    assert run_select(connection, found, "suppliers").rows == [(3,), (4,)]


def test_every_wikitablequestions_table_loads_typed():
    folder = ROOT.parent / "shared" / "datasets" / "wtq-sample" / "csv"
    if not folder.is_dir():
        pytest.skip("../shared/datasets is not there")
    connection = restricted_connection()
    for n, path in enumerate(sorted(folder.rglob("*.csv"))):
        with path.open(newline="", encoding="utf-8") as handle:
            header, *rows = list(csv.reader(handle))
        columns = [
            infer_column(name, [row[i] if i < len(row) else "" for row in rows])
            for i, name in enumerate(header)
        ]
        create_table(connection, f"t{n}", columns, list(range(2, len(rows) + 2)))
        count = run_select(connection, f"SELECT count(*) FROM t{n}", f"t{n}").rows
        assert count == [(len(rows),)], path.name


def test_comparisons_are_mended_to_the_columns_types():
    from app.rag.table_repairs import repair_types

    types = {"introduced": "DATE", "closed": "BIGINT", "office": "VARCHAR"}
    assert repair_types("SELECT count(*) FROM t WHERE introduced = '2010'", types) == (
        "SELECT COUNT(*) FROM t WHERE YEAR(introduced) = 2010"
    )
    assert repair_types("SELECT 1 FROM t WHERE 2010 <= introduced", types) == (
        "SELECT 1 FROM t WHERE 2010 <= YEAR(introduced)"
    )
    assert repair_types("SELECT 1 FROM t WHERE introduced LIKE '%2010%'", types) == (
        "SELECT 1 FROM t WHERE CAST(introduced AS TEXT) LIKE '%2010%'"
    )
    assert "DOUBLE" in repair_types("SELECT CAST(sum(closed) AS REAL) FROM t", types)
    # A text column, a whole date, and what does not parse are left as written.
    assert repair_types("SELECT 1 FROM t WHERE office = '2010'", types).endswith("'2010'")
    assert "'2010-05-01'" in repair_types("SELECT 1 FROM t WHERE introduced = '2010-05-01'", types)
    assert repair_types("SELEC oops", types) == "SELEC oops"


def test_a_whole_date_is_its_year_when_the_question_names_the_year_alone():
    from app.rag.table_repairs import repair_types

    types = {"launched": "DATE", "name": "VARCHAR"}
    written = "SELECT count(*) FROM t WHERE launched = '1944-04-21'"
    assert repair_types(written, types, "how many ships were launched in 1944?") == (
        "SELECT COUNT(*) FROM t WHERE YEAR(launched) = 1944"
    )
    # The question names the month, or another year: the date as written.
    assert repair_types(written, types, "what was launched on 21 april 1944?") == written
    assert repair_types(written, types, "how many were launched in 1945?") == written
    same = "SELECT name FROM t WHERE launched = (SELECT launched FROM t WHERE name = 'Wave Victor')"
    assert repair_types(
        same, types, "which ship was launched in the same year as wave victor?"
    ) == (
        "SELECT name FROM t WHERE YEAR(launched) = "
        "(SELECT YEAR(launched) FROM t WHERE name = 'Wave Victor')"
    )
    assert repair_types(same, types, "which ship was launched on the same day?") == same


def test_a_question_about_time_steps_the_other_way_through_a_table_listing_the_latest_first():
    from app.rag.table_repairs import column_types, newest_first

    connection = restricted_connection()
    columns = [
        infer_column("Team", ["Greystones", "Maynooth", "Crettyard", "Wolfe Tones"]),
        infer_column("Years won", ["2011", "2009", "2005", "2004"]),
    ]
    create_table(connection, "t", columns, [2, 3, 4, 5])
    types = column_types(connection, "t")

    def answer(sql: str, question: str) -> list:
        mended = newest_first(sql, question, connection, "t", types)
        return [r[0] for r in run_select(connection, mended, "t").rows]

    neighbour = "SELECT team FROM t WHERE row IN (SELECT row - 1 FROM t WHERE team = 'Crettyard')"
    assert answer(neighbour, "which team won previous to crettyard?") == ["Wolfe Tones"]
    ranked = (
        "SELECT team FROM t WHERE row > (SELECT row FROM t WHERE team = 'Crettyard') "
        "ORDER BY row LIMIT 1"
    )
    assert answer(ranked, "which team won after crettyard?") == ["Maynooth"]
    # About the page, an order alone, or over a table listing the earliest first: as written.
    assert answer(neighbour, "which team is listed before crettyard?") == ["Maynooth"]
    latest = "SELECT team FROM t WHERE years_won < 2009 ORDER BY row LIMIT 1"
    assert answer(latest, "which team won the last title before 2009?") == ["Crettyard"]
    oldest = restricted_connection()
    create_table(oldest, "t", list(reversed(columns)), [2, 3, 4, 5])
    assert newest_first(neighbour, "who won before x?", oldest, "t", {"years_won": "VARCHAR"}) == (
        neighbour
    )


def test_what_other_leaves_the_cell_the_question_names_out():
    from app.rag.table_repairs import other_than_named

    named = [("competition", "Central American Championships")]
    question = "the central american championships and what other competition occurred in 2010?"
    written = (
        "SELECT competition FROM t WHERE year = 2010 "
        "AND competition = 'Central American Championships'"
    )
    assert "competition <> 'Central American Championships'" in other_than_named(
        written, question, named
    )
    # A filter on another column than the one answered, or no "other": as written.
    films = "SELECT competition FROM t WHERE venue = 'Central American Championships'"
    assert other_than_named(films, question, [("venue", "Central American Championships")]) == (
        films
    )
    assert other_than_named(written, "what competition occurred in 2010?", named) == written


def test_as_many_rows_as_the_question_asks_for_in_the_files_order():
    from app.rag.table_repairs import as_many_as_asked

    written = "SELECT name FROM t WHERE height <= 80 ORDER BY height"
    assert as_many_as_asked(written, "list two pylons that are at most 80 m high.") == (
        'SELECT name FROM t WHERE height <= 80 ORDER BY "row" LIMIT 2'
    )
    assert as_many_as_asked(written, "name 3 of the highest pylons") == (
        "SELECT name FROM t WHERE height <= 80 ORDER BY height LIMIT 3"
    )
    assert as_many_as_asked(written, "name a pylon at most 80 m high").endswith("LIMIT 1")
    for question in ["which pylons are at most 80 m high?", "list two pylons", "give a list"]:
        limited = written + " LIMIT 1" if question == "list two pylons" else written
        assert as_many_as_asked(limited, question) == limited
    assert as_many_as_asked("SELECT count(*) FROM t", "name two things") == "SELECT count(*) FROM t"


def test_a_query_kept_to_one_of_two_cells_named_is_widened_to_both():
    from app.rag.table_repairs import widen_to_named

    named = [("district", "Angul"), ("district", "Cuttack")]
    one = "SELECT district FROM t WHERE district = 'Angul' ORDER BY population DESC LIMIT 1"
    assert "district IN ('Angul', 'Cuttack')" in widen_to_named(one, named)
    both = "SELECT a - (SELECT a FROM t WHERE district = 'Cuttack') FROM t WHERE district = 'Angul'"
    assert widen_to_named(both, named) == both
    assert widen_to_named(one, named[:1]) == one


def test_the_row_after_or_before_a_named_one_is_its_neighbour_in_the_file():
    from app.rag.table_repairs import adjacent_rows

    named = [("member", "Hon Trish Worth")]
    written = "SELECT member FROM t WHERE member = 'Hon Trish Worth' ORDER BY row LIMIT 1"
    after = adjacent_rows(written, "what member comes next after hon trish worth?", named, "t")
    after = after.replace('"', "")
    assert "WHERE row IN (SELECT row + 1 FROM t WHERE member = 'Hon Trish Worth')" in after
    assert "ORDER BY" not in after
    before = adjacent_rows(written, "who is listed before Hon Trish Worth?", named, "t")
    before = before.replace('"', "")
    assert "SELECT row - 1" in before
    alphabet = "SELECT member FROM t WHERE member < 'Hon Trish Worth' ORDER BY member DESC LIMIT 1"
    before = adjacent_rows(alphabet, "who is listed before hon trish worth?", named, "t")
    assert 'SELECT "row" - 1' in before and "ORDER BY" not in before
    # No neighbour asked for, or no filter on the cell named: as written.
    assert adjacent_rows(written, "what did hon trish worth win?", named, "t") == written
    other = "SELECT member FROM t WHERE majority > 2"
    assert adjacent_rows(other, "who is after hon trish worth?", named, "t") == other


@pytest.fixture
def medals():
    connection = restricted_connection()
    columns = [
        infer_column("Nation", ["United States", "Jamaica", "Total"]),
        infer_column("Gold", ["5", "4", "16"]),
        infer_column("Result", ["W 21–3", "L 10–14", "W 7–0"]),
        infer_column("Introduced", ["May 2010", "2010", "2001"]),
    ]
    create_table(connection, "t", columns, [2, 3, 4])
    return connection


def test_a_summary_row_is_left_out_unless_a_query_names_it(medals):
    from app.rag.table_repairs import column_types, summary_rows, without_summary_rows

    totals = summary_rows(medals, "t", column_types(medals, "t"))
    assert totals == [4]
    for written, expected in [
        ("SELECT nation FROM t ORDER BY gold DESC LIMIT 1", [("United States",)]),
        ("SELECT sum(gold) FROM t", [(9,)]),
        (
            "SELECT m.nation FROM t AS m WHERE m.gold = (SELECT max(gold) FROM t)",
            [("United States",)],
        ),
        ("SELECT gold FROM t WHERE nation = 'Total'", [(16,)]),  # named: as written
    ]:
        mended = without_summary_rows(written, "t", totals)
        assert run_select(medals, mended, "t").rows == expected, mended
    assert without_summary_rows("SELECT 1 FROM t", "t", []) == "SELECT 1 FROM t"


def test_a_value_no_cell_is_finds_the_cells_holding_it_as_a_word(medals):
    from app.rag.table_repairs import column_types, contained_cells

    types = column_types(medals, "t")

    def count(sql: str) -> int:
        return run_select(medals, contained_cells(sql, medals, "t", types), "t").rows[0][0]

    assert count("SELECT count(*) FROM t WHERE result = 'W'") == 2
    assert count("SELECT count(*) FROM t WHERE 'l' = result") == 1
    # A year finds "May 2010" besides the cell "2010"; written as a number too.
    assert count("SELECT count(*) FROM t WHERE introduced = '2010'") == 2
    assert count("SELECT count(*) FROM t WHERE introduced = 2010") == 2
    # A value some cell is, one no cell holds, and a number column: as written.
    for written in [
        "SELECT count(*) FROM t WHERE result = 'L 10–14'",
        "SELECT count(*) FROM t WHERE result = 'D'",
        "SELECT count(*) FROM t WHERE gold = 5",
    ]:
        assert contained_cells(written, medals, "t", types) == written


def test_a_value_spelt_closely_like_one_cell_is_that_cell():
    from app.rag.table_names import resolve_values
    from app.rag.table_repairs import column_types

    connection = restricted_connection()
    columns = [
        infer_column("Team", ["Crettyard", "Greystones", "Wolfe Tones", "Wolfe Tone"]),
        infer_column("Season", ["2004–05", "2005–06", "2006–07", "2007–08"]),
        infer_column("Wins", ["3", "1", "2", "4"]),
    ]
    create_table(connection, "t", columns, [2, 3, 4, 5])
    types = column_types(connection, "t")
    for written, mended in [
        (
            "SELECT wins FROM t WHERE team = 'Crettary'",
            "SELECT wins FROM t WHERE team = 'Crettyard'",
        ),
        (
            "SELECT team FROM t WHERE season IN ('2004-05', '2005-06')",
            "SELECT team FROM t WHERE season IN ('2004–05', '2005–06')",
        ),
        (
            "SELECT count(*) FROM t WHERE 'greystone' <> team",
            "SELECT COUNT(*) FROM t WHERE 'Greystones' <> team",
        ),
    ]:
        assert resolve_values(written, connection, "t", types) == mended
    for unchanged in [
        "SELECT wins FROM t WHERE team = 'crettyard'",  # the database ignores case already
        "SELECT wins FROM t WHERE team = 'Wolfe Tonez'",  # two cells as close: which?
        "SELECT wins FROM t WHERE team = 'Dublin'",  # no cell is close
        "SELECT team FROM t WHERE wins = '3'",  # a number column
        "SELECT team FROM t WHERE team LIKE 'Cret%'",
    ]:
        assert resolve_values(unchanged, connection, "t", types) == unchanged


def test_a_cell_kept_equal_to_two_values_at_once_is_either():
    from app.rag.table_repairs import either_value

    assert either_value("SELECT a - a FROM t WHERE seat = 'Hindmarsh' AND seat = 'Hinkler'") == (
        "SELECT a - a FROM t WHERE seat IN ('Hindmarsh', 'Hinkler')"
    )
    assert either_value("SELECT a FROM t WHERE x > 1 AND s = 'A' AND y = 2 AND s = 'B'") == (
        "SELECT a FROM t WHERE x > 1 AND y = 2 AND s IN ('A', 'B')"
    )
    for unchanged in [
        "SELECT a FROM t WHERE s = 'A' AND y = 'B'",
        "SELECT a FROM t WHERE s = 'A' AND s = 'a'",  # the same value, as the database compares
        "SELECT a FROM t WHERE s = 'A' OR s = 'B'",
    ]:
        assert either_value(unchanged) == unchanged


def test_the_row_column_written_bare_before_a_comparison_is_quoted():
    from app.rag.table_names import resolve_names

    written = (
        "SELECT venue FROM t WHERE row < (SELECT min(row) FROM t WHERE venue = 'row < 2') "
        "ORDER BY ROW DESC LIMIT 1"
    )
    assert resolve_names(written, "t", ["venue"]) == (
        'SELECT venue FROM t WHERE "row" < (SELECT MIN("row") FROM t '
        "WHERE venue = 'row < 2') ORDER BY \"row\" DESC LIMIT 1"
    )
    assert resolve_names("SELECT row FROM t WHERE row = 2", "t", ["venue"]) == (
        "SELECT row FROM t WHERE row = 2"
    )


def test_a_text_column_of_numbers_is_read_as_numbers_where_a_query_uses_it_as_one():
    from app.rag.table_numbers import as_numbers
    from app.rag.table_repairs import column_types

    connection = restricted_connection()
    columns = [
        infer_column("Name", ["IDS Tower", "Wells Fargo", "Capella", "Foshay", "Rand", "Totals"]),
        infer_column("Height ft (m)", ["792 (241)", "775 (236)", "99 (30)", "447", "101", ""]),
        infer_column("Killed", ["26,277 killed", "3,500", "4,100 killed", "5", "7", "n/d"]),
        infer_column("Car", ["54", "54", "7", "1", "2", "Totals"]),
    ]
    create_table(connection, "t", columns, [2, 3, 4, 5, 6, 7])
    types = column_types(connection, "t")
    assert types["height_ft (number)"] == "BIGINT" and types["height_ft"] == "VARCHAR"

    def rows(sql: str) -> list[tuple]:
        return run_select(connection, as_numbers(sql, types), "t").rows

    assert rows("SELECT name, height_ft FROM t ORDER BY height_ft DESC LIMIT 1") == [
        ("IDS Tower", "792 (241)")  # ordered by the numbers, shown as written
    ]
    assert rows("SELECT CAST(height_ft AS INT) FROM t WHERE name = 'IDS Tower'") == [(792,)]
    assert rows("SELECT count(*) FROM t WHERE killed BETWEEN 3000 AND 4200") == [(2,)]
    assert rows("SELECT count(*) FROM t WHERE killed BETWEEN '3,000' AND '4,200'") == [(2,)]
    assert rows("SELECT max(height_ft) FROM t") == [(792,)]
    assert rows("SELECT name FROM t WHERE height_ft > '500' ORDER BY row") == [
        ("IDS Tower",),
        ("Wells Fargo",),
    ]
    assert rows("SELECT count(*) FROM t WHERE car - 1 = 53") == [(2,)]
    assert rows("SELECT count(*) FROM t AS x WHERE x.car > (SELECT car FROM t WHERE row = 4)") == [
        (2,)
    ]
    # Equal to a text value, or to a text cell, it is the cell as written.
    for unchanged in [
        "SELECT name FROM t WHERE car = '54'",
        "SELECT name FROM t WHERE car = (SELECT car FROM t WHERE name = 'Capella')",
        "SELECT height_ft FROM t",
        "SELECT name FROM t WHERE height_ft > 'abc'",
    ]:
        assert as_numbers(unchanged, types) == unchanged


def test_values_in_a_list_no_cell_is_find_the_cells_holding_them(medals):
    from app.rag.table_repairs import column_types, contained_cells

    types = column_types(medals, "t")
    mended = contained_cells(
        "SELECT count(*) FROM t WHERE result IN ('W', 'L 10–14')", medals, "t", types
    )
    assert run_select(medals, mended, "t").rows == [(3,)]
    unchanged = "SELECT count(*) FROM t WHERE result IN ('L 10–14', 'D')"
    assert contained_cells(unchanged, medals, "t", types) == unchanged


def test_values_ranked_by_an_aggregate_are_grouped():
    from app.rag.table_repairs import grouped_for_order

    assert grouped_for_order("SELECT team FROM t ORDER BY count(*) DESC LIMIT 1") == (
        "SELECT team FROM t GROUP BY team ORDER BY COUNT(*) DESC LIMIT 1"
    )
    for unchanged in [
        "SELECT team FROM t GROUP BY team ORDER BY count(*) DESC",
        "SELECT count(*) FROM t ORDER BY count(*)",
        "SELECT team FROM t ORDER BY wins",
        "SELECT * FROM t ORDER BY count(*)",
    ]:
        assert grouped_for_order(unchanged) == unchanged
