"""One behaviour suite, run against every store (the `store_settings` fixture runs each test
on the local store and on a real PostgreSQL): ingest, incremental sync, retrieval, readers
across publishes, the writer lock, uploads."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.rag.retriever import Retriever
from ingest.errors import IndexLockedError, IndexNotFoundError
from ingest.stores import Filters, open_store
from ingest.sync import run_ingest

from .conftest import SAMPLE

QUESTIONS = [
    "How do I install Sourced?",
    "What is the largest file Sourced reads?",
    "SOURCED_PARSE_TIMEOUT_S",
    "Which settings control chunking?",
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    return docs


def test_ingest_then_an_unchanged_run_publishes_nothing(folder, store_settings, store, embedder):
    first = run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    assert first.version == "v000001" and first.documents == 6 and first.chunks > 20
    index = store.open_index("docs")
    assert (index.version, index.chunk_count, index.document_count) == (
        "v000001",
        first.chunks,
        6,
    )
    assert sorted(index.documents()) == sorted(p.name for p in SAMPLE.iterdir())
    assert store.names() == ["docs"] and store.current_version("docs") == "v000001"

    embedder.embedded = 0
    again = run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    assert again.version is None and len(again.unchanged) == 6 and embedder.embedded == 0
    assert store.current_version("docs") == "v000001"


def test_one_changed_file_costs_only_its_chunks(folder, store_settings, store, embedder):
    first = run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    (folder / "notes.md").write_text("# Notes\n\nThe quarterly review moved to Thursday.\n")
    embedder.embedded = 0
    second = run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    assert second.added == ["notes.md"] and second.version == "v000002"
    assert second.chunks == first.chunks + 1
    assert second.chunks_embedded == 1
    index = store.open_index("docs")
    texts = [c.text for c in index.chunks() if c.document == "notes.md"]
    assert texts == ["# Notes\n\nThe quarterly review moved to Thursday."] or len(texts) == 1

    # A rename re-embeds nothing: the vectors come with the text.
    (folder / "notes.md").rename(folder / "minutes.md")
    embedder.embedded = 0
    third = run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    assert third.renamed == [("notes.md", "minutes.md")]
    assert third.chunks_embedded == 0 and embedder.embedded == 0
    assert third.chunks == second.chunks
    assert "notes.md" not in store.open_index("docs").documents()

    (folder / "minutes.md").unlink()
    fourth = run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    assert fourth.removed == ["minutes.md"] and fourth.chunks == first.chunks


def test_chunks_and_manifest_match_what_was_ingested(folder, store_settings, store, embedder):
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    index = store.open_index("docs")
    chunks = index.chunks()
    assert len(chunks) == index.chunk_count
    manifest = index.manifest()
    assert sorted(manifest.files) == sorted(index.documents())
    for record in manifest.files.values():
        assert [c.id for c in chunks if c.document == record.path] == record.chunk_ids
    middle = next(c for c in chunks if c.document == "user-guide.pdf" and c.source.page == 2)
    around, position = index.chunk_in_context(middle.id, around=1)
    assert around[position] == middle and {c.document for c in around} == {"user-guide.pdf"}
    assert index.chunk_in_context("no-such-chunk") is None


def test_a_sync_reads_only_the_records_of_the_files_it_looks_at(
    folder, tmp_path, store_settings, store, embedder, monkeypatch
):
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    before = store.open_index("docs").manifest()
    asked: list[set[str] | None] = []
    reader = type(store.open_index("docs"))
    read = reader.manifest
    monkeypatch.setattr(
        reader, "manifest", lambda self, paths=None: asked.append(paths) or read(self, paths)
    )
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "glossary.txt").write_text("# FAQ\n\nThe office opens at nine.\n")
    report = run_ingest(
        [extra], "docs", store_settings, prune=False, embedder=embedder, store=store
    )
    # (The local store then reads its whole manifest to write the next version's.)
    assert report.updated == ["glossary.txt"] and asked[0] == {"glossary.txt"}
    assert store.kind == "local" or asked == [{"glossary.txt"}]

    # The records of the files not looked at are kept as they were, the new one written.
    after = store.open_index("docs").manifest()
    assert after.files.keys() == before.files.keys()
    assert {p: r for p, r in after.files.items() if p != "glossary.txt"} == {
        p: r for p, r in before.files.items() if p != "glossary.txt"
    }
    assert after.files["glossary.txt"].sha256 != before.files["glossary.txt"].sha256
    assert store.open_index("docs").manifest({"glossary.txt", "nowhere.md"}).files.keys() == {
        "glossary.txt"
    }
    assert store.open_index("docs").manifest_paths() == set(after.files)


def test_a_file_emptied_loses_its_chunks_and_record(folder, store_settings, store, embedder):
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    (folder / "glossary.txt").write_text("")
    report = run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    assert [issue.document for issue in report.skipped] == ["glossary.txt"]
    index = store.open_index("docs")
    assert "glossary.txt" not in index.documents() and "glossary.txt" not in index.manifest().files
    assert index.document_count == 5
    assert all(c.document != "glossary.txt" for c in index.chunks())


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_ranks_and_filters(folder, store_settings, store, embedder, mode):
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    index = store.open_index("docs").load()
    retriever = Retriever(embedder)
    for question in QUESTIONS:
        hits = retriever.retrieve(index, question, 4, mode)
        assert hits, question
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(h.sentences is not None for h in hits)
    only_md = retriever.retrieve(index, "ingest", 5, mode, Filters(file_types=["md"]))
    assert only_md and {h.chunk.document.rsplit(".", 1)[1] for h in only_md} == {"md"}
    pages = retriever.retrieve(index, "Sourced", 5, mode, Filters(pages=(2, 2)))
    assert pages and {h.chunk.source.page for h in pages} == {2}
    assert retriever.retrieve(index, "install", 5, mode, Filters(documents=["none*"])) == []


def test_a_long_question_does_not_break_the_lexical_ranking(
    folder, store_settings, store, embedder
):
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    index = store.open_index("docs")
    question = " ".join(f"word{i} embedding & | ! ( ) :* '" for i in range(600))
    assert index.lexical(question, 10)  # "embedding" still matches
    assert index.lexical("& | ! ( ) :*", 10) == []


def test_a_reader_keeps_its_version_while_others_are_published(
    folder, store_settings, store, embedder
):
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    old = store.open_index("docs").load()
    old_documents = sorted(old.documents())
    (folder / "glossary.txt").unlink()
    (folder / "extra.md").write_text("# Extra\n\nInvoices are archived after seven years.\n")
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    new = store.open_index("docs")
    assert new.version == "v000002" and old.version == "v000001"
    assert sorted(old.documents()) == old_documents
    assert "extra.md" in new.documents() and "glossary.txt" not in new.documents()
    # The old reader still ranks only its own chunks.
    query = embedder.embed_query("archived invoices")
    assert {c.document for c in old.chunks([r for r, _ in old.dense(query, 50)])} <= set(
        old_documents
    )
    assert "extra.md" not in {
        c.document for c in old.chunks([r for r, _ in old.lexical("archived", 5)])
    }


def test_one_writer_per_index(folder, store_settings, store, embedder):
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    with store.write_lock("docs"):
        with pytest.raises(IndexLockedError, match="being written"):
            run_ingest([folder], "docs", store_settings, embedder=embedder)
        # Another index is written meanwhile.
        other = run_ingest([folder], "other", store_settings, embedder=embedder)
        assert other.version == "v000001"
    assert store.names() == ["docs", "other"]


def test_uploads_are_kept_with_the_index(tmp_path, store_settings, store, embedder):
    store.save_upload("team", "glossary.txt", b"# FAQ\n\nThe office opens at nine.\n")
    report = run_ingest([], "team", store_settings, embedder=embedder, store=store, prune=False)
    assert report.added == ["uploads/glossary.txt"]
    again = run_ingest([], "team", store_settings, embedder=embedder, store=store, prune=False)
    assert again.unchanged == ["uploads/glossary.txt"] and again.version is None
    store.save_upload("team", "glossary.txt", b"# FAQ\n\nThe office opens at ten.\n")
    changed = run_ingest([], "team", store_settings, embedder=embedder, store=store, prune=False)
    assert changed.updated == ["uploads/glossary.txt"]
    assert "ten" in store.open_index("team").chunks()[0].text


def test_failures_are_remembered(folder, store_settings, store, embedder):
    (folder / "broken.json").write_text('{"a": ')
    first = run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    assert [i.document for i in first.failed] == ["broken.json"]
    again = run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    assert again.failures_remembered == 1 and again.version is None
    assert set(store.open_index("docs").manifest().failures) == {"broken.json"}


def test_rebuild_with_other_chunking(folder, store_settings, store, embedder):
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    smaller = store_settings.model_copy(update={"chunk_size": 100})
    rebuilt = run_ingest([folder], "docs", smaller, embedder=embedder, store=store, rebuild=True)
    index = store.open_index("docs")
    assert index.spec.chunk_size == 100 and index.chunk_count == rebuilt.chunks
    assert len(index.chunks()) == rebuilt.chunks


def test_a_missing_index_is_a_clear_error(store):
    with pytest.raises(IndexNotFoundError, match="sourced ingest"):
        store.open_index("nothing")
    assert store.current_version("nothing") is None and store.open_current("nothing") is None


def test_vectors_read_back_as_written(folder, store_settings, store, embedder):
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    index = store.open_index("docs")
    query = embedder.embed_query("How do I install Sourced?")
    ranking = index.dense(query, 5)
    rows = [row for row, _ in ranking]
    vectors = index.vectors_of(rows)
    np.testing.assert_allclose(vectors @ query, [s for _, s in ranking], atol=1e-5)
    again = embedder.embed([c.text for c in index.chunks(rows)])
    np.testing.assert_allclose(vectors, again, atol=2e-2)


def test_both_stores_rank_alike(folder, settings, database_url, embedder):
    """The same documents in both stores: the same chunks, in the same order, in each mode."""
    stores = {
        "local": settings,
        "postgres": settings.model_copy(update={"store": "postgres", "database_url": database_url}),
    }
    indexes = {}
    for kind, config in stores.items():
        run_ingest([folder], "docs", config, embedder=embedder)
        indexes[kind] = open_store(config).open_index("docs").load()
    retriever = Retriever(embedder)
    for question in QUESTIONS:
        for mode in ("dense", "bm25", "hybrid"):
            for filters in (None, Filters(file_types=["md", "pdf"])):
                found = {
                    kind: [
                        (h.chunk.id, round(h.score, 4))
                        for h in retriever.retrieve(index, question, 5, mode, filters)
                    ]
                    for kind, index in indexes.items()
                }
                assert found["local"] == found["postgres"], (question, mode, filters)


def test_tables_are_kept_typed_and_follow_their_documents(folder, store_settings, store, embedder):
    (folder / "prices.csv").write_text(
        'Supplier,Price,Delivered\nAcme,"$1,250.00",2024-05-03\nBolt,$980.50,2024-05-17\n'
        "Core,,2024-06-01\n"
    )
    (folder / "staff.json").write_text(
        '{"offices": [{"city": "Berlin", "staff": 12}, {"city": "Lyon", "staff": 7}]}'
    )
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    first = store.open_index("docs").load()
    sample = {"faq.json": ["$.faq"], "settings.csv": [""]}
    assert first.table_names() == {**sample, "prices.csv": [""], "staff.json": ["$.offices"]}
    prices = first.table("prices.csv", "")
    assert [(c.name, c.type, c.unit) for c in prices.columns] == [
        ("Supplier", "text", None),
        ("Price", "number", "$"),
        ("Delivered", "date", None),
    ]
    assert prices.columns[1].values == [1250.0, 980.5, None] and prices.row_numbers == [2, 3, 4]
    assert str(prices.columns[2].values[0]) == "2024-05-03"
    assert first.table("staff.json", "$.offices").columns[1].values == [12, 7]
    assert first.table("prices.csv", "no such") is None
    # The text chunks stay: retrieval still finds the rows.
    assert any(c.document == "prices.csv" and "Acme" in c.text for c in first.chunks())

    # A changed file's table is replaced, an unchanged one's carried, a removed one's gone;
    # the reader of the earlier version keeps its own.
    (folder / "prices.csv").write_text("Supplier,Price\nAcme,10\nBolt,12\nCore,14\n")
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    second = store.open_index("docs")
    assert second.table("prices.csv", "").columns[1].values == [10, 12, 14]
    assert second.table("staff.json", "$.offices") == first.table("staff.json", "$.offices")
    (folder / "staff.json").unlink()
    run_ingest([folder], "docs", store_settings, embedder=embedder, store=store)
    third = store.open_index("docs")
    assert third.table_names() == {**sample, "prices.csv": [""]}
    assert [t.label for t in third.tables(["prices.csv", "faq.json"])] == [
        "faq.json · $.faq",
        "prices.csv",
    ]
    assert first.table("prices.csv", "").columns[1].values == [1250.0, 980.5, None]
