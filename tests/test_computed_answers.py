"""Answers computed over a table, through /ask in-process, with the real embedder and index:
the route to a table, the response with its query and rows, streaming, and the fallback to
the text when the query fails. The LLM is scripted; tests/test_server_e2e.py asks the real
bundled one through the real server."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.llm.base import LLM, Completion
from app.main import create_app
from app.settings import Settings
from ingest.sync import run_ingest

from .conftest import CountingEmbedder
from .conftest import ask_in_process as ask

TICKETS = """office,month,closed,opened on
Berlin,May,41,2024-05-02
Berlin,June,38,2024-06-01
Paris,May,29,2024-05-03
Berlin,May,"1,002",2024-05-20
Lyon,May,7,2024-05-21
"""
SUM = "SELECT sum(closed) FROM tickets WHERE office = 'berlin' AND month = 'May'"


class SQLWriter(LLM):
    """Replies to a request for SQL with the next scripted query; to anything else, with a
    fixed sentence."""

    name = "sql-writer"
    capable = True

    def __init__(self, queries: list[str]):
        self.queries = list(queries)
        self.sql_calls = 0
        self.other_calls = 0

    def complete(self, messages, params):
        if "SQL SELECT" in messages[0]["content"]:
            self.sql_calls += 1
            return Completion(f"```sql\n{self.queries.pop(0)}\n```", self.name, 10, 10)
        self.other_calls += 1
        return Completion("Berlin closed tickets in May [1].", self.name, 10, 10)


@pytest.fixture(scope="module")
def settings(tmp_path_factory, model):
    root = tmp_path_factory.mktemp("computed")
    (root / "docs").mkdir()
    (root / "docs" / "tickets.csv").write_text(TICKETS)
    (root / "docs" / "faq.json").write_text(
        json.dumps(
            [
                {"question": "Which office opens first?", "answer": "Berlin opens at eight."},
                {"question": "Where is support?", "answer": "Support sits in Lyon."},
            ]
        )
    )
    (root / "docs" / "guide.md").write_text(
        "# Offices\n\nThe Berlin office handles support tickets for Germany.\n"
    )
    settings = Settings(index_dir=root / "indexes", llm_backend="fake", _env_file=None)
    run_ingest([root / "docs"], "default", settings, embedder=CountingEmbedder(model))
    return settings


def test_a_count_over_a_table_is_computed_with_its_query_and_rows(settings):
    llm = SQLWriter([SUM])
    body = ask(settings, llm, question="How many tickets did the Berlin office close in May?")
    assert body["answer_mode"] == "computed" and body["short_answer"] == "1043"
    assert body["answerable"] and body["notice"] is None and llm.other_calls == 0
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 10}
    computation = body["computation"]
    assert computation["document"] == "tickets.csv" and computation["table_name"] == "tickets"
    assert computation["sql"] == (
        "SELECT SUM(closed) FROM tickets WHERE office = 'berlin' AND month = 'May'"
    )
    assert computation["rows"] == [[1043]] and computation["cited_row_count"] == 2
    assert computation["cited_rows"] == [
        {"row": 2, "cells": {"office": "Berlin", "month": "May", "closed": 41,
                             "opened on": "2024-05-02"}},
        {"row": 5, "cells": {"office": "Berlin", "month": "May", "closed": 1002,
                             "opened on": "2024-05-20"}},
    ]  # fmt: skip
    assert computation["table_rows"] == 5
    # The text says it all, for clients that show only text.
    assert body["answer"].startswith("1043\n\nComputed from 2 rows of tickets.csv (rows 2, 5)")
    assert computation["sql"] in body["answer"]


def test_a_streamed_computed_answer_ends_with_the_same_response(settings):
    with TestClient(create_app(settings, llm=SQLWriter([SUM]))) as client:
        response = client.post(
            "/ask", json={"question": "How many did Berlin close in May?", "stream": True}
        )
    events = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    done = events[-1]
    assert done["answer_mode"] == "computed" and done["computation"]["cited_row_count"] == 2


def test_a_query_that_fails_twice_falls_back_to_the_text_with_a_notice(settings):
    llm = SQLWriter(["DROP TABLE tickets", "SELECT nothing FROM elsewhere.tickets"])
    body = ask(settings, llm, question="How many tickets did the Berlin office close in May?")
    assert llm.sql_calls == 2 and body["answer_mode"] != "computed"
    assert body["computation"] is None
    assert body["notice"].startswith("Not computed over the table in tickets.csv:")
    assert "answered from the text" in body["notice"]


def test_what_is_not_a_computation_over_a_table_is_answered_from_the_text(settings):
    # A text question; a text table asked other than for a count; extractive mode.
    for question, mode in [
        ("What does the Berlin office handle?", None),
        ("Which office opens first?", None),
        ("How many tickets did Berlin close in May?", "extractive"),
    ]:
        llm = SQLWriter([])
        body = ask(settings, llm, question=question, answer_mode=mode)
        assert body["answer_mode"] != "computed" and llm.sql_calls == 0, question


def test_a_question_naming_a_cell_of_a_table_with_numbers_is_a_filter(settings):
    llm = SQLWriter(["SELECT closed FROM tickets WHERE office = 'Lyon'"])
    body = ask(settings, llm, question="What did the Lyon office close?")
    assert body["answer_mode"] == "computed" and body["short_answer"] == "7"
    assert [r["row"] for r in body["computation"]["cited_rows"]] == [6]


def test_no_table_answers_when_they_are_turned_off(settings):
    llm = SQLWriter([SUM])
    off = settings.model_copy(update={"table_answers": False})
    body = ask(off, llm, question="How many tickets did the Berlin office close in May?")
    assert body["answer_mode"] != "computed" and llm.sql_calls == 0
