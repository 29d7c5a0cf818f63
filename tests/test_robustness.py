"""One ingest over every real file in ../shared/corpora plus the hostile set of tests/hostile_files:
it finishes, reports each bad file by name with a reason, and the good files are searchable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.report import IngestReport
from ingest.settings import IngestSettings
from ingest.stores.local import open_index
from ingest.sync import run_ingest

from . import hostile_files
from .conftest import CORPORA, CountingEmbedder

pytestmark = pytest.mark.corpora

KINDS = ("pdf", "docx", "csv", "json")


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory, model) -> tuple[IngestReport, dict[str, str], IngestSettings]:
    if not CORPORA.is_dir():
        pytest.skip("../shared/corpora is not there")
    root = tmp_path_factory.mktemp("robustness")
    docs = root / "docs"
    for kind in KINDS:
        shutil.copytree(CORPORA / kind, docs / kind)
    hostile = {
        f"hostile/{name}": outcome
        for name, outcome in hostile_files.write_all(docs / "hostile").items()
    }
    settings = IngestSettings(index_dir=root / "indexes")
    report = run_ingest([docs], "corpus", settings, embedder=CountingEmbedder(model))
    return report, hostile, settings


def _outcomes(report: IngestReport) -> dict[str, str]:
    outcomes = {name: "added" for name in report.added}
    outcomes |= {issue.document: "skipped" for issue in report.skipped}
    outcomes |= {issue.document: "failed" for issue in report.failed}
    return outcomes


def test_every_file_ends_added_skipped_or_failed_with_a_reason(corpus_run):
    report, _, _ = corpus_run
    supported = {
        p.relative_to(CORPORA).as_posix()
        for kind in KINDS
        for p in (CORPORA / kind).rglob("*")
        if p.suffix.lower() in (".pdf", ".docx", ".csv", ".json", ".md", ".txt")
    }
    outcomes = _outcomes(report)
    assert supported <= set(outcomes), sorted(supported - set(outcomes))
    assert all(issue.reason for issue in [*report.skipped, *report.failed])
    assert report.exit_code == 1  # some files failed; the run still finished and wrote a version
    assert report.version == "v000001"


def test_each_hostile_file_is_reported_as_expected(corpus_run):
    report, hostile, _ = corpus_run
    outcomes = _outcomes(report)
    assert {name: outcomes.get(name) for name in hostile} == hostile
    reasons = {i.document: i.reason for i in [*report.failed, *report.skipped]}
    assert "zip bomb" in reasons["hostile/zip-bomb.docx"]
    assert "zip bomb" in reasons["hostile/zip-bomb.xlsx"]
    assert "zip bomb" in reasons["hostile/zip-bomb.pptx"]
    assert "binary" in reasons["hostile/binary.html"]
    assert "SOURCED_PDF_MAX_STREAM_MB" in reasons["hostile/stream-bomb.pdf"]
    assert "cyclic" in reasons["hostile/page-loop.pdf"]
    assert "nested deeper" in reasons["hostile/deep.json"]
    assert "NaN" in reasons["hostile/not-a-number.json"]
    assert "binary" in reasons["hostile/binary.txt"]
    assert reasons["hostile/zero-length.pdf"] == "empty file"
    assert "megapixels" in reasons["hostile/pixel-bomb.png"]
    assert "not a readable image" in reasons["hostile/not-an-image.jpg"]
    assert all(str(CORPORA) not in r and "/tmp" not in r for r in reasons.values())


def test_json_test_suite_files_end_as_the_suite_says(corpus_run):
    """JSONTestSuite: y_ files must parse, n_ files must be rejected (i_ may go either way)."""
    report, _, _ = corpus_run
    outcomes = _outcomes(report)
    names = [n for n in outcomes if n.startswith("json/test_parsing/")]
    must_parse = [n for n in names if Path(n).name.startswith("y_")]
    must_fail = [n for n in names if Path(n).name.startswith("n_")]
    assert len(must_parse) == 95 and len(must_fail) == 188
    assert [n for n in must_fail if outcomes[n] == "added"] == []
    # A y_ file that parses but holds no text (e.g. `[]`) is skipped for that, never failed.
    assert [n for n in must_parse if outcomes[n] == "failed"] == []


def test_real_documents_of_every_kind_are_searchable(corpus_run, model):
    report, _, settings = corpus_run
    index = open_index(settings.index_dir, "corpus")
    assert index.chunk_count == report.chunks > 0
    assert index.faiss_index.ntotal == index.chunk_count
    embedder = CountingEmbedder(model)
    kinds = {Path(d).suffix for d in index.documents()}
    assert {".pdf", ".docx", ".csv", ".json", ".md"} <= kinds
    for question, document in [
        ("Lorem ipsum dolor sit amet, consetetur", "pdf/001-trivial/minimal-document.pdf"),
        ("John Doe, 120 any st., Anytown", "csv/csvs/comma_in_quotes.csv"),
    ]:
        _, rows = index.search(embedder.embed([question]), 10)
        found = {c.document for c in index.chunks([int(r) for r in rows[0] if r >= 0])}
        assert document in found, (question, found)
