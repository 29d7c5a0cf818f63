"""`sourced watch`: the index follows its folders (adding, editing, renaming, deleting files; a
burst of hundreds; a file still being written; the folder itself going away and coming back),
in process with the real embedding model, and as the real command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from ingest.stores.local import open_current
from ingest.watch import FolderWatch

from .conftest import ROOT, SAMPLE


def wait_until(check, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("not in time")


def texts(settings, document: str) -> list[str]:
    index = open_current(settings.index_dir, "watched")
    if index is None:
        return []
    return [c.text for c in index.chunks() if c.document == document]


@pytest.fixture
def watching(tmp_path, settings, embedder):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    reports = []
    watch = FolderWatch(
        [docs], "watched", settings, quiet_s=0.5, on_sync=reports.append, embedder=embedder
    )
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    wait_until(lambda: reports)
    yield docs, reports
    watch.stop()
    thread.join(timeout=60)
    assert not thread.is_alive()


def test_edits_additions_renames_and_deletions_follow(watching, settings):
    docs, reports = watching
    assert reports[0].added and texts(settings, "faq.json")
    note = docs / "notes" / "release.md"
    note.parent.mkdir()
    note.write_text("# Release\nThe release manager signs off every release.")
    wait_until(lambda: texts(settings, "notes/release.md"))
    note.write_text("# Release\nThe release captain signs off every release.")
    wait_until(lambda: any("captain" in t for t in texts(settings, "notes/release.md")))
    note.rename(docs / "notes" / "releases.md")
    wait_until(
        lambda: texts(settings, "notes/releases.md") and not texts(settings, "notes/release.md")
    )
    (docs / "notes" / "releases.md").unlink()
    wait_until(lambda: not texts(settings, "notes/releases.md"))
    assert all(not r.failed for r in reports)


def test_a_burst_of_files_costs_few_syncs(watching, settings):
    docs, reports = watching
    before = len(reports)
    burst = docs / "burst"
    burst.mkdir()
    for n in range(300):
        (burst / f"note-{n:03}.txt").write_text(f"Note {n} says the code word is w{n}x.")
    index = wait_until(
        lambda: (
            (i := open_current(settings.index_dir, "watched"))
            and sum(d.startswith("burst/") for d in i.documents()) == 300
            and i
        )
    )
    assert "burst/note-299.txt" in index.documents()
    assert len(reports) - before <= 3, [r.summary() for r in reports[before:]]


def test_a_file_being_written_is_read_once_whole(watching, settings):
    docs, reports = watching
    path = docs / "slow.md"
    with path.open("w") as handle:
        handle.write("# Slow\nThe first half of a slowly written note.")
        for n in range(6):  # still being written: the folder is never quiet for 0.5 s
            handle.flush()
            time.sleep(0.2)
            handle.write(f" Part {n} follows.")
        handle.write(" The second half arrives last.")
    wait_until(lambda: texts(settings, "slow.md"))
    assert all("second half" in t for t in texts(settings, "slow.md"))


def test_a_folder_that_goes_away_keeps_the_index_until_it_is_back(watching, settings):
    docs, reports = watching
    moved = docs.with_name("elsewhere")
    docs.rename(moved)
    time.sleep(3)  # a sync now would empty the index
    assert texts(settings, "faq.json")
    moved.rename(docs)
    (docs / "back.md").write_text("# Back\nThe folder came back with a new note.")
    wait_until(lambda: texts(settings, "back.md"))
    assert texts(settings, "faq.json")


def test_the_command_syncs_then_follows_changes(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    env = {**os.environ, "SOURCED_INDEX_DIR": str(tmp_path / "indexes"), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "ingest",
        "watch",
        str(docs),
        "--index",
        "w",
        "--quiet-s",
        "0.5",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("6 added" in line for line in lines), timeout=180)
        (docs / "new.md").write_text("# New\nA note added while watching.")
        wait_until(lambda: any("1 added" in line for line in lines))
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert lines[0].startswith(f"watching {docs} for index 'w'")
    missing = subprocess.run(
        [sys.executable, "-m", "ingest", "watch", str(tmp_path / "nowhere")],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr


def test_serve_watch_keeps_the_served_index_in_sync(tmp_path):
    import httpx

    from .server import running_server

    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    env = {"SOURCED_INDEX_DIR": str(tmp_path / "indexes"), "SOURCED_LLM_BACKEND": "fake"}
    with running_server(env, args=("--watch", str(docs), "--watch-index", "live")) as (url, log):

        def found(question: str) -> list[str]:
            reply = httpx.post(f"{url}/search", json={"query": question, "index": "live"})
            return [p["document"] for p in reply.json().get("passages", [])]

        wait_until(lambda: "faq.json" in found("How long does ingesting take?"))
        (docs / "valves.md").write_text("# Valves\nThe quux valve opens at 7 bar.")
        wait_until(lambda: found("When does the quux valve open?")[:1] == ["valves.md"])
        assert "keeping index 'live' in sync with" in log.read_text()
