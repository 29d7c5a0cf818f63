"""Incremental ingest with the real loaders, the real model and real FAISS."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from app.rag.evidence import EvidenceScorer
from app.rag.retriever import Retriever
from ingest import sync
from ingest.errors import IndexLockedError, IndexMismatchError, UsageError
from ingest.sentences import sentences
from ingest.stores.local import open_index, write_lock
from ingest.sync import run_ingest

from .conftest import CORPORA, SAMPLE


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    return docs


def ingest(folder, settings, embedder, **kwargs):
    return run_ingest([folder], "docs", settings, embedder=embedder, **kwargs)


def test_first_run_indexes_every_sample_file(folder, settings, embedder):
    report = ingest(folder, settings, embedder)
    assert report.exit_code == 0 and not report.failed and not report.skipped
    assert sorted(report.added) == sorted(p.name for p in SAMPLE.iterdir())
    index = open_index(settings.index_dir, "docs")
    assert index.chunk_count == report.chunks == report.chunks_new == report.chunks_embedded
    assert embedder.embedded == report.chunks_embedded + report.sentences_embedded
    assert index.sentence_index.count >= report.sentences_embedded > index.chunk_count
    documents = {c.document for c in index.chunks()}
    assert documents == set(report.added)
    pdf_pages = {c.source.page for c in index.chunks() if c.document == "user-guide.pdf"}
    assert pdf_pages == {1, 2, 3, 4, 5}


def test_question_finds_the_right_page(folder, settings, embedder):
    ingest(folder, settings, embedder)
    index = open_index(settings.index_dir, "docs")
    query = embedder.embed_query("What should I do with a PDF that needs a password to open?")
    _, rows = index.search(query[None, :], k=3)
    top = index.chunks([int(r) for r in rows[0]])
    assert any(c.document == "user-guide.pdf" and c.source.page == 5 for c in top)


def test_unchanged_folder_embeds_nothing_and_writes_no_version(folder, settings, embedder):
    first = ingest(folder, settings, embedder)
    embedder.embedded = 0
    again = ingest(folder, settings, embedder)
    assert embedder.embedded == 0 and again.version is None
    assert len(again.unchanged) == len(first.added)
    assert open_index(settings.index_dir, "docs").version == first.version
    for path in folder.iterdir():  # touched but identical: recognised by the content hash
        path.touch()
    assert ingest(folder, settings, embedder).version is None and embedder.embedded == 0


def test_change_delete_rename_and_copy(folder, settings, embedder):
    ingest(folder, settings, embedder)
    index = open_index(settings.index_dir, "docs")
    old_ids = {c.id for c in index.chunks() if c.document == "glossary.txt"}

    (folder / "glossary.txt").write_text("Sourced glossary\n\nCitation: a pointer to a passage.\n")
    (folder / "faq.json").unlink()
    (folder / "user-guide.pdf").rename(folder / "guide-renamed.pdf")
    shutil.copy(folder / "release-notes.md", folder / "notes-copy.md")
    embedder.embedded = 0
    report = ingest(folder, settings, embedder)

    assert report.updated == ["glossary.txt"]
    assert report.removed == ["faq.json", "user-guide.pdf"]
    assert sorted(report.added) == ["guide-renamed.pdf", "notes-copy.md"]
    assert report.renamed == [("user-guide.pdf", "guide-renamed.pdf")]
    assert report.chunks_embedded == 1, "only the changed text is embedded"
    new_sentences = {s.text for s in sentences((folder / "glossary.txt").read_text())}
    assert report.sentences_embedded == len(new_sentences), "and only its sentences"
    assert embedder.embedded == report.chunks_embedded + report.sentences_embedded

    index = open_index(settings.index_dir, "docs")
    chunks = index.chunks()
    documents = {c.document for c in chunks}
    assert "faq.json" not in documents and "user-guide.pdf" not in documents
    assert {"guide-renamed.pdf", "notes-copy.md"} <= documents
    glossary = [c for c in chunks if c.document == "glossary.txt"]
    assert len(glossary) == 1 and "Citation" in glossary[0].text
    assert not old_ids & {c.id for c in glossary}
    # Reused vectors are the same vectors: the renamed file's chunks embed as before.
    renamed = [c for c in chunks if c.document == "guide-renamed.pdf"]
    fresh = embedder.embed([c.text for c in renamed])
    rows = [i for i, c in enumerate(chunks) if c.document == "guide-renamed.pdf"]
    assert (abs(index.vectors()[rows] - fresh) < 1e-4).all()


@pytest.mark.corpora
def test_bad_files_are_reported_by_name_and_the_rest_is_indexed(folder, settings, embedder):
    (folder / "empty.txt").write_bytes(b"")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 broken beyond repair")
    (folder / "bad.json").write_text("{'single': 'quotes'}")
    (folder / "picture.bmp").write_bytes(b"BM\x00\x00")
    shutil.copy(
        CORPORA / "pdf/005-libreoffice-writer-password/libreoffice-writer-password.pdf",
        folder / "locked.pdf",
    )
    report = ingest(folder, settings, embedder)
    assert report.exit_code == 1
    failed = {issue.document: issue.reason for issue in report.failed}
    skipped = {issue.document: issue.reason for issue in report.skipped}
    assert set(failed) == {"broken.pdf", "bad.json"}
    assert "invalid JSON" in failed["bad.json"]
    assert skipped == {"empty.txt": "empty file", "locked.pdf": "encrypted"}
    assert report.unsupported == {".bmp": 1}
    assert len(report.added) == len(list(SAMPLE.iterdir()))
    assert str(folder) not in report.summary()

    # Skips and failures are remembered for unchanged files: reported again, not re-read.
    again = ingest(folder, settings, embedder)
    assert {i.document for i in again.skipped} == {"empty.txt", "locked.pdf"}
    assert {i.document: i.reason for i in again.failed} == failed
    assert again.failures_remembered == 2 and again.exit_code == 1
    assert "--retry-failed" in again.summary()
    assert again.version is None


@pytest.fixture
def parses(monkeypatch):
    """The names of the files the parser worker is asked to read."""
    from ingest.worker import ParseWorker

    asked: list[str] = []
    parse = ParseWorker.parse

    def counting(self, path):
        asked.append(path.name)
        return parse(self, path)

    monkeypatch.setattr(ParseWorker, "parse", counting)
    return asked


def test_a_failure_is_retried_when_the_file_the_parser_or_the_user_says_so(
    folder, settings, embedder, parses, monkeypatch
):
    bad = folder / "bad.json"
    bad.write_text("{'single': 'quotes'}")
    first = ingest(folder, settings, embedder)
    assert [i.document for i in first.failed] == ["bad.json"] and first.failures_remembered == 0
    parses.clear()

    again = ingest(folder, settings, embedder)
    assert parses == [] and again.failures_remembered == 1 and again.version is None

    bad.touch()  # a new mtime, the same content: still not parsed
    assert ingest(folder, settings, embedder).failures_remembered == 1 and parses == []

    asked = ingest(folder, settings, embedder, retry_failed=True)
    assert parses == ["bad.json"] and asked.failures_remembered == 0 and asked.failed
    parses.clear()

    newer = sync.parser_version
    monkeypatch.setattr(sync, "parser_version", lambda path, ocr=True: newer(path, ocr) + "-next")
    assert ingest(folder, settings, embedder).failures_remembered == 0
    assert "bad.json" in parses
    monkeypatch.setattr(sync, "parser_version", newer)
    parses.clear()

    bad.write_text('{"fixed": "at last"}')
    fixed = ingest(folder, settings, embedder)
    assert "bad.json" in parses and not fixed.failed and "bad.json" in fixed.added
    assert open_index(settings.index_dir, "docs").manifest().failures == {}


def test_adding_files_without_pruning_keeps_the_other_failures(
    tmp_path, folder, settings, embedder
):
    (folder / "bad.json").write_text("{'single': 'quotes'}")
    ingest(folder, settings, embedder)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "note.md").write_text("# Note\n\nA file added on its own, as an upload is.")
    added = run_ingest([extra], "docs", settings, embedder=embedder, prune=False)
    assert added.added == ["note.md"] and not added.failed
    assert set(open_index(settings.index_dir, "docs").manifest().failures) == {"bad.json"}


def test_a_file_that_turns_bad_keeps_its_previous_chunks(folder, settings, embedder):
    ingest(folder, settings, embedder)
    before = [
        c.id for c in open_index(settings.index_dir, "docs").chunks() if c.document == "faq.json"
    ]
    (folder / "faq.json").write_text('{"truncated": ')
    report = ingest(folder, settings, embedder)
    assert [i.document for i in report.failed] == ["faq.json"] and report.exit_code == 1
    after = [
        c.id for c in open_index(settings.index_dir, "docs").chunks() if c.document == "faq.json"
    ]
    assert after == before
    # Remembered: the next run reports it without reading it, and its chunks stay.
    again = ingest(folder, settings, embedder)
    assert again.failures_remembered == 1 and again.version is None
    assert "faq.json" in open_index(settings.index_dir, "docs").manifest().indexed()


def test_oversized_files_are_skipped(folder, settings, embedder):
    small = settings.model_copy(update={"max_file_mb": 0.001})
    report = ingest(folder, small, embedder)
    assert any("larger than the 0.001 MB limit" in i.reason for i in report.skipped)


@pytest.mark.corpora
def test_a_hanging_parser_is_stopped_by_the_time_limit(tmp_path, settings, embedder):
    docs = tmp_path / "slow"
    docs.mkdir()
    # Parsing this 117-page PDF takes seconds; a 0.3 s limit stops it mid-way.
    shutil.copy(CORPORA / "pdf/009-pdflatex-geotopo/GeoTopo-komprimiert.pdf", docs / "slow.pdf")
    (docs / "ok.md").write_text("# Fine\nThis file is parsed after the slow one.")
    quick = settings.model_copy(update={"parse_timeout_s": 0.3})
    report = run_ingest([docs], "slow", quick, embedder=embedder)
    assert [(i.document, i.reason) for i in report.failed] == [
        ("slow.pdf", "parser timed out after 0.3 s")
    ]
    assert report.added == ["ok.md"]


def test_model_or_chunking_change_is_a_clear_error_until_rebuild(folder, settings, embedder):
    ingest(folder, settings, embedder)
    changed = settings.model_copy(update={"chunk_size": 120})
    with pytest.raises(IndexMismatchError, match="chunks of 200 tokens.*--rebuild"):
        ingest(folder, changed, embedder)
    other_model = settings.model_copy(update={"embedding_model": "all-MiniLM-L6-v2"})
    with pytest.raises(IndexMismatchError, match="embedding model"):
        ingest(folder, other_model, embedder)
    rebuilt = ingest(folder, changed, embedder, rebuild=True)
    assert rebuilt.version == "v000002"
    assert open_index(settings.index_dir, "docs").spec.chunk_size == 120


def test_dry_run_reports_and_writes_nothing(folder, settings, embedder):
    report = ingest(folder, settings, embedder, dry_run=True)
    assert report.dry_run and len(report.added) == 6 and embedder.embedded == 0
    assert not (settings.index_dir / "docs" / "CURRENT").exists()


def test_a_second_writer_is_refused(folder, settings, embedder):
    with write_lock(settings.index_dir, "docs"), pytest.raises(IndexLockedError):
        ingest(folder, settings, embedder)


def test_missing_path_is_a_usage_error(tmp_path, settings, embedder):
    with pytest.raises(UsageError, match="no such file"):
        run_ingest([tmp_path / "nope"], "docs", settings, embedder=embedder)


def test_several_folders_get_prefixed_names(tmp_path, settings, embedder):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    (one / "a.md").write_text("# A\nalpha")
    (two / "a.md").write_text("# A\nbeta")
    report = run_ingest([one, two], "multi", settings, embedder=embedder)
    assert report.added == ["one/a.md", "two/a.md"]


def test_the_index_folder_is_never_ingested(folder, settings, embedder):
    inside = settings.model_copy(update={"index_dir": folder / "indexes"})
    run_ingest([folder], "docs", inside, embedder=embedder)
    again = run_ingest([folder], "docs", inside, embedder=embedder)
    assert again.version is None and not again.added
    assert not any(name.startswith("indexes/") for name in again.unchanged)


def test_embedding_overlaps_parsing_and_vectors_match_the_model(tmp_path, settings, embedder):
    # Small batches, so the background thread embeds while most files are still being parsed
    # (the chunker's tokenizer must not be disturbed by the model's meanwhile).
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(90):
        words = " ".join(f"word{j}" for j in range(i % 40 + 3))
        (docs / f"note{i:02d}.md").write_text(f"# Note {i}\n\nNote {i} says {words}.\n")
    embedder.batch_size = 2
    report = run_ingest([docs], "many", settings, embedder=embedder)
    assert not report.failed and len(report.added) == 90
    index = open_index(settings.index_dir, "many")
    texts = [c.text for c in index.chunks()]
    assert report.chunks_embedded == len(set(texts))
    assert embedder.embedded == report.chunks_embedded + report.sentences_embedded
    expected = embedder.embed(texts)
    assert (index.vectors() * expected).sum(axis=1).min() > 0.999


def test_every_chunk_has_its_sentences_with_the_model_s_vectors(folder, settings, embedder):
    ingest(folder, settings, embedder)
    index = open_index(settings.index_dir, "docs")
    for row, chunk in enumerate(index.chunks()):
        stored = index.sentence_index.of(row, chunk.text)
        assert stored.spans == sentences(chunk.text)
        if stored.spans:
            fresh = embedder.embed([span.text for span in stored.spans])
            assert (stored.vectors * fresh).sum(axis=1).min() > 0.999


def test_an_index_without_sentence_vectors_gets_them_on_the_next_run(folder, settings, embedder):
    without = settings.model_copy(update={"sentence_vectors": False})
    first = ingest(folder, without, embedder)
    assert open_index(settings.index_dir, "docs").sentence_index is None
    assert first.sentences_embedded == 0
    again = ingest(folder, without, embedder)
    assert again.version is None, "asked for none, none is added"

    embedder.embedded = 0
    upgraded = ingest(folder, settings, embedder)
    index = open_index(settings.index_dir, "docs")
    assert upgraded.version == index.version == "v000002" and upgraded.chunks_embedded == 0
    assert embedder.embedded == upgraded.sentences_embedded > 0
    assert index.sentence_index.count > index.chunk_count
    assert ingest(folder, settings, embedder).version is None, "and once is enough"


def test_answers_weigh_the_stored_sentences_and_embed_none(folder, settings, embedder):
    ingest(folder, settings, embedder)
    index = open_index(settings.index_dir, "docs")
    question = "What happens when an ingest run is interrupted?"
    hits = Retriever(embedder).retrieve(index, question, 5)
    assert all(hit.sentences is not None for hit in hits)
    embedder.embedded = 0
    stored = EvidenceScorer(embedder).best_sentences(question, hits, limit=6)
    assert embedder.embedded == 0, "the question's vector is kept from retrieval"
    unstored = [replace(hit, sentences=None) for hit in hits]
    embedded_now = EvidenceScorer(embedder).best_sentences(question, unstored, limit=6)
    assert embedder.embedded > 0
    assert [s.span for s in stored] == [s.span for s in embedded_now]
    assert [s.score for s in stored] == pytest.approx([s.score for s in embedded_now], abs=2e-3)
