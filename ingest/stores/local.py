"""The local store: indexes as versioned folders on this machine's disk (the default store).

    indexes/<name>/
      CURRENT            the current version's directory name, swapped atomically
      .lock              held by the one process writing this index
      uploads/           files uploaded through the service, ingested as `uploads/…`
      v000007/           one immutable version:
        meta.json          format, embedding model and dimension, chunking, counts, build time
        index.faiss        the vectors (inner product over unit vectors = cosine), row i = chunk i:
                           exact search, or an HNSW graph past SOURCED_ANN_MIN_CHUNKS (vectors.py)
        chunks.sqlite      chunk i's id, document, text, offsets and provenance; the tables
                           kept as tables (ingest/tables.py), as JSON, by document and name
        manifest.json      every ingested file: size, mtime, sha256, parser version, chunk ids
        bm25/              the BM25 term index over the chunk texts (numpy arrays and JSON)
        sentences/         every chunk's sentences and their vectors (sentence_index.py)

A build writes a new version into a temporary directory, renames it into place and then points
CURRENT at it. A crash or kill at any moment leaves the previous version current and loadable.
Metadata is JSON and SQLite: nothing is ever pickled.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from filelock import FileLock, Timeout

from ingest import vectors as vector_index
from ingest.errors import IndexCorruptError, IndexLockedError, IndexMismatchError
from ingest.lexical import LEXICAL_VERSION, LexicalIndex
from ingest.manifest import Manifest
from ingest.sentence_index import ChunkSentences, SentenceIndex
from ingest.sentences import SENTENCES_VERSION
from ingest.stores.base import (
    INDEX_NAME_PATTERN,
    FilterCache,
    Filters,
    IndexChange,
    IndexReader,
    IndexSpec,
    Ranking,
    Reusable,
    Store,
    check_index_name,
)
from ingest.tables import Table
from ingest.units import Chunk, Source

FORMAT_VERSION = 1
_NAME = re.compile(INDEX_NAME_PATTERN)
_VERSION = re.compile(r"^v(\d{6,})$")
_TMP_PREFIX = ".tmp-"


def index_path(root: Path, name: str) -> Path:
    return root / check_index_name(name)


def uploads_path(root: Path, name: str) -> Path:
    """The folder that holds files uploaded to an index; ingest always includes it."""
    return index_path(root, name) / "uploads"


@contextmanager
def write_lock(root: Path, name: str) -> Iterator[None]:
    """Hold the index's writer lock. It is an OS lock, so a killed writer never leaves it stale."""
    directory = index_path(root, name)
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(directory / ".lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise IndexLockedError(
            f"index '{name}' is being written by another ingest; wait for it to finish"
        ) from exc
    try:
        yield
    finally:
        lock.release()


class IndexVersion(IndexReader):
    """One immutable version of an index, opened for reading."""

    def __init__(self, name: str, path: Path, meta: dict[str, Any]):
        self.name = name
        self.path = path
        self.meta = meta

    @property
    def version(self) -> str:
        return self.path.name

    @property
    def spec(self) -> IndexSpec:
        return IndexSpec(**self.meta["spec"])

    @property
    def dimension(self) -> int:
        return int(self.meta["dimension"])

    @property
    def built_at(self) -> str:
        return self.meta["built_at"]

    @property
    def document_count(self) -> int:
        return int(self.meta["documents"])

    @property
    def chunk_count(self) -> int:
        return int(self.meta["chunks"])

    @property
    def search_info(self) -> vector_index.VectorIndexInfo:
        """Exact or approximate search, and the approximate one's measured recall."""
        return vector_index.VectorIndexInfo.from_dict(self.meta.get("vectors"))

    @property
    def has_sentences(self) -> bool:
        return self.sentence_index is not None

    @cached_property
    def faiss_index(self) -> faiss.Index:
        index = faiss.read_index(str(self.path / "index.faiss"))
        if index.ntotal != self.chunk_count or index.d != self.dimension:
            raise IndexCorruptError(f"index '{self.name}' {self.version}: vectors do not match")
        return vector_index.prepare(index, self.search_info)

    @cached_property
    def _db(self) -> sqlite3.Connection:
        uri = (self.path / "chunks.sqlite").resolve().as_uri() + "?mode=ro&immutable=1"
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    @cached_property
    def lexical_index(self) -> LexicalIndex:
        """The BM25 index. Versions written before it existed, or with another tokenizer, get
        one built in memory from their chunks, once, when they are opened."""
        stored = self.meta.get("lexical", {}).get("version") == LEXICAL_VERSION
        if stored and (self.path / "bm25").is_dir():
            return LexicalIndex.load(self.path / "bm25")
        chunks = self.chunks()
        return LexicalIndex.build([c.text for c in chunks], [c.document for c in chunks])

    @cached_property
    def sentence_index(self) -> SentenceIndex | None:
        """The chunks' sentences with their vectors; None for versions written without them
        or with other sentence rules (their sentences are then embedded when asked for)."""
        if self.meta.get("sentences", {}).get("version") != SENTENCES_VERSION:
            return None
        return SentenceIndex.load(self.path / "sentences", self.chunk_count, self.dimension)

    def sentences_of(self, rows: list[int], texts: list[str]) -> list[ChunkSentences] | None:
        """The stored sentences of the chunks in `rows` (whose texts are `texts`), or None."""
        stored = self.sentence_index
        if stored is None:
            return None
        return [stored.of(row, text) for row, text in zip(rows, texts, strict=True)]

    def load(self) -> IndexVersion:
        """Read the vectors, the BM25 index and the sentences and open the chunk table now,
        rather than on the first search. Once open, a reader keeps working even after a later
        build prunes this version."""
        self.faiss_index  # noqa: B018
        self._db  # noqa: B018
        self.lexical_index  # noqa: B018
        self.sentence_index  # noqa: B018
        return self

    @cached_property
    def _manifest(self) -> Manifest:
        return Manifest.from_dict(_read_json(self.path / "manifest.json"))

    def manifest(self, paths: Collection[str] | None = None) -> Manifest:
        whole = self._manifest
        files = whole.files
        if paths is not None:
            files = {path: files[path] for path in paths if path in files}
        return Manifest(files=dict(files), failures=dict(whole.failures))

    def manifest_paths(self) -> set[str]:
        return set(self._manifest.files)

    def vectors(self) -> np.ndarray:
        """All vectors, row i belonging to chunk i."""
        index = self.faiss_index
        if index.ntotal == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return index.reconstruct_n(0, index.ntotal)

    def chunks(self, rows: list[int] | None = None) -> list[Chunk]:
        """Chunks by row (FAISS position), in the order asked; all of them when rows is None."""
        query = "SELECT row, id, document, text, char_start, char_end, source FROM chunks"
        if rows is None:
            return [_chunk(r) for r in self._db.execute(query + " ORDER BY row")]
        found = {}
        for begin in range(0, len(rows), 500):
            part = rows[begin : begin + 500]
            marks = ",".join("?" * len(part))
            for r in self._db.execute(f"{query} WHERE row IN ({marks})", part):
                found[r[0]] = _chunk(r)
        return [found[row] for row in rows]

    def chunk_in_context(self, chunk_id: str, around: int = 1) -> tuple[list[Chunk], int] | None:
        """A chunk with up to `around` neighbours each side in its document, and its position
        in that list; None when no chunk has that id."""
        found = self._db.execute("SELECT row, document FROM chunks WHERE id = ?", (chunk_id,))
        hit = found.fetchone()
        if hit is None:
            return None
        row, document = hit
        rows = [
            r[0]
            for r in self._db.execute(
                "SELECT row FROM chunks WHERE document = ? AND row BETWEEN ? AND ? ORDER BY row",
                (document, row - around, row + around),
            )
        ]
        return self.chunks(rows), rows.index(row)

    def documents(self) -> list[str]:
        """Every document's path (relative to the folder it was ingested from)."""
        return [r[0] for r in self._db.execute("SELECT DISTINCT document FROM chunks")]

    def rows_where(
        self, documents: list[str] | None = None, pages: tuple[int, int] | None = None
    ) -> np.ndarray:
        """Rows of the chunks in `documents` (all when None) and, when `pages` is given, on a
        page in that inclusive range (chunks without pages never match a page range)."""
        query, args = "SELECT row, document FROM chunks", []
        if pages is not None:
            query, args = query + " WHERE page BETWEEN ? AND ?", list(pages)
        wanted = None if documents is None else set(documents)
        rows = [r for r, d in self._db.execute(query, args) if wanted is None or d in wanted]
        return np.asarray(sorted(rows), dtype=np.int64)

    def search(
        self, queries: np.ndarray, k: int, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) per query vector, among `rows` only when given; rows are -1
        where fewer than k exist."""
        return vector_index.search(self.faiss_index, self.search_info, queries, k, rows)

    def vectors_of(self, rows: list[int]) -> np.ndarray:
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.faiss_index.reconstruct_batch(np.asarray(rows, dtype=np.int64))

    def allowed_rows(self, filters: Filters) -> np.ndarray:
        """The rows the filters allow, in order."""

        def compute() -> np.ndarray:
            documents = None
            if filters.restricts_documents():
                documents = [d for d in self.documents() if filters.matches(d)]
            return self.rows_where(documents, filters.pages)

        return self._filtered.get(filters, compute)

    @cached_property
    def _filtered(self) -> FilterCache:
        return FilterCache()

    def dense(self, query: np.ndarray, depth: int, filters: Filters | None = None) -> Ranking:
        allowed = self.allowed_rows(filters) if filters else None
        if self.chunk_count == 0 or (allowed is not None and len(allowed) == 0):
            return []
        depth = min(depth, self.chunk_count)
        scores, rows = self.search(query[None, :], depth, allowed)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def lexical(self, question: str, depth: int, filters: Filters | None = None) -> Ranking:
        allowed = self.allowed_rows(filters) if filters else None
        if self.chunk_count == 0 or (allowed is not None and len(allowed) == 0):
            return []
        scores = self.lexical_index.scores(question)
        if allowed is not None:
            masked = np.zeros_like(scores)
            masked[allowed] = scores[allowed]
            scores = masked
        matching = np.flatnonzero(scores > 0)  # a chunk sharing no term is no hit
        if len(matching) > depth:
            matching = matching[np.argpartition(-scores[matching], depth - 1)[:depth]]
        order = matching[np.lexsort((matching, -scores[matching]))]
        return [(int(r), float(scores[r])) for r in order]

    @cached_property
    def _row_by_text(self) -> dict[str, int]:
        return {c.text: row for row, c in enumerate(self.chunks())}

    def reusable(self, texts: list[str]) -> dict[str, Reusable]:
        rows = {t: self._row_by_text[t] for t in texts if t in self._row_by_text}
        if not rows:
            return {}
        vectors = self.vectors_of(list(rows.values()))
        stored = self.sentence_index
        return {
            text: Reusable(vector, stored.of(row, text) if stored is not None else None)
            for (text, row), vector in zip(rows.items(), vectors, strict=True)
        }

    @cached_property
    def _table_names(self) -> dict[str, list[str]]:
        names: dict[str, list[str]] = {}
        for document, name in self._table_rows("SELECT document, name FROM tables ORDER BY rowid"):
            names.setdefault(document, []).append(name)
        return names

    def table_names(self) -> dict[str, list[str]]:
        return {document: list(names) for document, names in self._table_names.items()}

    def table(self, document: str, name: str) -> Table | None:
        found = self._table_rows(
            "SELECT data FROM tables WHERE document = ? AND name = ?", (document, name)
        )
        return Table.from_json(found[0][0], document) if found else None

    def stored_tables(self, keep: Collection[str] | None = None) -> list[tuple[str, str, str]]:
        """(document, name, JSON) of the kept tables of these documents (all when None)."""
        rows = self._table_rows("SELECT document, name, data FROM tables ORDER BY rowid")
        return [r for r in rows if keep is None or r[0] in keep]

    def _table_rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            if self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tables'"
            ).fetchone():
                raise
            return []  # written before tables were kept

    def close(self) -> None:
        if "_db" in self.__dict__:
            self._db.close()


def current_version_name(root: Path, name: str) -> str | None:
    """The name of the current version (cheap: one small read), or None before the first build."""
    return _read_current(index_path(root, name)) or None


def open_current(root: Path, name: str) -> IndexVersion | None:
    """The current version of an index, or None when it has never been built."""
    version = current_version_name(root, name)
    if version is None:
        return None
    path = index_path(root, name) / version
    if not _VERSION.match(version) or not path.is_dir():
        raise IndexCorruptError(
            f"index '{name}': CURRENT points at a missing version '{version}'; "
            "rebuild it with --rebuild"
        )
    meta = _read_json(path / "meta.json")
    if meta.get("format") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index '{name}' uses format {meta.get('format')}, this Sourced reads format "
            f"{FORMAT_VERSION}; rebuild it with --rebuild"
        )
    return IndexVersion(name, path, meta)


def open_index(root: Path, name: str) -> IndexVersion:
    return LocalStore(root).open_index(name)


def write_version(
    root: Path,
    name: str,
    spec: IndexSpec,
    dimension: int,
    chunks: list[Chunk],
    vectors: np.ndarray,
    manifest: Manifest,
    keep: int = 3,
    ann_min_chunks: int = 50_000,
    sentences: SentenceIndex | None = None,
    tables: list[tuple[str, str, str]] = (),
) -> IndexVersion:
    """Write a new version and make it current. The caller holds `write_lock(root, name)`.
    `tables` are (document, name, JSON) of the tables kept (ingest/tables.py)."""
    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    if sentences is not None and len(sentences.offsets) != len(chunks) + 1:
        raise ValueError(f"{len(chunks)} chunks but sentences of {len(sentences.offsets) - 1}")
    directory = index_path(root, name)
    _remove_leftovers(directory)
    version = f"v{_next_number(directory):06d}"
    tmp = directory / f"{_TMP_PREFIX}{version}"
    tmp.mkdir(parents=True)

    index, vector_info = vector_index.build(vectors, dimension, ann_min_chunks)
    faiss.write_index(index, str(tmp / "index.faiss"))
    _write_chunks(tmp / "chunks.sqlite", chunks, tables)
    LexicalIndex.build([c.text for c in chunks], [c.document for c in chunks]).save(tmp / "bm25")
    _write_json(tmp / "manifest.json", manifest.to_dict())
    if sentences is not None:
        sentences.save(tmp / "sentences")
    meta = {
        "format": FORMAT_VERSION,
        "name": name,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "spec": asdict(spec),
        "dimension": dimension,
        "metric": "inner_product",
        "normalized": True,
        "vectors": vector_info.to_dict(),
        "documents": len(manifest.indexed()),
        "chunks": len(chunks),
        "lexical": {"version": LEXICAL_VERSION},
    }
    if sentences is not None:
        meta["sentences"] = {"version": SENTENCES_VERSION, "count": sentences.count}
    _write_json(tmp / "meta.json", meta)
    for file in tmp.rglob("*"):
        if file.is_file():
            _fsync_file(file)
    for folder in (
        tmp / "bm25",
        tmp / "bm25" / "chunks",
        tmp / "bm25" / "documents",
        tmp / "sentences",
    ):
        if folder.is_dir():
            _fsync_dir(folder)
    _fsync_dir(tmp)

    final = directory / version
    os.rename(tmp, final)
    _fsync_dir(directory)
    _swap_current(directory, version)
    _remove_old_versions(directory, keep)
    return IndexVersion(name, final, meta)


def _swap_current(directory: Path, version: str) -> None:
    tmp = directory / f"{_TMP_PREFIX}CURRENT"
    with tmp.open("w") as handle:
        handle.write(version + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, directory / "CURRENT")
    _fsync_dir(directory)


def _versions(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.iterdir():
        match = _VERSION.match(path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), path))
    return sorted(found)


def _next_number(directory: Path) -> int:
    versions = _versions(directory)
    return versions[-1][0] + 1 if versions else 1


def _remove_leftovers(directory: Path) -> None:
    """What killed builds left: half-written versions, and whole ones killed before they were
    made current (numbered past CURRENT, so no reader ever opened them). Only ever called under
    the writer lock."""
    for path in directory.glob(f"{_TMP_PREFIX}*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    current = _VERSION.match(_read_current(directory))
    current_number = int(current.group(1)) if current else 0
    for number, path in _versions(directory):
        if number > current_number:
            shutil.rmtree(path, ignore_errors=True)


def _read_current(directory: Path) -> str:
    try:
        return (directory / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return ""


def _remove_old_versions(directory: Path, keep: int) -> None:
    current = _read_current(directory)
    for _, path in _versions(directory)[:-keep]:
        if path.name != current:
            # Renamed first, so a kill mid-removal leaves a leftover, never a half-deleted version.
            doomed = directory / f"{_TMP_PREFIX}removed-{path.name}"
            os.rename(path, doomed)
            shutil.rmtree(doomed, ignore_errors=True)


def tidy(root: Path, name: str, keep: int) -> None:
    """Clear what killed builds left and versions past `keep`, when a run writes nothing new.
    The caller holds `write_lock(root, name)`."""
    directory = index_path(root, name)
    _remove_leftovers(directory)
    if _read_current(directory):
        _remove_old_versions(directory, keep)


class LocalStore(Store):
    """Indexes under one folder (SOURCED_INDEX_DIR)."""

    kind = "local"

    def __init__(self, root: Path, ann_min_chunks: int = 50_000):
        self.root = root
        self.ann_min_chunks = ann_min_chunks

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [
            d.name
            for d in sorted(self.root.iterdir())
            if d.is_dir() and _NAME.match(d.name) and _read_current(d)
        ]

    def current_version(self, name: str) -> str | None:
        return current_version_name(self.root, name)

    def open_current(self, name: str) -> IndexVersion | None:
        return open_current(self.root, name)

    def write_lock(self, name: str) -> AbstractContextManager[None]:
        return write_lock(self.root, name)

    def publish(self, name: str, change: IndexChange, keep: int = 3) -> IndexVersion:
        """The whole new version is written: what the previous one keeps, and what is added."""
        previous = None if change.replace else open_current(self.root, name)
        chunks, vectors, sentences = list(change.added), [change.vectors], change.sentences
        if previous is not None and previous.chunk_count:
            kept = [
                (row, c)
                for row, c in enumerate(previous.chunks())
                if c.document not in change.removed
            ]
            rows = [row for row, _ in kept]
            chunks += [c for _, c in kept]
            vectors.append(previous.vectors_of(rows))
            if sentences is not None:
                stored = previous.sentences_of(rows, [c.text for _, c in kept])
                if stored is None and rows:
                    raise ValueError("the previous version has no sentences to keep")
                sentences = sentences + (stored or [])
        tables = [(t.document, t.name, t.to_json()) for t in change.tables]
        if previous is not None:
            documents = set(previous.table_names()) - change.removed
            tables += previous.stored_tables(documents)
        tables.sort(key=lambda t: t[0])  # stable: a document's tables in their order
        order = sorted(range(len(chunks)), key=lambda i: chunks[i].document)  # stable
        merged = np.concatenate(vectors)[order] if order else change.vectors
        return write_version(
            self.root,
            name,
            change.spec,
            change.dimension,
            [chunks[i] for i in order],
            np.ascontiguousarray(merged, dtype=np.float32),
            change.manifest.apply(previous.manifest() if previous else Manifest()),
            keep=keep,
            ann_min_chunks=self.ann_min_chunks,
            sentences=None
            if sentences is None
            else SentenceIndex.gather([sentences[i] for i in order], change.dimension),
            tables=tables,
        )

    def tidy(self, name: str, keep: int) -> None:
        tidy(self.root, name, keep)

    def save_upload(self, name: str, filename: str, data: bytes) -> None:
        folder = uploads_path(self.root, name)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".upload-{uuid.uuid4().hex}"
        tmp.write_bytes(data)
        os.replace(tmp, folder / filename)

    @contextmanager
    def uploads_folder(self, name: str) -> Iterator[Path]:
        yield uploads_path(self.root, name)


_SCHEMA = """
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY,   -- position of the vector in index.faiss
    id TEXT NOT NULL UNIQUE,
    document TEXT NOT NULL,
    text TEXT NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    page INTEGER,
    source TEXT NOT NULL       -- JSON: the chunk's Source (ingest/units.py)
);
CREATE INDEX chunks_document ON chunks(document);
CREATE TABLE tables (
    document TEXT NOT NULL,
    name TEXT NOT NULL,        -- '' for a file that is one table, a sheet's name, a JSON path
    data TEXT NOT NULL,        -- JSON: the table's typed columns and row numbers
    PRIMARY KEY (document, name)
);
"""


def _write_chunks(path: Path, chunks: list[Chunk], tables: list[tuple[str, str, str]]) -> None:
    db = sqlite3.connect(path)
    try:
        db.executescript(_SCHEMA)
        db.executemany("INSERT INTO tables VALUES (?, ?, ?)", tables)
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    row,
                    c.id,
                    c.document,
                    c.text,
                    c.char_start,
                    c.char_end,
                    c.source.page,
                    json.dumps(c.source.to_dict(), ensure_ascii=False),
                )
                for row, c in enumerate(chunks)
            ),
        )
        db.commit()
    finally:
        db.close()


def _chunk(row: tuple) -> Chunk:
    _, chunk_id, document, text, start, end, source = row
    return Chunk(chunk_id, document, text, start, end, Source.from_dict(json.loads(source)))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"cannot read {path.parent.name}/{path.name}: {exc}") from exc


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
