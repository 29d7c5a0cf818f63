"""SIGKILL during a build never breaks the index: a loadable version stays current, and the
next run completes and clears what the killed one left behind."""

import json
import os
import signal
import subprocess
import sys
import time
from fnmatch import fnmatch
from pathlib import Path

from ingest.stores import open_store
from ingest.stores.local import open_index
from ingest.sync import run_ingest

from .conftest import ROOT, SAMPLE

# Where to kill: right after stderr shows this line (progress lines come as stages finish).
KILL_AFTER_LINE = {
    "parsing": "checking:",  # files checked, parsing under way
    "embedding": "parsing:",  # parsing done, embedding under way
    "writing": "embedding:",  # embedding done, the version being written
}


def start_ingest(folder: Path, index_dir: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", str(folder), "--index", "docs"],
        cwd=ROOT,
        env={**os.environ, "SOURCED_INDEX_DIR": str(index_dir), **env},
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


def test_kills_at_every_stage_leave_the_database_answering(
    tmp_path, settings, database_url, embedder
):
    """The Postgres store: a publish is one transaction, and the writer's lock dies with its
    connection, so a killed ingest leaves the previous version answering and the next run
    finishes the job."""
    settings = settings.model_copy(update={"store": "postgres", "database_url": database_url})
    env = {"SOURCED_STORE": "postgres", "SOURCED_DATABASE_URL": database_url}
    folder = tmp_path / "docs"
    folder.mkdir()
    for path in SAMPLE.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    first = run_ingest([folder], "docs", settings, embedder=embedder)
    for i in range(120):
        (folder / f"note-{i:03}.md").write_text(
            f"# Note {i}\n\n" + f"Observation {i} about topic {i % 7}. " * 40
        )
    store = open_store(settings)
    stages = {**KILL_AFTER_LINE, "publishing": "embedding sentences:"}
    del stages["writing"]
    killed = []
    for stage in ("loading", *stages):
        process = start_ingest(folder, settings.index_dir, **env)
        if stage == "loading":
            time.sleep(1.0)
            process.send_signal(signal.SIGKILL)
        else:
            kill_after_line(process, stages[stage])
        process.wait()
        if process.returncode == -signal.SIGKILL:
            killed.append(stage)
        index = store.open_index("docs")
        assert index.version in (first.version, "v000002"), stage
        hits = index.dense(embedder.embed_query("encrypted PDF"), 3)
        assert len(index.chunks([row for row, _ in hits])) == 3
        assert index.chunk_count == len(index.chunks())
    assert {"loading", "parsing", "embedding"} <= set(killed)

    final = run_ingest([folder], "docs", settings, embedder=embedder)
    assert final.chunks > first.chunks
    assert (
        store.open_index("docs").chunk_count
        == final.chunks
        == len(store.open_index("docs").chunks())
    )
    store.close()


# Kill points inside writing and swapping a version: tests/kill_at.py counts the file-system
# events under the index folder (Python's audit hooks) and SIGKILLs the ingest on entry to one.
KILL_AT = ROOT / "tests" / "kill_at.py"
KILL_POINTS = {  # name → the first event that matches (kind, path pattern)
    "taking the writer lock": ("open", "docs/.lock"),
    "starting the new version (index.faiss next)": ("os.mkdir", "docs/.tmp-v*"),
    "index.faiss written, chunk database next": ("sqlite3.connect", "*/chunks.sqlite"),
    "chunk database written, BM25 next": ("open", "*/bm25/owner.npy"),
    "BM25 half written": ("os.mkdir", "*/bm25/documents"),
    "manifest next": ("open", "*/manifest.json"),
    "meta.json next": ("open", "*/meta.json"),
    "renaming the version into place": ("os.rename", "docs/.tmp-v*"),
    "version in place, CURRENT not yet written": ("open", "docs/.tmp-CURRENT"),
    "swapping CURRENT": ("os.rename", "docs/.tmp-CURRENT"),
    "swapped, setting the old version aside": ("os.rename", "docs/v*"),
    "deleting the old version": ("shutil.rmtree", "docs/.tmp-removed-v*"),
}


class KillableIngest:
    """Ingest runs that can be killed at an event (kill_at.py), forked from one warm process."""

    def __init__(self, folder: Path, index_dir: Path, logs: Path):
        self.folder, self.logs = folder, logs
        env = {**os.environ, "SOURCED_INDEX_DIR": str(index_dir), "SOURCED_KEEP_VERSIONS": "1"}
        self.server = subprocess.Popen(
            [sys.executable, str(KILL_AT), "--serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, **env: str) -> subprocess.CompletedProcess:
        out, err = self.logs / "stdout", self.logs / "stderr"
        args = [str(self.folder), "--index", "docs"]
        request = {"args": args, "env": env, "stdout": str(out), "stderr": str(err)}
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        code = int(self.server.stdout.readline())
        return subprocess.CompletedProcess(args, code, out.read_text(), err.read_text())

    def __enter__(self) -> "KillableIngest":
        return self

    def __exit__(self, *_exc) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=30)


def event_numbers(log: Path) -> dict[str, int]:
    """Each kill point's event number in a logged build."""
    events = [line.split(" ", 2) for line in log.read_text().splitlines()]
    numbers = {}
    for point, (kind, pattern) in KILL_POINTS.items():
        numbers[point] = next(
            int(n) for n, event, path in events if event == kind and fnmatch(path, pattern)
        )
    return numbers


def test_kills_at_each_step_of_writing_and_swapping(tmp_path, settings, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    for path in SAMPLE.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    settings = settings.model_copy(update={"keep_versions": 1})
    run_ingest([folder], "docs", settings, embedder=embedder)
    docs = settings.index_dir / "docs"
    change = folder / "changing.md"
    change.write_text("# Changing\nThe first change of a note that keeps changing.")
    log = tmp_path / "events.log"
    with KillableIngest(folder, settings.index_dir, tmp_path) as ingest:
        mapped = ingest.run(KILL_EVENT_LOG=str(log))
        assert mapped.returncode == 0, mapped.stderr
        numbers = event_numbers(log)
        assert list(numbers.values()) == sorted(numbers.values()), "points are in write order"

        for n, (point, number) in enumerate(numbers.items()):
            before = open_index(settings.index_dir, "docs").version
            text = f"# Changing\nChange number {n} of a note that keeps changing."
            change.write_text(text)
            killed = ingest.run(KILL_AT_EVENT=str(number))
            assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
            # The lock file stays; the OS lock died with the writer.
            assert (docs / ".lock").exists()
            after = open_index(settings.index_dir, "docs").version
            assert after in (before, f"v{int(before[1:]) + 1:06d}"), point
            assert_a_good_version_is_current(settings.index_dir, embedder, {before, after})

            # The next run is not refused by the stale lock, finishes, and clears every leftover.
            run_ingest([folder], "docs", settings, embedder=embedder)
            current = open_index(settings.index_dir, "docs")
            assert [p.name for p in docs.iterdir() if p.name.startswith(".tmp-")] == [], point
            assert sorted(p.name for p in docs.glob("v*")) == [current.version], point
            changed = [c.text for c in current.chunks() if c.document == "changing.md"]
            assert changed == [text], point
