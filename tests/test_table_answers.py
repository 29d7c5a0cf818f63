"""Answering over a table by a query: the rows cited, the retry with the error, the fallback.
The LLM here is scripted (its replies are given); the real model is tested end to end."""

import pytest

from app.llm.base import LLM, Completion, GenerationParams, Message
from app.rag.table_answers import NotComputed, TableAnswerer
from app.rag.table_questions import table_description
from app.rag.table_sql import create_table, restricted_connection
from ingest.table_types import infer_column


class ScriptedLLM(LLM):
    name = "scripted"

    def __init__(self, replies: list[str]):
        self.replies = list(replies)
        self.calls: list[list[Message]] = []

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        self.calls.append(messages)
        return Completion(self.replies.pop(0), self.name, 1, 1)


@pytest.fixture
def tickets():
    columns = [
        infer_column("Office", ["Berlin", "Berlin", "Paris", "Berlin"]),
        infer_column("Month", ["May", "June", "May", "May"]),
        infer_column("Closed", ["41", "38", "29", "1,002"]),
    ]
    connection = restricted_connection()
    rows = [2, 3, 4, 5]
    create_table(connection, "tickets", columns, rows)
    return connection, table_description("tickets", columns, rows)


def test_a_count_cites_the_rows_its_where_keeps(tickets):
    connection, description = tickets
    llm = ScriptedLLM(
        [
            '```sql\nSELECT sum("Closed") FROM tickets '
            "WHERE \"Office\" = 'Berlin' AND \"Month\" = 'May'\n```"
        ]
    )
    answer = TableAnswerer(llm).answer(
        "How many did Berlin close in May?", connection, "tickets", description
    )
    assert answer.values == ["1043"] and answer.rows == [2, 5] and answer.row_count == 2
    assert (
        answer.attempts == 1
        and "Question: How many did Berlin close in May?" in llm.calls[0][1]["content"]
    )


def test_a_ranking_cites_the_rows_it_returns(tickets):
    connection, description = tickets
    llm = ScriptedLLM(['SELECT "Office", row FROM tickets ORDER BY "Closed" DESC LIMIT 1'])
    answer = TableAnswerer(llm).answer(
        "Which office closed the most?", connection, "tickets", description
    )
    assert answer.values == ["Berlin"] and answer.rows == [5]


def test_an_aggregate_over_everything_cites_every_row(tickets):
    connection, description = tickets
    llm = ScriptedLLM(['SELECT avg("Closed") FROM tickets'])
    answer = TableAnswerer(llm).answer("average closed?", connection, "tickets", description)
    assert answer.rows == [2, 3, 4, 5] and answer.row_count == 4


def test_a_failed_query_is_retried_once_with_its_error(tickets):
    connection, description = tickets
    llm = ScriptedLLM(
        [
            "SELECT count(*) FROM tickets WHERE \"City\" = 'Paris'",
            "SELECT count(*) FROM tickets WHERE \"Office\" = 'Paris'",
        ]
    )
    answer = TableAnswerer(llm).answer("how many in Paris?", connection, "tickets", description)
    assert answer.values == ["1"] and answer.attempts == 2 and answer.rows == [4]
    assert "City" in llm.calls[1][-1]["content"]


def test_two_failures_fall_back_with_the_reason(tickets):
    connection, description = tickets
    llm = ScriptedLLM(["DROP TABLE tickets", "I do not know."])
    with pytest.raises(NotComputed, match="failed twice"):
        TableAnswerer(llm).answer("how many?", connection, "tickets", description)
    assert connection.execute("SELECT count(*) FROM tickets").fetchone() == (4,)


def test_a_ranking_without_the_row_column_cites_the_row_it_picked(tickets):
    connection, description = tickets
    llm = ScriptedLLM(
        ['SELECT "Office" FROM tickets WHERE "Month" = \'May\' ORDER BY "Closed" DESC LIMIT 1']
    )
    answer = TableAnswerer(llm).answer(
        "Which office closed the most in May?", connection, "tickets", description
    )
    assert answer.values == ["Berlin"] and answer.rows == [5] and answer.row_count == 1
