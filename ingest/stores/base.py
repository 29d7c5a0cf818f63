"""The store interface: the one door between ingest, the app and wherever indexes live.

A store holds named indexes. Each index has a current version, which readers open
(`IndexReader`) and one writer at a time replaces by publishing a change (`IndexChange`): the
documents it removes and the chunks (and tables: ingest/tables.py) it adds. A reader sees one
version whole, before or after a publish, never half of one. Two stores implement this:

    local      versioned folders on this machine's disk (ingest/stores/local.py), the default
    postgres   PostgreSQL + pgvector, shared by app replicas and writers on many machines
               (ingest/stores/postgres.py)

Code outside `ingest/stores/` knows only this module and `ingest.stores.open_store`.
"""

from __future__ import annotations

import fnmatch
import re
from abc import ABC, abstractmethod
from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ingest.errors import IndexMismatchError, IndexNotFoundError, UsageError
from ingest.manifest import Manifest, ManifestChange
from ingest.sentence_index import ChunkSentences
from ingest.tables import Table
from ingest.units import Chunk
from ingest.vectors import VectorIndexInfo

INDEX_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(INDEX_NAME_PATTERN)

# (row, score) pairs, best first. A row is the reader's handle on one chunk of its version.
Ranking = list[tuple[int, float]]


def check_index_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"invalid index name '{name}': use letters, digits, '.', '_' or '-' (at most 64)"
        )
    return name


@dataclass(frozen=True)
class IndexSpec:
    """What must match for new vectors to be comparable with the stored ones."""

    embedding_model: str
    chunk_size: int
    chunk_overlap: int
    chunker: str

    def describe(self) -> str:
        return (
            f"embedding model '{self.embedding_model}', chunks of {self.chunk_size} tokens "
            f"with {self.chunk_overlap} overlap ({self.chunker})"
        )


@dataclass(frozen=True)
class Filters:
    """Which chunks may be retrieved; an empty field does not restrict."""

    documents: list[str] = field(default_factory=list)  # globs over document paths
    file_types: list[str] = field(default_factory=list)  # extensions: "pdf", "md"
    pages: tuple[int, int] | None = None  # inclusive page range (only paged documents match)

    def __bool__(self) -> bool:
        return bool(self.documents or self.file_types or self.pages)

    def matches(self, document: str) -> bool:
        path = PurePosixPath(document)
        if self.file_types:
            types = {t.lower().lstrip(".") for t in self.file_types}
            if path.suffix.lower().lstrip(".") not in types:
                return False
        if self.documents:
            # A pattern without "/" also matches the file name alone: "*.pdf", "faq.json".
            return any(
                fnmatch.fnmatchcase(document, glob)
                or ("/" not in glob and fnmatch.fnmatchcase(path.name, glob))
                for glob in self.documents
            )
        return True

    def restricts_documents(self) -> bool:
        return bool(self.documents or self.file_types)

    @property
    def key(self) -> str:
        """The same for equal filters (they hold lists, so they are not hashable)."""
        return repr((sorted(self.documents), sorted(self.file_types), self.pages))


class FilterCache:
    """What a reader worked out for recent filters (the documents they allow): a version
    never changes, so a filter asked again costs nothing the second time."""

    def __init__(self, size: int = 64):
        self.size = size
        self._found: dict[str, object] = {}

    def get(self, filters: Filters, compute):
        key = filters.key
        if key not in self._found:
            if len(self._found) >= self.size:
                self._found.pop(next(iter(self._found)))
            self._found[key] = compute()
        return self._found[key]


@dataclass(frozen=True)
class Reusable:
    """What a previous version already holds for a chunk text: its vector, and its sentences
    with their vectors (None when that version stored none)."""

    vector: np.ndarray
    sentences: ChunkSentences | None


@dataclass
class IndexChange:
    """One publish: the documents whose chunks go, the chunks that come, and how the manifest
    changes. `replace` starts from nothing (a rebuild): then the manifest change holds every
    record of the new version."""

    spec: IndexSpec
    dimension: int
    manifest: ManifestChange
    removed: set[str] = field(default_factory=set)  # documents removed or re-read
    added: list[Chunk] = field(default_factory=list)  # in document order, each document whole
    vectors: np.ndarray | None = None  # row i for added[i]
    sentences: list[ChunkSentences] | None = None  # per added chunk; None: none stored
    replace: bool = False
    tables: list[Table] = field(default_factory=list)  # of added documents, `document` set

    def __post_init__(self) -> None:
        if self.vectors is None:
            self.vectors = np.zeros((0, self.dimension), dtype=np.float32)
        if len(self.vectors) != len(self.added):
            raise ValueError(f"{len(self.added)} chunks but {len(self.vectors)} vectors")
        if self.sentences is not None and len(self.sentences) != len(self.added):
            raise ValueError(f"{len(self.added)} chunks but sentences of {len(self.sentences)}")


class IndexReader(ABC):
    """One version of an index, opened for reading. It keeps answering for that version while
    later versions are published."""

    name: str

    @property
    @abstractmethod
    def version(self) -> str: ...

    @property
    @abstractmethod
    def spec(self) -> IndexSpec: ...

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    @abstractmethod
    def built_at(self) -> str: ...

    @property
    @abstractmethod
    def document_count(self) -> int: ...

    @property
    @abstractmethod
    def chunk_count(self) -> int: ...

    @property
    @abstractmethod
    def search_info(self) -> VectorIndexInfo:
        """Exact or approximate vector search, and what is known of its recall."""

    @property
    @abstractmethod
    def has_sentences(self) -> bool:
        """Whether every chunk's sentences are stored with their vectors."""

    @abstractmethod
    def manifest(self, paths: Collection[str] | None = None) -> Manifest:
        """The records of the files in `paths` (those this version has; all when None), and
        every remembered failure."""

    @abstractmethod
    def manifest_paths(self) -> set[str]:
        """The path of every file this version has a record of."""

    @abstractmethod
    def chunks(self, rows: list[int] | None = None) -> list[Chunk]:
        """Chunks by row, in the order asked; all of them (in document order) when None."""

    @abstractmethod
    def chunk_in_context(self, chunk_id: str, around: int = 1) -> tuple[list[Chunk], int] | None:
        """A chunk with up to `around` neighbours each side in its document, and its position
        in that list; None when no chunk has that id."""

    @abstractmethod
    def documents(self) -> list[str]:
        """Every document's path (relative to the folder it was ingested from)."""

    @abstractmethod
    def dense(self, query: np.ndarray, depth: int, filters: Filters | None = None) -> Ranking:
        """The `depth` chunks nearest the unit query vector (inner product), among those the
        filters allow; fewer only when fewer are allowed."""

    @abstractmethod
    def lexical(self, question: str, depth: int, filters: Filters | None = None) -> Ranking:
        """Up to `depth` chunks by BM25 score for the question (ingest/lexical.py); a chunk
        sharing no term with it is no hit."""

    @abstractmethod
    def vectors_of(self, rows: list[int]) -> np.ndarray:
        """The vectors of the given rows, in that order."""

    @abstractmethod
    def sentences_of(self, rows: list[int], texts: list[str]) -> list[ChunkSentences] | None:
        """The stored sentences of the chunks in `rows` (whose texts are `texts`), or None."""

    @abstractmethod
    def reusable(self, texts: list[str]) -> dict[str, Reusable]:
        """Of these chunk texts, those this version holds, with what can be reused of them."""

    @abstractmethod
    def table_names(self) -> dict[str, list[str]]:
        """The tables this version keeps: each document's (that has any) table names, in
        document order (cheap: no cell is read)."""

    @abstractmethod
    def table(self, document: str, name: str) -> Table | None:
        """One kept table, whole; None when the document keeps none of that name."""

    def tables(self, documents: Collection[str] | None = None) -> list[Table]:
        """Every kept table of these documents (all documents when None)."""
        found = []
        for document, names in self.table_names().items():
            if documents is None or document in documents:
                found.extend(t for n in names if (t := self.table(document, n)) is not None)
        return found

    def load(self) -> IndexReader:
        """Get ready to answer now, rather than on the first search."""
        return self

    def close(self) -> None:  # noqa: B027 - optional: most readers hold nothing open
        """Let go of what the reader holds open."""

    def check_spec(self, wanted: IndexSpec) -> None:
        if wanted != self.spec:
            raise IndexMismatchError(
                f"index '{self.name}' was built with {self.spec.describe()}, but the settings "
                f"ask for {wanted.describe()}. Rebuild it with `sourced ingest … --index "
                f"{self.name} --rebuild`, or change the settings back."
            )


class Store(ABC):
    """Where indexes live."""

    kind: str

    @abstractmethod
    def names(self) -> list[str]:
        """The indexes that have a current version, by name."""

    @abstractmethod
    def current_version(self, name: str) -> str | None:
        """The name of the current version (cheap), or None before the first publish."""

    @abstractmethod
    def open_current(self, name: str) -> IndexReader | None:
        """The current version, or None when the index has never been published."""

    @abstractmethod
    def write_lock(self, name: str) -> AbstractContextManager[None]:
        """Be the index's one writer for a while; IndexLockedError when another writer is. A
        writer that dies lets go of it."""

    @abstractmethod
    def publish(self, name: str, change: IndexChange, keep: int = 3) -> IndexReader:
        """Make a new version current, all at once. The caller holds `write_lock(name)`."""

    @abstractmethod
    def tidy(self, name: str, keep: int) -> None:
        """Clear what killed writers left and versions past `keep`. The caller holds the lock."""

    @abstractmethod
    def save_upload(self, name: str, filename: str, data: bytes) -> None:
        """Keep an uploaded file with the index; ingest reads it as `uploads/<filename>`."""

    @abstractmethod
    def uploads_folder(self, name: str) -> AbstractContextManager[Path]:
        """A folder holding the index's uploaded files, to be read by ingest meanwhile."""

    def close(self) -> None:  # noqa: B027 - optional: a folder holds no connection
        """Let go of connections."""

    def open_index(self, name: str) -> IndexReader:
        version = self.open_current(check_index_name(name))
        if version is None:
            raise IndexNotFoundError(
                f"no index named '{name}': build it with `sourced ingest FOLDER --index {name}`"
            )
        return version

    def list_indexes(self) -> list[IndexReader]:
        found = []
        for name in self.names():
            version = self.open_current(name)
            if version is not None:
                found.append(version)
        return found
