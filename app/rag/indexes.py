"""Open indexes for reading, and pick up new versions without a restart.

Each request asks for an index by name; when ingest has made a new version current since the
last request, the new version is opened and used from then on. A request already running keeps
the version it started with.
"""

from __future__ import annotations

import threading

from app.errors import IndexUnusable
from ingest.stores import IndexReader, Store


class IndexLibrary:
    def __init__(self, store: Store, embedding_model: str, dimension: int):
        self.store = store
        self.embedding_model = embedding_model
        self.dimension = dimension
        self._open: dict[str, IndexReader] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> IndexReader:
        current = self.store.current_version(name)
        cached = self._open.get(name)
        if cached is not None and cached.version == current:
            return cached
        with self._lock:
            cached = self._open.get(name)
            if cached is not None and cached.version == self.store.current_version(name):
                return cached
            version = self.store.open_index(name)
            self._check(version)
            self._open[name] = version.load()
            return version

    def names(self) -> list[IndexReader]:
        return [self.get(name) for name in self.store.names()]

    def _check(self, version: IndexReader) -> None:
        if version.spec.embedding_model != self.embedding_model:
            raise IndexUnusable(
                f"index '{version.name}' was built with embedding model "
                f"'{version.spec.embedding_model}', but the server embeds questions with "
                f"'{self.embedding_model}'. Rebuild it with `sourced ingest … --index "
                f"{version.name} --rebuild`.",
                "index",
            )
        if version.dimension != self.dimension:
            raise IndexUnusable(
                f"index '{version.name}' holds {version.dimension}-dimensional vectors, the "
                f"embedding model makes {self.dimension}; rebuild it with --rebuild",
                "index",
            )
