"""Retrieval on real indexes: BM25 stored with each version, hybrid fusion, filters, dedupe and
the reranker interface. The corpus below is built so that each query set needs one side:
invoice numbers BM25 finds and embeddings confuse, paraphrases embeddings find and BM25
misranks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.eval.metrics import mrr_at_k
from app.rag.retriever import Filters, Retriever
from ingest.lexical import LexicalIndex, terms
from ingest.settings import IngestSettings
from ingest.stores.local import open_index
from ingest.sync import run_ingest

from .conftest import CountingEmbedder

DOCUMENTS = {
    # Invoice numbers made of the same digits: alike to an embedding model, distinct to BM25.
    # Asked for by number alone, the embeddings rank some of them below their siblings.
    "invoices/4127.md": "Invoice 4127: chairs for the Oslo office, paid by card in March.",
    "invoices/4172.md": "Invoice 4172: desks for the Bergen office, paid by transfer in May.",
    "invoices/4217.md": "Invoice 4217: lamps for the Tromsø office, paid in cash in June.",
    "invoices/1247.md": "Invoice 1247: shelves for the Bodø office, paid by card in July.",
    "invoices/7412.md": "Invoice 7412: carpets for the Molde office, paid by cheque in April.",
    "invoices/2714.md": "Invoice 2714: screens for the Hamar office, paid on account in May.",
    # Paraphrases: the answer shares one word with its question; a passage about something
    # else shares several.
    "policy/refunds.md": "Customers get their money as a reimbursement within thirty days.",
    "policy/hours.md": "Our company takes telephone enquiries on weekdays from nine to five.",
    "policy/shipping.md": "Parcels leave the warehouse the business day after you pay.",
    "policy/returns.md": "Unused items can be sent back to us for a full refund.",
    "policy/support.md": "Our support team replies to emails within one working day.",
    "notes/museum.md": "The museum's long back hall: get a ticket at the door to have a look.",
    "notes/choir.md": "Someone in the choir will call out the numbers of the hymns.",
    "notes/chess.md": "A box of chess pieces will arrive at the club for the winter tournament.",
}
CODE_QUERIES = {
    "4172": "invoices/4172.md",
    "2714": "invoices/2714.md",
    "1247": "invoices/1247.md",
    "7412": "invoices/7412.md",
    "4217": "invoices/4217.md",
    "4127": "invoices/4127.md",
}
PARAPHRASE_QUERIES = {
    "How long do I have to get my money back?": "policy/refunds.md",
    "When can I call someone at the company?": "policy/hours.md",
    "When will my box arrive after I pay?": "policy/shipping.md",
}


@pytest.fixture(scope="module")
def index(tmp_path_factory, model):
    root = tmp_path_factory.mktemp("retrieval")
    for name, text in DOCUMENTS.items():
        path = root / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    settings = IngestSettings(index_dir=root / "indexes", _env_file=None)
    run_ingest([root / "docs"], "fixture", settings, embedder=CountingEmbedder(model))
    return open_index(settings.index_dir, "fixture").load()


@pytest.fixture(scope="module")
def retriever(model):
    return Retriever(CountingEmbedder(model))


def mean_mrr(retriever, index, queries: dict[str, str], mode: str) -> float:
    total = 0.0
    for query, gold in queries.items():
        ranked = [h.chunk.document for h in retriever.retrieve(index, query, 5, mode)]
        total += mrr_at_k(ranked, {gold: 1}, 5)
    return total / len(queries)


def test_hybrid_beats_either_mode_on_a_corpus_that_needs_both(index, retriever):
    queries = {**CODE_QUERIES, **PARAPHRASE_QUERIES}
    scores = {m: mean_mrr(retriever, index, queries, m) for m in ("hybrid", "dense", "bm25")}
    assert scores["hybrid"] > scores["dense"] and scores["hybrid"] > scores["bm25"], scores
    assert scores["hybrid"] == 1.0
    # and each side does its own job
    assert mean_mrr(retriever, index, CODE_QUERIES, "bm25") == 1.0
    assert mean_mrr(retriever, index, CODE_QUERIES, "dense") < 1.0
    assert mean_mrr(retriever, index, PARAPHRASE_QUERIES, "dense") > mean_mrr(
        retriever, index, PARAPHRASE_QUERIES, "bm25"
    )


def test_bm25_is_stored_with_the_version_and_matches_one_built_fresh(index):
    stored = LexicalIndex.load(index.path / "bm25")
    chunks = index.chunks()
    fresh = LexicalIndex.build([c.text for c in chunks], [c.document for c in chunks])
    for query in ("4172 office", "reimbursement purchase", "nothing matches zzz"):
        assert np.allclose(stored.scores(query), fresh.scores(query))
    assert not stored.scores("nothing matches zzz").any()


def test_a_version_written_without_bm25_gets_one_built_when_opened(index, tmp_path):

    copy = tmp_path / "fixture"
    shutil.copytree(index.path.parent, copy)
    shutil.rmtree(copy / index.version / "bm25")
    version = open_index(tmp_path, "fixture")
    assert version.lexical_index.scores("4172").argmax() == next(
        i for i, c in enumerate(version.chunks()) if c.document == "invoices/4172.md"
    )


def test_terms_are_stemmed_lowercased_and_split_codes_stay_searchable():
    assert terms("Indexing the INDEXES") == ["index", "index"]
    assert terms("ERR-4012 occurred") == ["err", "4012", "occur"]
    assert terms("the of and") == []


@pytest.mark.parametrize(
    "filters, expected",
    [
        (
            Filters(documents=["notes/*"]),
            {"notes/museum.md", "notes/choir.md", "notes/chess.md"},
        ),  # fmt: skip
        (Filters(documents=["refunds.md"]), {"policy/refunds.md"}),
        (Filters(file_types=["pdf"]), set()),
        (
            Filters(file_types=[".MD"], documents=["invoices/4*", "2714.md"]),
            {"invoices/4127.md", "invoices/4172.md", "invoices/4217.md", "invoices/2714.md"},
        ),
        (Filters(pages=(1, 3)), set()),  # markdown has no pages
    ],
)
def test_filters_restrict_every_mode(index, retriever, filters, expected):
    for mode in ("hybrid", "dense", "bm25"):
        found = {h.chunk.document for h in retriever.retrieve(index, "office money call", 20, mode,
                                                              filters)}  # fmt: skip
        if mode == "bm25":
            assert found <= expected  # only chunks sharing a term
        else:
            assert found == expected, (mode, found)


def test_near_duplicate_chunks_do_not_crowd_the_top_k(tmp_path, model):
    docs = tmp_path / "docs"
    docs.mkdir()
    text = "The backup job runs every night at two and keeps thirty days of snapshots.\n"
    for copy in ("a.md", "b.md", "c.md"):
        (docs / copy).write_text(text)
    (docs / "other.md").write_text("Snapshots older than thirty days are deleted by the job.\n")
    settings = IngestSettings(index_dir=tmp_path / "indexes", _env_file=None)
    embedder = CountingEmbedder(model)
    run_ingest([docs], "dups", settings, embedder=embedder)
    version = open_index(settings.index_dir, "dups")
    hits = Retriever(embedder).retrieve(version, "When does the backup job run?", 2)
    assert len({h.chunk.text for h in hits}) == 2
    assert "other.md" in {h.chunk.document for h in hits}
    everything = Retriever(embedder, duplicate_similarity=1.01).retrieve(
        version, "When does the backup job run?", 2
    )
    assert {h.chunk.document for h in everything} <= {"a.md", "b.md", "c.md"}


class ReverseAlphabetReranker:
    """A reranker with an obvious, checkable order."""

    def __init__(self):
        self.calls = 0

    def score(self, question, passages):
        self.calls += 1
        return [float(ord(p[8])) for p in passages]  # "Invoice 7412…": first digit, descending


def test_a_reranker_reorders_the_candidates(index, model):
    reranker = ReverseAlphabetReranker()
    retriever = Retriever(CountingEmbedder(model), reranker=reranker)
    hits = retriever.retrieve(index, "office invoice", 3, filters=Filters(["invoices/*"]))
    assert reranker.calls == 1
    assert [h.chunk.text[8] for h in hits] == ["7", "4", "4"]
    assert hits[0].score >= hits[1].score >= hits[2].score


def test_hits_carry_the_question_similarity_in_every_mode(index, retriever):
    for mode in ("hybrid", "dense", "bm25"):
        hits = retriever.retrieve(index, "reimbursement after purchase", 3, mode)
        assert all(-1.0 <= h.similarity <= 1.0 for h in hits)
        assert hits[0].chunk.document == "policy/refunds.md"


def test_an_empty_filter_result_is_no_hits(index, retriever):
    assert retriever.retrieve(index, "office", 5, filters=Filters(["nothing/*"])) == []


def test_cross_encoder_reranker_reports_a_model_it_cannot_load(tmp_path: Path):
    from app.errors import AppError
    from app.rag.rerank import CrossEncoderReranker

    with pytest.raises(AppError, match="SOURCED_RERANKER_MODEL"):
        CrossEncoderReranker(str(tmp_path / "missing-model"))


def test_a_configured_cross_encoder_is_loaded_and_reorders(index, model):
    """No trained cross-encoder ships offline; a BERT checkpoint with a fresh scoring head
    exercises the real loading and scoring path (its order means nothing)."""
    from app.rag.rerank import CrossEncoderReranker
    from app.services import build_retriever
    from app.settings import Settings
    from ingest.embedder import resolve_model_path

    settings = Settings(reranker_model=resolve_model_path(Settings().embedding_model))
    retriever = build_retriever(settings, CountingEmbedder(model))
    assert isinstance(retriever.reranker, CrossEncoderReranker)
    scores = retriever.reranker.score("invoice 4172", ["Invoice 4172: desks", "choir hymns"])
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)
    hits = retriever.retrieve(index, "invoice 4172", 4)
    assert len(hits) == 4 and hits[0].score >= hits[-1].score
    assert build_retriever(Settings(), CountingEmbedder(model)).reranker is None
