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
    with pytest.raises(NotComputed, match="no query written for the table worked"):
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


def test_how_many_answered_with_the_rows_is_their_number(tickets):
    connection, description = tickets
    llm = ScriptedLLM(["SELECT office FROM tickets WHERE closed > 30"])
    answer = TableAnswerer(llm).answer(
        "How many offices closed more than 30?", connection, "tickets", description
    )
    assert answer.values == ["3"] and answer.counted == 3 and answer.rows == [2, 3, 5]
    # Not for a question that asks which, nor for numbers that are the answer themselves.
    which = TableAnswerer(ScriptedLLM(["SELECT office FROM tickets WHERE closed > 30"]))
    assert which.answer(
        "Which closed more than 30?", connection, "tickets", description
    ).values == [
        "Berlin",
        "Berlin",
        "Berlin",
    ]


def test_how_many_answered_with_amounts_is_their_sum_by_the_query_shown(tickets):
    connection, description = tickets
    sums = TableAnswerer(ScriptedLLM(["SELECT closed FROM tickets WHERE office = 'Berlin'"]))
    answer = sums.answer("How many did Berlin close?", connection, "tickets", description)
    assert answer.values == ["1081"] and answer.counted is None and answer.rows == [2, 3, 5]
    assert answer.sql == "SELECT SUM(closed) FROM tickets WHERE office = 'Berlin'"


def test_a_difference_is_its_size(tickets):
    connection, description = tickets
    llm = ScriptedLLM(
        [
            "SELECT (SELECT closed FROM tickets WHERE row = 4) - closed AS gap "
            "FROM tickets WHERE row = 2"
        ]
    )
    answer = TableAnswerer(llm).answer(
        "What is the difference between rows 2 and 4?", connection, "tickets", description
    )
    assert answer.values == ["12"] and answer.sql.startswith("SELECT ABS(")


def test_candidates_answer_what_most_of_them_agree_on(tickets):
    connection, description = tickets
    berlin = "SELECT office FROM tickets ORDER BY closed DESC LIMIT 1"
    paris = "SELECT office FROM tickets ORDER BY closed LIMIT 1"
    llm = ScriptedLLM([paris, berlin, "SELECT nonsense FROM nowhere", berlin])
    answerer = TableAnswerer(llm, candidates=4)
    answer = answerer.answer("Which office closed most?", connection, "tickets", description)
    assert answer.values == ["Berlin"] and answer.attempts == 4 and answer.rows == [5]
    # A tie goes to the first written, the greedy one.
    llm = ScriptedLLM([paris, berlin])
    tie = TableAnswerer(llm, candidates=2).answer("Which?", connection, "tickets", description)
    assert tie.values == ["Paris"]


def test_the_first_query_is_greedy_and_the_others_sampled_reproducibly(tickets):
    connection, description = tickets
    seen: list[GenerationParams] = []

    class Recording(ScriptedLLM):
        def complete(self, messages, params):
            seen.append(params)
            return super().complete(messages, params)

    llm = Recording(["SELECT count(*) FROM tickets"] * 3)
    TableAnswerer(llm, candidates=3).answer("How many?", connection, "tickets", description)
    assert seen[0].temperature == 0
    assert all(p.temperature > 0 for p in seen[1:]) and seen[1].seed != seen[2].seed


def test_a_query_that_finds_nothing_is_tried_again(tickets):
    connection, description = tickets
    llm = ScriptedLLM(
        [
            "SELECT closed FROM tickets WHERE office = 'Rome'",
            "SELECT closed FROM tickets WHERE office = 'Paris'",
        ]
    )
    answer = TableAnswerer(llm).answer("Paris closed?", connection, "tickets", description)
    assert answer.values == ["29"] and answer.attempts == 2
    assert "it found nothing" in llm.calls[1][-1]["content"]


def test_a_query_with_an_alias_cites_the_rows_its_where_keeps(tickets):
    connection, description = tickets
    llm = ScriptedLLM(["SELECT count(*) FROM tickets AS t1 WHERE t1.office = 'Paris'"])
    answer = TableAnswerer(llm).answer("How many in Paris?", connection, "tickets", description)
    assert answer.values == ["1"] and answer.rows == [4]


def test_a_count_of_zero_is_tried_again_and_stands_when_nothing_better_is_found(tickets):
    connection, description = tickets
    rome = "SELECT count(*) FROM tickets WHERE office = 'Rome'"
    llm = ScriptedLLM([rome, "SELECT count(*) FROM tickets WHERE office = 'Paris'"])
    answer = TableAnswerer(llm).answer("How many in Paris?", connection, "tickets", description)
    assert answer.values == ["1"] and answer.attempts == 2
    assert "it counted nothing" in llm.calls[1][-1]["content"]
    # Written the same way twice, the zero is the answer: some counts are zero.
    again = TableAnswerer(ScriptedLLM([rome, rome]))
    assert again.answer("How many in Rome?", connection, "tickets", description).values == ["0"]


def test_the_columns_a_query_ranks_or_filters_by_are_shown_not_answered(tickets):
    connection, description = tickets
    ranked = "SELECT office, closed FROM tickets ORDER BY closed DESC LIMIT 1"
    answer = TableAnswerer(ScriptedLLM([ranked])).answer(
        "Which office closed the most?", connection, "tickets", description
    )
    assert answer.values == ["Berlin"] and answer.result.columns == ["office", "closed"]
    looked_up = "SELECT office, closed FROM tickets WHERE office = 'Paris'"
    answer = TableAnswerer(ScriptedLLM([looked_up])).answer(
        "What did Paris close?", connection, "tickets", description
    )
    assert answer.values == ["29"]


def test_a_difference_answered_with_the_two_numbers_is_theirs(tickets):
    connection, description = tickets
    both = "SELECT closed - closed FROM tickets WHERE row = 2 OR row = 4"
    answer = TableAnswerer(ScriptedLLM([both])).answer(
        "How many more did row 2 close than row 4?", connection, "tickets", description
    )
    assert answer.values == ["12"] and answer.rows == [2, 4]
    assert answer.sql.startswith("SELECT ABS(MAX(closed) - MIN(closed))")


@pytest.fixture
def medals():
    columns = [
        infer_column("Nation", ["China", "France", "Egypt"]),
        infer_column("Gold", ["37", "11", "2"]),
        infer_column("Silver", ["28", "9", "1"]),
        infer_column("Total", ["65", "20", "3"]),
    ]
    connection = restricted_connection()
    rows = [2, 3, 4]
    create_table(connection, "medals", columns, rows)
    description = table_description("medals", columns, rows)
    return connection, description, {"total": ["gold", "silver"]}


@pytest.mark.parametrize(
    "question, value",
    [
        ("How many more gold medals does China have over France?", "26"),
        ("China has how many more medals than France?", "45"),  # no column named: the total
    ],
)
def test_how_many_more_between_two_named_rows_is_the_difference_of_the_number_named(
    medals, question, value
):
    connection, description, sums = medals
    written = "SELECT nation, gold - silver FROM medals WHERE nation IN ('China', 'France')"
    named = [("nation", "China"), ("nation", "France")]
    answer = TableAnswerer(ScriptedLLM([written])).answer(
        question, connection, "medals", description, named=named, sums=sums
    )
    assert answer.values == [value] and answer.rows == [2, 3]
    assert answer.sql.startswith("SELECT ABS(MAX(")


def test_a_lookup_of_a_number_the_question_does_not_name_is_of_the_one_it_names(medals):
    connection, description, sums = medals
    written = "SELECT total FROM medals WHERE nation = 'Egypt'"
    answer = TableAnswerer(ScriptedLLM([written, written])).answer(
        "What is the total number of gold medals won by Egypt?", connection, "medals", description
    )
    assert (
        answer.values == ["2"]
        and answer.sql == "SELECT \"gold\" FROM medals WHERE nation = 'Egypt'"
    )
    answer = TableAnswerer(ScriptedLLM([written])).answer(
        "How many medals did Egypt win in total?", connection, "medals", description
    )
    assert answer.values == ["3"]


def test_of_the_values_a_question_offers_the_one_found_is_the_answer(medals):
    connection, description, _ = medals
    written = (
        "SELECT nation, CASE WHEN gold > silver THEN 'gold' ELSE 'silver' END AS more "
        "FROM medals WHERE nation = 'Egypt'"
    )
    answer = TableAnswerer(ScriptedLLM([written])).answer(
        "Did Egypt win more gold or silver?", connection, "medals", description
    )
    assert answer.values == ["gold"]


def test_the_answer_most_queries_support_wins_and_a_measure_is_not_counted(tickets):
    connection, description = tickets
    # Three queries: two give Berlin with an extra number each, one Berlin alone; the
    # answer is the one every value of which the others give too.
    llm = ScriptedLLM(
        [
            'SELECT "Office", "Closed" FROM tickets ORDER BY "Closed" DESC LIMIT 1',
            'SELECT "Office", "Month" FROM tickets ORDER BY "Closed" DESC LIMIT 1',
            'SELECT "Office" FROM tickets ORDER BY "Closed" DESC LIMIT 1',
        ]
    )
    answer = TableAnswerer(llm, candidates=3).answer(
        "Which office closed the most?", connection, "tickets", description
    )
    assert answer.values == ["Berlin"] and answer.rows == [5]
    # "How many months" answered with cells that are months is those cells, not their count.
    sql = "SELECT DISTINCT \"Closed\" || ' tickets' FROM tickets WHERE \"Office\" = 'Berlin'"
    answer = TableAnswerer(ScriptedLLM([sql])).answer(
        "Berlin closed how many tickets a month?", connection, "tickets", description
    )
    assert answer.counted is None and sorted(answer.values) == [
        "1002 tickets",
        "38 tickets",
        "41 tickets",
    ]
    listed = 'SELECT DISTINCT "Month" FROM tickets WHERE "Office" = \'Berlin\''
    answer = TableAnswerer(ScriptedLLM([listed])).answer(
        "In how many months did Berlin close tickets?", connection, "tickets", description
    )
    assert answer.values == ["2"]


def test_a_date_is_given_as_the_table_writes_it():
    columns = [
        infer_column("Ship", ["Wave Duke", "Wave Emperor"]),
        infer_column("Launched", ["30 September 1943", "16 October 1944"]),
    ]
    connection = restricted_connection()
    create_table(connection, "ships", columns, [2, 3])
    llm = ScriptedLLM(['SELECT min("launched") FROM ships'])
    answer = TableAnswerer(llm).answer(
        "when was the first ship launched?",
        connection,
        "ships",
        table_description("ships", columns, [2, 3]),
        dates=columns[1].written,
    )
    assert answer.values == ["30 September 1943"]
