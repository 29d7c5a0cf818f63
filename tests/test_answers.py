"""Answer quality on the sample index, in-process, with the real embedder and index: quotes and
verified citations, the answer modes, "not in the documents", follow-ups and filters. LLMs are
scripted backends registered through the real mechanism."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from app.llm.base import LLM, Completion
from app.main import create_app
from app.rag.citations import check_citations
from app.rag.evidence import EvidenceScorer
from app.rag.pipeline import NOT_FOUND
from app.rag.retriever import Hit
from app.settings import Settings
from ingest.sentences import sentences
from ingest.sync import run_ingest
from ingest.units import Chunk, Source

from .conftest import SAMPLE, CountingEmbedder
from .conftest import ask_in_process as ask

ANSWERABLE = "What happens to a PDF that needs a password to open?"
OFF_TOPIC = "Who won the football world cup in 1998?"


class ScriptedLLM(LLM):
    """Answers with a fixed text; remembers what it was asked."""

    name = "scripted"

    def __init__(self, reply: str, capable: bool = False):
        self.reply = reply
        self.capable = capable
        self.calls: list[list[dict]] = []

    def complete(self, messages, params):
        self.calls.append(messages)
        if "rewrite" in messages[0]["content"].lower():
            return Completion("How do I change the default chunk size?", self.name, 10, 8)
        return Completion(self.reply, self.name, 100, len(self.reply.split()))


@pytest.fixture(scope="module")
def settings(tmp_path_factory, model):
    root = tmp_path_factory.mktemp("answers")
    shutil.copytree(SAMPLE, root / "docs")
    settings = Settings(index_dir=root / "indexes", llm_backend="fake", _env_file=None)
    run_ingest([root / "docs"], "default", settings, embedder=CountingEmbedder(model))
    return settings


# --- sentences and citation checks -------------------------------------------------------


def test_sentences_keep_offsets_and_skip_abbreviations_and_wrapped_lines():
    text = "# Setup\n\nDr. Smith wrote it. It runs on a\nlaptop CPU! Then:\n- install\n- run"
    found = sentences(text)
    assert [s.text for s in found] == [
        "# Setup",
        "Dr. Smith wrote it.",
        "It runs on a\nlaptop CPU!",
        "Then:",
        "- install",
        "- run",
    ]
    assert all(text[s.start : s.end] == s.text for s in found)


def test_a_pdf_line_wrap_does_not_end_a_sentence_but_a_heading_does():
    text = (
        "3. Ingesting documents\nThe command reads every file under PATH: PDF, DOCX,\n"
        "CSV, TSV, JSON and plain text. Hidden files\nare ignored.\nSourced User Guide - page 3"
    )
    assert [s.text for s in sentences(text)] == [
        "3.",
        "Ingesting documents",
        "The command reads every file under PATH: PDF, DOCX,\nCSV, TSV, JSON and plain text.",
        "Hidden files\nare ignored.",
        "Sourced User Guide - page 3",
    ]


def test_a_record_is_quoted_by_the_field_that_answers():
    text = (
        "topic: ingest\nquestion: What is the largest file Sourced reads?\n"
        "answer: Files over 100 MB are skipped by default. Raise SOURCED_MAX_FILE_MB."
    )
    found = sentences(text)
    assert [s.text for s in found] == [
        "topic: ingest",
        "question: What is the largest file Sourced reads?",
        "Files over 100 MB are skipped by default.",
        "Raise SOURCED_MAX_FILE_MB.",
    ]
    assert all(text[s.start : s.end] == s.text for s in found)
    # a spreadsheet row keeps its columns together, one row a sentence
    rows = "setting: top_k; default: 5; meaning: Chunks retrieved.\nsetting: port; default: 8000"
    assert [s.text for s in sentences(rows)] == rows.split("\n")


@pytest.fixture(scope="module")
def scorer(model):
    return EvidenceScorer(CountingEmbedder(model))


def hit(text: str, document: str = "doc.md") -> Hit:
    return Hit(Chunk("c-" + document, document, text, 0, len(text), Source()), 1.0, 0.5)


HITS = [
    hit("Backups run every night at two. They keep thirty days of snapshots.", "backup.md"),
    hit("The web page listens on port 8000. Change it with SOURCED_PORT.", "server.md"),
]


def test_a_supported_citation_is_verified_and_quoted(scorer):
    check = check_citations("Snapshots are kept for thirty days [1].", HITS, scorer, 0.5)
    source = check.checks[1]
    assert source.verified is True and check.grounded == 1.0
    assert source.quote.text == "They keep thirty days of snapshots."
    assert HITS[0].chunk.text[source.quote.start : source.quote.end] == source.quote.text


def test_a_citation_of_the_wrong_source_is_unverified(scorer):
    check = check_citations("Snapshots are kept for thirty days [2].", HITS, scorer, 0.5)
    assert check.checks[2].verified is False and check.grounded == 0.0


def test_an_invented_claim_is_unverified_even_with_a_citation(scorer):
    check = check_citations("Backups are encrypted with AES-512 keys [1].", HITS, scorer, 0.5)
    assert check.checks[1].verified is False and check.grounded == 0.0


def test_an_uncited_supported_claim_gets_its_citation(scorer):
    answer = "The page listens on port 8000. Backups run nightly at two [1]."
    check = check_citations(answer, HITS, scorer, 0.5)
    assert check.answer == "The page listens on port 8000 [2]. Backups run nightly at two [1]."
    assert check.grounded == 1.0 and check.checks[2].verified


def test_markers_after_the_full_stop_belong_to_the_sentence_before(scorer):
    check = check_citations("Backups run every night at two. [1]", HITS, scorer, 0.5)
    assert check.answer == "Backups run every night at two [1]." and check.grounded == 1.0


# --- answer modes ---------------------------------------------------------------------------


def test_extractive_answers_are_verbatim_cited_sentences_without_an_llm(settings):
    llm = ScriptedLLM("never asked")
    body = ask(settings, llm, question=ANSWERABLE, answer_mode="extractive")
    assert llm.calls == [] and body["answer_mode"] == "extractive"
    assert body["grounded"] == 1.0 and body["answerable"] is True
    cited = [s for s in body["sources"] if s["cited"]]
    assert cited and all(s["verified"] for s in cited)
    for source in cited:
        assert source["quote"]["text"].split()[0] in body["answer"]
    assert "password" in body["answer"].lower()


def test_a_quote_points_into_its_chunk(settings):
    body = ask(settings, ScriptedLLM(""), question=ANSWERABLE, answer_mode="extractive")
    source = next(s for s in body["sources"] if s["cited"])
    with TestClient(create_app(settings, llm=ScriptedLLM(""))) as client:
        context = client.get(f"/indexes/default/chunks/{source['chunk_id']}").json()
    text = context["chunks"][context["position"]]["text"]
    quote = source["quote"]
    assert text[quote["start"] : quote["end"]] == quote["text"]


def test_auto_replaces_an_unsupported_answer_with_quotes_and_says_why(settings):
    llm = ScriptedLLM("The moon is made of green cheese [1].")
    body = ask(settings, llm, question=ANSWERABLE, answer_mode="auto")
    assert len(llm.calls) == 1
    assert body["answer_mode"] == "extractive" and "cheese" not in body["answer"]
    assert "not supported" in body["notice"] and body["grounded"] == 1.0


def test_generative_keeps_the_answer_and_flags_the_citation(settings):
    llm = ScriptedLLM("The moon is made of green cheese [1].")
    body = ask(settings, llm, question=ANSWERABLE, answer_mode="generative")
    assert body["answer"] == "The moon is made of green cheese [1]."
    assert body["sources"][0]["verified"] is False and body["grounded"] == 0.0


def test_a_supported_generated_answer_stays_generative(settings):
    reply = "PDFs that need a password to open are skipped [1]."
    body = ask(settings, ScriptedLLM(reply), question=ANSWERABLE, answer_mode="auto")
    assert body["answer_mode"] == "generative" and body["answer"] == reply
    assert body["grounded"] == 1.0 and body["notice"] is None


# --- not in the documents ------------------------------------------------------------------


def test_an_off_topic_question_is_not_answered_and_no_model_is_asked(settings):
    llm = ScriptedLLM("France won [1].")
    body = ask(settings, llm, question=OFF_TOPIC)
    assert llm.calls == []
    assert body["answerable"] is False and body["answer"] == NOT_FOUND
    assert body["answer_mode"] == "none" and body["sources"]  # the nearest ones
    assert body["evidence"] < settings.answerable_threshold and "threshold" in body["notice"]


def test_the_threshold_is_a_setting(settings):
    lenient = settings.model_copy(update={"answerable_threshold": 0.0})
    body = ask(lenient, ScriptedLLM(""), question=OFF_TOPIC, answer_mode="extractive")
    assert body["answerable"] is True


def test_a_capable_model_saying_the_documents_are_silent_is_believed(settings):
    reply = "The documents do not say."
    capable = ask(settings, ScriptedLLM(reply, capable=True), question=ANSWERABLE)
    assert capable["answerable"] is False and capable["answer"] == reply
    tiny = ask(settings, ScriptedLLM(reply, capable=False), question=ANSWERABLE, answer_mode="auto")
    assert tiny["answerable"] is True and tiny["answer_mode"] == "extractive"


def test_unset_the_answer_mode_follows_the_model(settings):
    small = ScriptedLLM("PDFs that need a password to open are skipped [1].")
    assert ask(settings, small, question=ANSWERABLE)["answer_mode"] == "extractive"
    assert small.calls == []
    capable = ScriptedLLM("PDFs that need a password to open are skipped [1].", capable=True)
    assert ask(settings, capable, question=ANSWERABLE)["answer_mode"] == "generative"
    fixed = settings.model_copy(update={"answer_mode": "generative"})
    assert ask(fixed, small, question=ANSWERABLE)["answer_mode"] == "generative"


# --- follow-ups and filters -----------------------------------------------------------------

HISTORY = [
    {"role": "user", "content": "What is the largest file Sourced reads?"},
    {"role": "assistant", "content": "Files over 100 MB are skipped [1]."},
]


def test_a_follow_up_is_rewritten_by_the_heuristic_for_a_small_model(settings):
    body = ask(settings, ScriptedLLM(""), question="How do I raise it?", history=HISTORY,
               answer_mode="extractive")  # fmt: skip
    assert body["query_rewrite"] == "heuristic"
    assert body["query"].startswith("How do I raise it?") and "largest" in body["query"]
    assert "SOURCED_MAX_FILE_MB" in body["answer"]


def test_a_follow_up_is_rewritten_by_a_capable_model(settings):
    llm = ScriptedLLM("", capable=True)
    body = ask(settings, llm, question="And that one?", history=HISTORY, answer_mode="extractive")
    assert body["query_rewrite"] == "llm"
    assert body["query"] == "How do I change the default chunk size?"


def test_a_standalone_question_is_searched_as_asked(settings):
    body = ask(settings, ScriptedLLM(""), question="Can Sourced read scanned PDFs?",
               history=HISTORY, answer_mode="extractive")  # fmt: skip
    assert body["query_rewrite"] == "none" and body["query"] == "Can Sourced read scanned PDFs?"


def test_filters_restrict_the_sources(settings):
    body = ask(settings, ScriptedLLM(""), question="password PDF", answer_mode="extractive",
               filters={"file_types": ["pdf"], "page_from": 5, "page_to": 5})  # fmt: skip
    assert body["sources"] and {(s["document"], s["page"]) for s in body["sources"]} == {
        ("user-guide.pdf", 5)
    }
    body = ask(settings, ScriptedLLM(""), question="password", filters={"documents": ["*.csv"]})
    assert {s["document"] for s in body["sources"]} <= {"settings.csv"}


def test_filters_that_match_nothing_say_so(settings):
    body = ask(settings, ScriptedLLM(""), question="password", filters={"documents": ["no/*"]})
    assert body["answerable"] is False and body["sources"] == []
    assert body["notice"] == "No documents match the filters."


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"retrieval_mode": "magic"}, "retrieval_mode"),
        ({"answer_mode": "poetic"}, "answer_mode"),
        ({"filters": {"page_from": 0}}, "filters.page_from"),
        ({"filters": {"page_from": 5, "page_to": 2}}, "filters.page_to"),
        ({"filters": {"colour": "red"}}, "filters.colour"),
    ],
)
def test_bad_quality_options_are_422_with_the_field(settings, payload, field):
    with TestClient(create_app(settings, llm=ScriptedLLM(""))) as client:
        response = client.post("/ask", json={"question": ANSWERABLE, **payload})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_every_retrieval_mode_answers(settings):
    for mode in ("hybrid", "dense", "bm25"):
        body = ask(settings, ScriptedLLM(""), question=ANSWERABLE, retrieval_mode=mode,
                   answer_mode="extractive")  # fmt: skip
        assert body["retrieval_mode"] == mode and body["answerable"]


def test_an_extractive_answer_streams_as_one_token(settings):
    with TestClient(create_app(settings, llm=ScriptedLLM(""))) as client:
        response = client.post(
            "/ask", json={"question": ANSWERABLE, "answer_mode": "extractive", "stream": True}
        )
    names = [block.split("\n")[0] for block in response.text.strip().split("\n\n")]
    assert names == ["event: sources", "event: token", "event: done"]


# --- short answers -------------------------------------------------------------------------

INGEST_TIME = "How long does ingesting take?"


def test_a_question_of_fact_gets_the_phrase_first_then_its_quote(settings):
    llm = ScriptedLLM("a minute per thousand pages", capable=True)
    body = ask(settings, llm, question=INGEST_TIME)
    assert body["answer_mode"] == "short"
    assert body["short_answer"] == "a minute per thousand pages"
    n = next(s["n"] for s in body["sources"] if s["cited"])
    quote = "On two CPU cores, expect roughly a minute per thousand pages the first time."
    assert body["answer"] == f'a minute per thousand pages [{n}]\n\n"{quote}" [{n}]'
    source = body["sources"][n - 1]
    assert source["verified"] and source["quote"]["text"] == quote
    assert source["document"] == "faq.json" and source["locator"] == "$.faq[0]"
    # the reader was given one passage, not every source, its fields on their own lines
    prompt = llm.calls[-1][-1]["content"]
    assert "\nanswer: Parsing is fast" in prompt and len(prompt) < 1500
    assert prompt.endswith(f"Question: {INGEST_TIME}")


def test_the_phrase_is_shown_as_the_source_writes_it(settings):
    llm = ScriptedLLM('"A MINUTE per thousand pages".', capable=True)
    assert ask(settings, llm, question=INGEST_TIME)["short_answer"] == "a minute per thousand pages"


def test_a_phrase_from_a_weaker_sentence_comes_with_the_best_one(settings):
    llm = ScriptedLLM("need OCR", capable=True)
    body = ask(settings, llm, question=ANSWERABLE, answer_mode="short")
    assert body["answer_mode"] == "short" and body["short_answer"] == "need OCR"
    phrase, quote, also = body["answer"].split("\n\n")
    assert quote.startswith('"- Scanned PDFs need OCR before ingest."')
    best = "- Password-protected PDFs that need a password to open are skipped."
    assert also.startswith(f'Also in the sources: "{best}" [')


def test_only_the_passage_a_phrase_was_read_from_is_cited(settings):
    # Read from three chunks, the phrase comes from the user guide's troubleshooting chunk,
    # while the best sentence is in the release notes: that one is quoted, not cited.
    wide = settings.model_copy(update={"reader_chunks": 3})
    body = ask(wide, ScriptedLLM("Remove the password", capable=True), question=ANSWERABLE,
               answer_mode="short")  # fmt: skip
    assert body["short_answer"] == "Remove the password"
    phrase, quote, also = body["answer"].split("\n\n")
    n, m = (int(part.rsplit("[", 1)[1].rstrip("]")) for part in (phrase, also))
    assert n != m and body["sources"][n - 1]["document"] == "user-guide.pdf"
    assert [s["n"] for s in body["sources"] if s["cited"]] == [n]
    assert body["sources"][n - 1]["verified"] is True
    best = body["sources"][m - 1]
    assert best["document"] == "release-notes.md" and best["quote"]["text"] in also
    assert best["verified"] is None and best["support"] is None


def test_a_phrase_from_a_sentence_near_the_best_comes_alone(settings):
    # Every sentence of the FAQ's answer field answers its question as well as the next.
    llm = ScriptedLLM("Parsing is fast", capable=True)
    body = ask(settings, llm, question=INGEST_TIME)
    assert body["short_answer"] == "Parsing is fast" and "Also" not in body["answer"]


def test_a_phrase_its_passage_does_not_hold_is_not_shown(settings):
    body = ask(settings, ScriptedLLM("an hour per page", capable=True), question=INGEST_TIME)
    assert body["answer_mode"] == "extractive" and body["short_answer"] is None
    assert "hour" not in body["answer"] and "not found" in body["notice"]
    assert "a minute per thousand pages" in body["answer"]


def test_the_model_saying_not_found_is_a_refusal(settings):
    body = ask(settings, ScriptedLLM("NOT FOUND", capable=True), question=INGEST_TIME)
    assert body["answerable"] is False and body["answer"] == NOT_FOUND
    assert body["answer_mode"] == "short" and "no answer" in body["notice"]


def test_a_question_that_wants_an_explanation_gets_a_generated_answer(settings):
    llm = ScriptedLLM("PDFs that need a password to open are skipped [1].", capable=True)
    body = ask(settings, llm, question="How do I ingest a PDF that needs a password?")
    assert body["answer_mode"] == "generative"
    assert "SOURCES" in llm.calls[-1][-1]["content"]


def test_short_can_be_asked_for_with_any_model(settings):
    llm = ScriptedLLM("a minute per thousand pages")
    body = ask(settings, llm, question=INGEST_TIME, answer_mode="short")
    assert body["answer_mode"] == "short" and body["short_answer"]


def test_a_repeated_sentence_counts_once_toward_grounded(scorer):
    supported = "PDFs that need a password are skipped [1]."
    invented = "The moon is made of cheese [1]."
    hits = [hit("A PDF that needs a password to open is skipped as encrypted.")]
    once = check_citations(f"{supported} {invented}", hits, scorer, 0.5)
    padded = check_citations(f"{supported} {supported} {supported} {invented}", hits, scorer, 0.5)
    assert once.grounded == padded.grounded == 0.5 and padded.claims == 2


def test_a_rewrite_that_loses_the_follow_ups_own_words_is_not_used(settings):
    class Forgetful(ScriptedLLM):
        def complete(self, messages, params):
            self.calls.append(messages)
            return Completion("What is the default chunk size?", self.name, 10, 8)

    body = ask(
        settings,
        Forgetful("", capable=True),
        question="Which setting raises the overlap?",
        history=HISTORY,
        answer_mode="extractive",
    )
    assert body["query_rewrite"] != "llm" and "overlap" in body["query"]
