"""Embedding in the background while files are still being parsed.

Parsing runs in a child process and the embedding model in this one, so the two overlap: each
parsed file's new chunk texts are handed over at once, and embedded in windows of a few hundred
texts, each sorted by length so a batch pads to similar lengths.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable

import numpy as np

from ingest.embedder import Embedder

_DONE = object()


class BackgroundEmbedder:
    """Embeds texts handed over with `add` in a worker thread; `finish` returns every vector."""

    def __init__(self, embedder: Embedder, skip: Callable[[str], bool], window: int = 512):
        self._embedder = embedder
        self._skip = skip  # texts that already have a vector (from the previous version)
        self._window = window
        self._queue: queue.Queue = queue.Queue()
        self._seen: set[str] = set()
        self._vectors: dict[str, np.ndarray] = {}
        self._error: BaseException | None = None
        self._cancelled = False
        self._lock = threading.Lock()
        self._on_progress: Callable[[int], None] | None = None
        self.embedded = 0
        self._thread = threading.Thread(target=self._run, name="embedder", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        """Texts handed over so far, embedded or not."""
        return len(self._seen)

    def add(self, texts: Iterable[str]) -> None:
        new = []
        for text in texts:
            if text not in self._seen and not self._skip(text):
                self._seen.add(text)
                new.append(text)
        if new:
            self._queue.put(new)

    def finish(self, on_progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
        """Wait for every handed-over text; `on_progress` hears of what is embedded from now
        on, after being told what already is."""
        with self._lock:
            self._on_progress = on_progress
            if on_progress and self.embedded:
                on_progress(self.embedded)
        self._queue.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._vectors

    def cancel(self) -> None:
        """Stop soon without waiting for the rest (ingest is failing or interrupted)."""
        self._cancelled = True
        self._queue.put(_DONE)

    def _run(self) -> None:
        pending: list[str] = []
        try:
            while not self._cancelled:
                item = self._queue.get()
                if item is not _DONE:
                    pending.extend(item)
                while len(pending) >= self._window or (item is _DONE and pending):
                    if self._cancelled:
                        return
                    part, pending = pending[: self._window], pending[self._window :]
                    self._embed(part)
                if item is _DONE:
                    return
        except BaseException as exc:  # re-raised in the caller's thread by finish()
            self._error = exc

    def _embed(self, texts: list[str]) -> None:
        vectors = self._embedder.embed(texts)
        for text, vector in zip(texts, vectors, strict=True):
            self._vectors[text] = vector
        with self._lock:
            self.embedded += len(texts)
            if self._on_progress:
                self._on_progress(len(texts))
