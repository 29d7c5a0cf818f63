"""Telling computed questions apart, and the prompt and reply of the query an LLM writes."""

import csv

import pytest

from app.eval.datasets import load_wtq
from app.rag.table_names import resolve_names
from app.rag.table_questions import (
    asks_for_computation,
    asks_for_count,
    extract_sql,
    sql_messages,
    sum_columns,
    table_description,
)
from ingest.table_types import infer_column

from .conftest import ROOT

WTQ = ROOT.parent / "shared" / "datasets" / "wtq-sample"


@pytest.mark.parametrize(
    "question",
    [
        "How many tickets did the Berlin office close in May?",
        "Which supplier had the highest price?",
        "What is the average delivery time?",
        "total revenue of 2023",
        "who finished last?",
    ],
)
def test_questions_that_ask_for_a_computation(question):
    assert asks_for_computation(question)


@pytest.mark.parametrize(
    "question",
    ["How do I install Sourced?", "What does SOURCED_OCR do?", "Why is the index immutable?"],
)
def test_questions_that_ask_for_a_passage(question):
    assert not asks_for_computation(question)


def test_most_wikitablequestions_questions_are_seen_as_computed():
    if not WTQ.is_dir():
        pytest.skip("../shared/datasets is not there")
    questions = load_wtq(WTQ).questions
    share = sum(asks_for_computation(q.text) for q in questions) / len(questions)
    assert share >= 0.8, share


def test_the_llm_sees_the_schema_with_types_and_a_few_rows():
    path = WTQ / "csv" / "204-csv" / "772.csv"
    if not path.is_file():
        pytest.skip("../shared/datasets is not there")
    header, *rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    columns = [infer_column(n, [r[i] for r in rows]) for i, n in enumerate(header)]
    text = table_description("teams", columns, list(range(2, len(rows) + 2)))
    assert text.startswith(f"Table teams ({len(rows)} rows)")
    assert "- wins (integer)" in text and "- team (text)" in text
    # Few values are listed, so a filter can name one as the table writes it.
    assert "- county (text; one of: Dublin, Kildare, Laois, Louth" in text
    assert "2 | Greystones | Wicklow | 1 | 2011" in text
    assert len(text.split("First rows:")[1].strip().splitlines()) == 1 + 5


def test_a_failed_query_goes_back_with_its_error():
    first = sql_messages("how many teams?", "Table t")
    assert [m["role"] for m in first] == ["system", "user"]
    again = sql_messages("how many teams?", "Table t", ("SELECT nope FROM t", "no column nope"))
    assert [m["role"] for m in again] == ["system", "user", "assistant", "user"]
    assert "no column nope" in again[-1]["content"] and "SELECT nope" in again[2]["content"]


@pytest.mark.parametrize(
    ("reply", "sql"),
    [
        ('```sql\nSELECT count(*) FROM "t";\n```', 'SELECT count(*) FROM "t"'),
        ("Here it is:\n```\nSELECT 1 FROM t\n```\nDone.", "SELECT 1 FROM t"),
        ("The query is SELECT max(a) FROM t; it returns the maximum.", "SELECT max(a) FROM t"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT 1) SELECT * FROM x"),
        ("I cannot answer that.", "I cannot answer that."),
    ],
)
def test_the_sql_is_taken_from_the_reply(reply, sql):
    assert extract_sql(reply) == sql


def test_names_written_wrongly_are_mended_to_the_tables():
    columns = ["school", "runners_up", "shared_titles", "height_m", "district"]
    cases = {
        'SELECT School FROM t4 ORDER BY "Shared Titles" DESC LIMIT 1': (
            "SELECT school FROM t ORDER BY shared_titles DESC LIMIT 1"
        ),
        'SELECT "Runners-Up" FROM t WHERE "School" = "Royal School, Armagh"': (
            "SELECT runners_up FROM t WHERE school = 'Royal School, Armagh'"
        ),
        "SELECT a.height - b.Height FROM t AS a JOIN other AS b ON a.row = b.row": (
            "SELECT a.height_m - b.height_m FROM t AS a JOIN t AS b ON a.row = b.row"
        ),
        "SELECT count(*) AS total FROM t ORDER BY total": (
            "SELECT COUNT(*) AS total FROM t ORDER BY total"
        ),
        "SELECT nothing_like_it FROM t": "SELECT nothing_like_it FROM t",
        "SELECT (": "SELECT (",
    }
    for written, mended in cases.items():
        assert resolve_names(written, "t", columns) == mended


def test_the_cells_a_question_names_are_shown_with_their_columns():
    from app.rag.table_questions import named_cells
    from app.rag.table_sql import create_table, restricted_connection

    columns = [
        infer_column("School", ["Coleraine Academical Institution", "Royal School Dungannon"]),
        infer_column("Location", ["Coleraine", "Dungannon"]),
        infer_column("Titles", ["3", "5"]),
    ]
    connection = restricted_connection()
    create_table(connection, "cup", columns, [2, 3])
    question = "difference in titles between coleraine academical institution and dungannon?"
    named = named_cells(connection, "cup", question)
    assert named == [("school", "Coleraine Academical Institution"), ("location", "Dungannon")]
    messages = sql_messages(question, "Table cup", named=named)
    assert (
        "Cells the question names: school = 'Coleraine Academical Institution'; "
        in (messages[1]["content"])
    )
    assert named_cells(connection, "cup", "how many schools?") == []


def test_a_cell_is_named_without_its_bracketed_note_and_a_column_is_not_a_cell():
    from app.rag.table_questions import named_cells
    from app.rag.table_sql import create_table, restricted_connection

    columns = [
        infer_column("Nation", ["Jamaica (JAM)", "Total"]),
        infer_column("Total", ["4", "9"]),
    ]
    connection = restricted_connection()
    create_table(connection, "medals", columns, [2, 3])
    named = named_cells(connection, "medals", "what is the total number won by jamaica?")
    assert named == [("nation", "Jamaica (JAM)")]


def test_a_word_of_a_column_or_a_generic_name_finds_its_column():
    columns = ["selected_countries", "shared_titles", "total"]
    assert resolve_names("SELECT country FROM t WHERE tot > 2", "t", columns) == (
        "SELECT selected_countries FROM t WHERE total > 2"
    )
    assert resolve_names("SELECT name FROM t", "t", ["school", "wins"], entity="school") == (
        "SELECT school FROM t"
    )
    assert resolve_names("SELECT name FROM t", "t", ["school", "wins"]) == "SELECT name FROM t"


def test_a_ranking_by_a_number_of_things_is_not_a_count():
    assert asks_for_count("how many ships were launched in 1944?")
    assert asks_for_count("what is the number of products introduced in 2010?")
    assert not asks_for_count("which schools have the largest number of shared titles?")
    assert not asks_for_count("who has the most number of wins?")


def test_a_summary_row_is_pointed_out_to_the_llm():
    columns = [infer_column("Nation", ["Jamaica", "Total"]), infer_column("Gold", ["4", "16"])]
    text = table_description("medals", columns, [2, 3])
    assert "Row 3 totals the others: queries leave it out unless they name it." in text
    plain = table_description("medals", columns[1:], [2, 3])
    assert "totals the others" not in plain


def test_a_column_totalling_the_ones_before_it_is_pointed_out_to_the_llm():
    columns = [
        infer_column("Rank", ["1", "2", "3", "4"]),
        infer_column("Gold", ["10", "4", "0", "0"]),
        infer_column("Silver", ["3", "4", "1", "0"]),
        infer_column("Bronze", ["2", "", "1", "1"]),  # a blank cell: the row is not compared
        infer_column("Total", ["15", "8", "2", "1"]),
    ]
    assert sum_columns(columns) == {"total": ["gold", "silver", "bronze"]}
    assert "- total (integer; gold + silver + bronze in each row)" in table_description(
        "medals", columns, [2, 3, 4, 5]
    )
    columns[4] = infer_column("Total", ["15", "9", "2", "2"])  # a row that does not add up
    assert sum_columns(columns) == {}


def test_two_copies_of_the_table_get_the_names_a_query_uses_for_them():
    columns = ["school", "finals"]
    assert resolve_names(
        "SELECT t.finals > t6.finals FROM t JOIN t ON t.school = t6.school", "t", columns
    ) == ("SELECT t.finals > t6.finals FROM t AS t JOIN t AS t6 ON t.school = t6.school")
    assert resolve_names(
        "SELECT t.finals > t6.finals FROM t AS a JOIN t AS b ON a.school = b.school", "t", columns
    ) == ("SELECT a.finals > b.finals FROM t AS a JOIN t AS b ON a.school = b.school")
    unchanged = "SELECT a.finals FROM t AS a JOIN t AS b ON a.school = b.school"
    assert resolve_names(unchanged, "t", columns) == unchanged
