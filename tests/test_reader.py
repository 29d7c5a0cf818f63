"""Short answers checked against their passages, on hand-made cases (no model)."""

import pytest

from app.llm.repetition import repeated_from
from app.rag.reader import Passage, clean, locate, says_not_found, wants_short_answer
from app.rag.retriever import Hit
from ingest.sentences import Span
from ingest.units import Chunk, Source

TEXT = (
    "Six lines run out of Downtown Los Angeles. The Metro was opened in 1990 and cost "
    "1,200 million dollars. It carries about 300,000 riders on a weekday."
)


def given(text: str = TEXT) -> tuple[list[Passage], list[Hit]]:
    hits = [Hit(Chunk("c1", "metro.md", text, 0, len(text), Source()), 1.0)]
    return [Passage(1, Span(0, len(text), text))], hits


@pytest.mark.parametrize(
    ("question", "short"),
    [
        ("Who founded the Normans?", True),
        ("When was the Metro opened?", True),
        ("How many lines run out of Downtown?", True),
        ("What is the largest file Sourced reads?", True),
        ("The Normans lived in which country?", True),
        ("How do I install Sourced?", False),
        ("Why does an answer cite an odd source?", False),
        ("Explain what the evidence threshold does.", False),
        ("Compare the dense and bm25 modes", False),
        ("What are the steps to add an API key?", False),
        ("Summarize the release notes", False),
    ],
)
def test_questions_of_fact_get_short_answers(question, short):
    assert wants_short_answer(question) is short


@pytest.mark.parametrize(
    ("reply", "phrase", "quote_starts"),
    [
        ("Six", "Six", "Six lines"),
        ("6", "Six", "Six lines"),  # a number written another way
        ("in 1990.", "in 1990", "The Metro"),
        ('"the metro"', "The Metro", "The Metro"),
        ("1200 million dollars", "1,200 million dollars", "The Metro"),
        ("Answer: 300,000 riders [1]", "300,000 riders", "It carries"),
        ("riders weekday 300,000", "riders weekday 300,000", "It carries"),  # by its words
    ],
)
def test_a_phrase_is_found_in_its_passage_with_the_sentence_that_holds_it(
    reply, phrase, quote_starts
):
    passages, hits = given()
    found = locate(reply, passages, hits)
    assert found is not None and found.text == phrase and found.hit_number == 1
    assert found.quote.text.startswith(quote_starts)
    assert TEXT[found.quote.start : found.quote.end] == found.quote.text
    assert found.quote.text.endswith(".")


@pytest.mark.parametrize(
    "reply", ["Seven", "in 1991", "Downtown San Diego", "2,000 riders", "", "[1]"]
)
def test_a_phrase_the_passage_does_not_hold_is_not_found(reply):
    assert locate(reply, *given()) is None


def test_only_the_given_part_of_a_chunk_counts():
    passages, hits = given()
    first = Span(0, 41, TEXT[:41])
    assert locate("Six", [Passage(1, first)], hits) is not None
    assert locate("1990", [Passage(1, first)], hits) is None


@pytest.mark.parametrize(
    ("reply", "silent"),
    [
        ("NOT FOUND", True),
        ("Not found.", True),
        ("The text does not mention it.", True),
        ("Not mentioned", True),
        ("Found in 1990", False),
        ("Notre-Dame", False),
    ],
)
def test_a_reply_that_the_text_is_silent_is_recognised(reply, silent):
    assert says_not_found(reply) is silent


def test_a_reply_is_cleaned_to_its_phrase():
    assert clean('  "Rollo".\nHe led them.') == "Rollo"
    assert clean("The answer is: Rollo [2]") == "Rollo"


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("Run make run. Then ask. Run make run. Then ask.", 23),
        ("I like green tea. I like green tea.", 17),
        ("Sourced reads PDFs. It also reads DOCX files.", None),
        ("ok. ok. ok.", None),  # too short to call a repetition
    ],
)
def test_an_answer_that_repeats_itself_is_cut_where_it_starts_over(text, cut):
    assert repeated_from(text) == cut


def test_a_loop_without_full_stops_is_caught():
    text = "the index the index " * 12
    cut = repeated_from(text)
    assert cut is not None and cut < len(text)
