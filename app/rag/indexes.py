"""Open indexes for reading, and pick up new versions without a restart.

Each request asks for an index by name; when ingest has made a new version current since the
last request, the new version is opened and used from then on. A request already running keeps
the version it started with.
"""

from __future__ import annotations

import threading
from pathlib import Path

from app.errors import IndexUnusable
from ingest.store import IndexVersion, current_version_name, list_indexes, open_index


class IndexLibrary:
    def __init__(self, root: Path, embedding_model: str, dimension: int):
        self.root = root
        self.embedding_model = embedding_model
        self.dimension = dimension
        self._open: dict[str, IndexVersion] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> IndexVersion:
        current = current_version_name(self.root, name)
        cached = self._open.get(name)
        if cached is not None and cached.version == current:
            return cached
        with self._lock:
            cached = self._open.get(name)
            if cached is not None and cached.version == current_version_name(self.root, name):
                return cached
            version = open_index(self.root, name)
            self._check(version)
            self._open[name] = version.load()
            return version

    def names(self) -> list[IndexVersion]:
        return [self.get(v.name) for v in list_indexes(self.root)]

    def _check(self, version: IndexVersion) -> None:
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
