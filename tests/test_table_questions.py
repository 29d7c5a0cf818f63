"""Telling computed questions apart, and the prompt and reply of the query an LLM writes."""

import csv

import pytest

from app.eval.datasets import load_wtq
from app.rag.table_questions import (
    asks_for_computation,
    extract_sql,
    sql_messages,
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
    assert text.startswith(f'Table "teams" ({len(rows)} rows)')
    assert '- "Wins" (integer)' in text and '- "Team" (text)' in text
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
