"""The parse worker's own limits: memory, CPU time, wall clock; each costs one file, not the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import ParseLimits
from ingest.sync import run_ingest
from ingest.worker import ParserResources, ParseWorker


@pytest.fixture
def big_text(tmp_path: Path) -> Path:
    path = tmp_path / "big.txt"
    path.write_text(("many words on a line of plain text\n") * 1_200_000)  # ~42 MB
    return path


@pytest.fixture
def long_csv(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    rows = "".join(f"{n},text {n},a few more words\n" for n in range(300_000))
    path.write_text("id,name,notes\n" + rows)
    return path


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.md"
    path.write_text("# Small\nParsed by a fresh worker after the bad file.")
    return path


def test_a_parser_that_balloons_gets_a_memory_error_and_the_next_file_a_fresh_worker(
    big_text, small
):
    with ParseWorker(ParseLimits(), ParserResources(memory_mb=150)) as worker:
        outcome = worker.parse(big_text)
        assert outcome.failed == "parser ran out of memory (limit 150 MB, SOURCED_PARSE_MEMORY_MB)"
        assert worker.parse(small).result is not None


def test_a_parser_that_spins_is_stopped_by_the_cpu_limit(long_csv, small):
    with ParseWorker(ParseLimits(), ParserResources(cpu_s=1)) as worker:
        assert worker.parse(small).result is not None
        outcome = worker.parse(long_csv)
        assert outcome.failed == "parser used more than 1 s of CPU time (SOURCED_PARSE_CPU_S)"
        assert worker.parse(small).result is not None


def test_cpu_limit_is_per_file_not_per_worker(tmp_path):
    """Files parsed by one worker add up past the limit; each still gets the whole limit."""
    path = tmp_path / "rows.csv"
    path.write_text("id,name\n" + "".join(f"{n},text {n} and words\n" for n in range(20_000)))
    with ParseWorker(ParseLimits(), ParserResources(cpu_s=1)) as worker:
        for _ in range(12):  # ~0.35 s of CPU each, over 4 s in all: past any one file's budget
            assert worker.parse(path).result is not None


def test_ingest_reports_the_limited_file_and_indexes_the_rest(
    tmp_path, long_csv, small, settings, embedder
):
    docs = tmp_path / "docs"
    docs.mkdir()
    long_csv.rename(docs / "rows.csv")
    small.rename(docs / "small.md")
    limited = settings.model_copy(update={"parse_cpu_s": 1})
    report = run_ingest([docs], "limited", limited, embedder=embedder)
    assert [(i.document, i.reason) for i in report.failed] == [
        ("rows.csv", "parser used more than 1 s of CPU time (SOURCED_PARSE_CPU_S)")
    ]
    assert report.added == ["small.md"]
