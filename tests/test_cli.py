"""The real command in a real process: output, JSON report, exit codes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SAMPLE

SOURCED = Path(sys.executable).parent / "sourced"


def run(*args: str, index_dir: Path, env: dict | None = None, command=None):
    environment = {**os.environ, "SOURCED_INDEX_DIR": str(index_dir), **(env or {})}
    return subprocess.run(
        [*(command or [str(SOURCED)]), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    shutil.copytree(SAMPLE, folder)
    return folder


def test_ingest_then_reingest_then_list(docs, tmp_path):
    indexes = tmp_path / "indexes"
    first = run("ingest", str(docs), "--index", "guide", index_dir=indexes)
    assert first.returncode == 0, first.stderr
    assert "Index 'guide' is now at v000001" in first.stdout
    assert "6 added, 0 updated, 0 unchanged, 0 removed, 0 skipped, 0 failed" in first.stdout
    # Not a terminal: progress comes as plain lines on stderr, the summary on stdout.
    assert "embedding:" in first.stderr and "\r" not in first.stderr

    again = run("ingest", str(docs), "--index", "guide", "--json", index_dir=indexes)
    report = json.loads(again.stdout)
    assert again.returncode == 0
    assert report["version"] is None and len(report["unchanged"]) == 6
    assert report["chunks_embedded"] == 0 and report["exit_code"] == 0

    listed = run("indexes", "--json", index_dir=indexes)
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "guide" and row["documents"] == 6 and row["chunks"] > 20


def test_python_dash_m_ingest_is_the_same_command(docs, tmp_path):
    result = run(
        str(docs),
        "--index",
        "m",
        "--quiet",
        index_dir=tmp_path / "i",
        command=[sys.executable, "-m", "ingest"],
    )
    assert result.returncode == 0, result.stderr
    assert "Index 'm' is now at v000001" in result.stdout and result.stderr == ""


def test_some_files_failed_exits_1_and_names_them(docs, tmp_path):
    (docs / "broken.docx").write_bytes(b"not a zip file")
    result = run("ingest", str(docs), "--quiet", index_dir=tmp_path / "i")
    assert result.returncode == 1
    assert "Failed:\n  broken.docx: not a readable DOCX file" in result.stdout
    assert str(docs) not in result.stdout


def test_usage_errors_exit_2_with_one_line(docs, tmp_path):
    missing = run("ingest", str(tmp_path / "nope"), index_dir=tmp_path / "i")
    assert missing.returncode == 2 and missing.stderr.startswith("error: no such file")
    bad_name = run("ingest", str(docs), "--index", "../x", index_dir=tmp_path / "i")
    assert bad_name.returncode == 2 and "invalid index name" in bad_name.stderr
    no_args = run("ingest", index_dir=tmp_path / "i")
    assert no_args.returncode == 2 and "usage:" in no_args.stderr
    bad_setting = run("indexes", index_dir=tmp_path / "i", env={"SOURCED_CHUNK_SIZE": "abc"})
    assert bad_setting.returncode == 2 and "SOURCED_CHUNK_SIZE" in bad_setting.stderr
    assert "Traceback" not in missing.stderr + bad_name.stderr + bad_setting.stderr


def test_settings_mismatch_exits_2_and_says_rebuild(docs, tmp_path):
    indexes = tmp_path / "i"
    assert run("ingest", str(docs), "--quiet", index_dir=indexes).returncode == 0
    changed = run(
        "ingest", str(docs), "--quiet", index_dir=indexes, env={"SOURCED_CHUNK_SIZE": "100"}
    )
    assert changed.returncode == 2 and "--rebuild" in changed.stderr


def test_invalid_settings_name_the_variable(tmp_path):
    result = run("indexes", index_dir=tmp_path, env={"SOURCED_CHUNK_OVERLAP": "150"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid settings: chunk_overlap (150) must be less")


def test_ask_prints_the_answer_and_numbered_sources(docs, tmp_path):
    indexes = tmp_path / "i"
    assert run("ingest", str(docs), "--quiet", index_dir=indexes).returncode == 0
    env = {"SOURCED_LLM_BACKEND": "fake"}
    result = run("ask", "How do I install Sourced?", index_dir=indexes, env=env)
    assert result.returncode == 0, result.stderr
    assert "[1]" in result.stdout and "*[1] user-guide.pdf · p. 2" in result.stdout
    as_json = run("ask", "How do I install Sourced?", "--json", index_dir=indexes, env=env)
    assert json.loads(as_json.stdout)["sources"][0]["page"] == 2
    missing = run("ask", "q", "--index", "nope", index_dir=indexes, env=env)
    assert missing.returncode == 2 and "no index named 'nope'" in missing.stderr
    filtered = run("ask", "password", "--type", "pdf", "--pages", "5", "--mode", "bm25", "--json",
                   index_dir=indexes, env=env)  # fmt: skip
    body = json.loads(filtered.stdout)
    assert {(s["document"], s["page"]) for s in body["sources"]} == {("user-guide.pdf", 5)}
    assert body["retrieval_mode"] == "bm25" and body["answer_mode"] == "extractive"
    bad = run("ask", "password", "--pages", "two", index_dir=indexes, env=env)
    assert bad.returncode != 0 and "--pages takes FIRST-LAST" in bad.stderr
    reversed_range = run("ask", "password", "--pages", "5-2", index_dir=indexes, env=env)
    assert reversed_range.returncode == 2 and "page_from is after" in reversed_range.stderr


def test_serve_with_a_bad_backend_is_one_clear_line(tmp_path):
    result = run("serve", index_dir=tmp_path, env={"SOURCED_LLM_BACKEND": "nope"})
    assert result.returncode == 2
    assert "error: unknown SOURCED_LLM_BACKEND 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
