"""SIGKILL during a build never breaks the index: a loadable version stays current, and the
next run completes and clears what the killed one left behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ingest.store import open_index
from ingest.sync import run_ingest

from .conftest import ROOT, SAMPLE

# Where to kill: right after stderr shows this line (progress lines come as stages finish).
KILL_AFTER_LINE = {
    "parsing": "checking:",  # files checked, parsing under way
    "embedding": "parsing:",  # parsing done, embedding under way
    "writing": "embedding:",  # embedding done, the version being written
}


def start_ingest(folder: Path, index_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", str(folder), "--index", "docs"],
        cwd=ROOT,
        env={**os.environ, "SOURCED_INDEX_DIR": str(index_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_after_line(process: subprocess.Popen, prefix: str) -> None:
    for line in process.stderr:
        if line.startswith(prefix):
            break
    process.send_signal(signal.SIGKILL)


def kill_when_half_written(process: subprocess.Popen, docs: Path) -> None:
    while process.poll() is None and not any(docs.glob(".tmp-v*")):
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)


def assert_a_good_version_is_current(index_dir: Path, embedder, allowed: set[str]) -> None:
    index = open_index(index_dir, "docs")
    assert index.version in allowed
    _, rows = index.search(embedder.embed_query("encrypted PDF")[None, :], k=3)
    assert (rows[0] >= 0).all() and len(index.chunks([int(r) for r in rows[0]])) == 3


def test_kills_at_every_stage_leave_a_loadable_index(tmp_path, settings, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    for path in SAMPLE.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    first = run_ingest([folder], "docs", settings, embedder=embedder)
    # Enough new text that the next build spends a few seconds parsing and embedding.
    for i in range(120):
        (folder / f"note-{i:03}.md").write_text(
            f"# Note {i}\n\n" + f"Observation {i} about topic {i % 7}. " * 40
        )
    docs = settings.index_dir / "docs"

    killed = []
    for stage in ("loading", *KILL_AFTER_LINE, "half-written"):
        process = start_ingest(folder, settings.index_dir)
        if stage == "loading":
            time.sleep(1.0)
            process.send_signal(signal.SIGKILL)
        elif stage == "half-written":
            kill_when_half_written(process, docs)
        else:
            kill_after_line(process, KILL_AFTER_LINE[stage])
        process.wait()
        if process.returncode == -signal.SIGKILL:
            killed.append(stage)
        # A kill after the swap may leave the new version current; never a broken one.
        versions = {first.version} | {p.name for p in docs.glob("v*")}
        assert_a_good_version_is_current(settings.index_dir, embedder, versions)
    assert {"loading", "parsing", "embedding"} <= set(killed)

    final = run_ingest([folder], "docs", settings, embedder=embedder)
    assert final.chunks > first.chunks
    assert not list(docs.glob(".tmp-*")), "leftovers of killed builds are cleared"
    assert open_index(settings.index_dir, "docs").chunk_count == final.chunks
