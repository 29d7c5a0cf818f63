"""Keep an index in sync with folders: `sourced watch PATH… --index NAME`.

The folders are watched (watchdog: inotify on Linux); after a change, the watcher waits until
the folders have been quiet for a moment (`quiet_s`), then runs one incremental sync over all
of them, the same as `sourced ingest` would, so a burst of thousands of changes costs one or a
few syncs. A file still being written keeps the folder from being quiet, so it is read once
whole. Changes that arrive during a sync are picked up by the next one.

A watched folder that disappears (deleted, renamed, unmounted) pauses syncing: the index keeps
its documents until the folder is back, rather than mirroring an empty folder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ingest.embedder import Embedder
from ingest.errors import IndexLockedError
from ingest.report import IngestReport
from ingest.settings import IngestSettings
from ingest.stores import open_store
from ingest.sync import run_ingest

log = logging.getLogger("sourced.watch")

# How often a missing folder is looked for again.
_RETRY_S = 2.0


class _Changes(FileSystemEventHandler):
    """Notes when anything under the folders last changed."""

    def __init__(self) -> None:
        self.last = 0.0
        self.pending = threading.Event()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reading a file changes nothing
        self.last = time.monotonic()
        self.pending.set()


class FolderWatch:
    def __init__(
        self,
        paths: list[Path],
        index: str,
        settings: IngestSettings,
        quiet_s: float = 2.0,
        on_sync: Callable[[IngestReport], None] | None = None,
        embedder: Embedder | None = None,
    ):
        self.paths = [Path(p) for p in paths]
        self.index = index
        self.settings = settings
        self.quiet_s = quiet_s
        self.on_sync = on_sync or (lambda report: None)
        self.embedder = embedder
        self.changes = _Changes()
        self.stopped = threading.Event()

    def run(self) -> None:
        """Sync now, then after every quiet change, until `stop()`."""
        embedder = self.embedder or Embedder.from_settings(self.settings)
        store = open_store(self.settings)
        observer = None
        try:
            while not self.stopped.is_set():
                missing = [p for p in self.paths if not p.exists()]
                if missing:
                    self._wait_for(missing)
                    observer = _stop(observer)
                    continue
                if observer is None:
                    observer = self._observe()
                    self.changes.pending.set()  # whatever changed while nobody watched
                if not self.changes.pending.wait(timeout=_RETRY_S):
                    continue
                self._until_quiet()
                if self.stopped.is_set():
                    break
                if any(not p.exists() for p in self.paths):
                    continue  # gone while it settled: wait for it
                self.changes.pending.clear()
                try:
                    report = run_ingest(
                        self.paths, self.index, self.settings, embedder=embedder, store=store
                    )
                except IndexLockedError as exc:  # another ingest is writing: after it, again
                    log.warning("%s; syncing again in a moment", exc)
                    self.changes.last = time.monotonic()
                    self.changes.pending.set()
                    continue
                self.on_sync(report)
        finally:
            _stop(observer)
            store.close()

    def stop(self) -> None:
        self.stopped.set()
        self.changes.pending.set()

    def _observe(self):
        observer = Observer()
        for path in self.paths:
            target = path if path.is_dir() else path.parent
            observer.schedule(self.changes, str(target), recursive=path.is_dir())
        observer.start()
        return observer

    def _until_quiet(self) -> None:
        while not self.stopped.is_set():
            idle = time.monotonic() - self.changes.last
            if idle >= self.quiet_s:
                return
            self.stopped.wait(self.quiet_s - idle)

    def _wait_for(self, missing: list[Path]) -> None:
        names = ", ".join(str(p) for p in missing)
        log.warning("%s is not there; the index keeps its documents until it is back", names)
        while not self.stopped.is_set() and any(not p.exists() for p in missing):
            self.stopped.wait(_RETRY_S)
        log.info("%s is back", names)


def _stop(observer) -> None:
    if observer is not None:
        observer.stop()
        observer.join(timeout=10)
    return None
