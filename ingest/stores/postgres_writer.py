"""Writing one publish of the Postgres store, inside its transaction (postgres.py opens it).

Removing documents marks their rows with the new version; adding writes whole documents a
group at a time with binary COPY (chunks with vectors and sentences, their BM25 terms, the
documents' terms) and then counts the terms' document frequencies. Rows that no kept version
sees are deleted at the end.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from ingest.lexical import terms
from ingest.manifest import ManifestChange
from ingest.sentence_index import ChunkSentences
from ingest.stores.postgres_schema import INDEX_GRAPH, INDEX_TABLE_NAMES, INDEX_TABLES
from ingest.tables import Table
from ingest.units import Chunk

_BINARY = "FROM STDIN (FORMAT BINARY)"
_GROUP_CHUNKS = 5_000  # chunks written per group of whole documents
_CHUNK_INSERT = (
    "row, doc, ord, id, text, char_start, char_end, page, source, length, embedding, spans, "
    "sentence_vectors, added_in"
)
_CHUNK_TYPES = [
    "int8", "int8", "int4", "text", "text", "int4", "int4", "int4", "jsonb", "int4", "vector",
    "int4[]", "bytea", "int4",
]  # fmt: skip
# Building the graph after a first load, in memory, is several times quicker than adding to it
# row by row; the memory is the server's, for this transaction only.
_GRAPH_BUILD_MEMORY = "1GB"


class Publication:
    """The statements of one publish, inside its transaction."""

    def __init__(self, conn: psycopg.Connection, tables: str, version: int, dimension: int):
        self.conn = conn
        self.t = tables
        self.v = version
        self.dimension = dimension

    def remove(self, documents: set[str], stats: dict[str, int]) -> dict[str, int]:
        if not documents:
            return stats
        t, v = self.t, self.v
        self.conn.execute(
            f"UPDATE {t}_tables SET removed_in = %s WHERE path = ANY(%s) AND removed_in IS NULL",
            (v, list(documents)),
        )
        gone = self.conn.execute(
            f"UPDATE {t}_docs SET removed_in = %s WHERE path = ANY(%s) AND removed_in IS NULL "
            "RETURNING doc, length, chunks",
            (v, list(documents)),
        ).fetchall()
        if not gone:
            return stats
        docs = [g[0] for g in gone]
        removed = self.conn.execute(
            f"UPDATE {t}_chunks SET removed_in = %s WHERE doc = ANY(%s) AND removed_in IS NULL "
            "RETURNING row, length",
            (v, docs),
        ).fetchall()
        length = sum(r[1] for r in removed)
        # Document frequencies follow the newest version: the removed rows no longer count.
        self.conn.execute(
            f"WITH gone AS (UPDATE {t}_terms SET removed_in = %s WHERE row = ANY(%s) "
            f"AND removed_in IS NULL RETURNING term) "
            f"UPDATE {t}_df SET chunks = {t}_df.chunks - g.n "
            f"FROM (SELECT term, count(*) AS n FROM gone GROUP BY term) g "
            f"WHERE g.term = {t}_df.term",
            (v, [r[0] for r in removed]),
        )
        self.conn.execute(
            f"UPDATE {t}_df SET docs = {t}_df.docs - g.n FROM (SELECT term, count(*) AS n "
            f"FROM {t}_doc_terms WHERE doc = ANY(%s) GROUP BY term) g "
            f"WHERE g.term = {t}_df.term",
            (docs,),
        )
        return {
            "chunks": stats["chunks"] - sum(g[2] for g in gone),
            "chunk_length": stats["chunk_length"] - int(length),
            "documents": stats["documents"] - len(gone),
            "document_length": stats["document_length"] - sum(g[1] for g in gone),
        }

    def add(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        sentences: list[ChunkSentences] | None,
        stats: dict[str, int],
    ) -> dict[str, int]:
        """Write the added chunks, a group of whole documents at a time (so memory stays
        bounded however large the change), and count their terms."""
        if not chunks:
            return stats
        chunk_df: Counter[str] = Counter()
        doc_df: Counter[str] = Counter()
        documents, length = 0, 0
        for group in document_groups(chunks, _GROUP_CHUNKS):
            found = self._add_group(chunks, group, vectors, sentences, chunk_df, doc_df)
            documents += found[0]
            length += found[1]
        self._count_terms(chunk_df, doc_df)
        return {
            "chunks": stats["chunks"] + len(chunks),
            "chunk_length": stats["chunk_length"] + length,
            "documents": stats["documents"] + documents,
            "document_length": stats["document_length"] + length,
        }

    def _add_group(
        self,
        chunks: list[Chunk],
        group: range,
        vectors: np.ndarray,
        sentences: list[ChunkSentences] | None,
        chunk_df: Counter[str],
        doc_df: Counter[str],
    ) -> tuple[int, int]:
        """Chunks `group` (whole documents) with their documents and terms; returns how many
        documents and terms they hold."""
        t, v = self.t, self.v
        by_document: dict[str, list[int]] = {}
        for i in group:
            by_document.setdefault(chunks[i].document, []).append(i)
        ids = self._ids(len(group) + len(by_document))
        rows = dict(zip(group, ids[: len(group)], strict=True))
        chunk_terms = {i: Counter(terms(chunks[i].text)) for i in group}
        with self.conn.cursor() as cur:
            with cur.copy(f"COPY {t}_docs (doc, path, length, chunks, added_in) {_BINARY}") as cp:
                cp.set_types(["int8", "text", "int4", "int4", "int4"])
                for doc, (path, members) in zip(
                    ids[len(group) :], by_document.items(), strict=True
                ):
                    length = sum(sum(chunk_terms[i].values()) for i in members)
                    cp.write_row((doc, path, length, len(members), v))
            doc_ids = dict(zip(by_document, ids[len(group) :], strict=True))
            with cur.copy(f"COPY {t}_doc_terms (term, doc, tf, length) {_BINARY}") as cp:
                cp.set_types(["text", "int8", "int4", "int4"])
                for path, members in by_document.items():
                    whole: Counter[str] = Counter()
                    for i in members:
                        whole.update(chunk_terms[i])
                    doc_df.update(whole.keys())
                    length = sum(whole.values())
                    for term, tf in whole.items():
                        cp.write_row((term, doc_ids[path], tf, length))
            with cur.copy(f"COPY {t}_chunks ({_CHUNK_INSERT}) {_BINARY}") as cp:
                cp.set_types(_CHUNK_TYPES)
                for path, members in by_document.items():
                    for position, i in enumerate(members):
                        chunk = chunks[i]
                        spans, blob = None, None
                        if sentences is not None:
                            spans = [x for s in sentences[i].spans for x in (s.start, s.end)]
                            blob = np.asarray(sentences[i].vectors, dtype=np.float16).tobytes()
                        cp.write_row(
                            (
                                rows[i],
                                doc_ids[path],
                                position,
                                chunk.id,
                                chunk.text,
                                chunk.char_start,
                                chunk.char_end,
                                chunk.source.page,
                                Jsonb(chunk.source.to_dict()),
                                sum(chunk_terms[i].values()),
                                np.asarray(vectors[i], dtype=np.float32),
                                spans,
                                blob,
                                v,
                            )
                        )
            columns = "term, row, tf, length, doc, page, added_in"
            with cur.copy(f"COPY {t}_terms ({columns}) {_BINARY}") as cp:
                cp.set_types(["text", "int8", "int4", "int4", "int8", "int4", "int4"])
                for path, members in by_document.items():
                    for i in members:
                        found = chunk_terms[i]
                        chunk_df.update(found.keys())
                        length, page = sum(found.values()), chunks[i].source.page
                        for term, tf in found.items():
                            cp.write_row((term, rows[i], tf, length, doc_ids[path], page, v))
        return len(by_document), sum(sum(c.values()) for c in chunk_terms.values())

    def _ids(self, n: int) -> list[int]:
        found = self.conn.execute(
            f"SELECT nextval('{self.t}_ids') FROM generate_series(1, %s)", (n,)
        ).fetchall()
        return [r[0] for r in found]

    def _count_terms(self, chunk_df: Counter[str], doc_df: Counter[str]) -> None:
        t = self.t
        self.conn.execute(
            "CREATE TEMP TABLE sourced_new_df (term text, chunks integer, docs integer) "
            "ON COMMIT DROP"
        )
        with self.conn.cursor() as cur, cur.copy("COPY sourced_new_df FROM STDIN") as cp:
            for term in chunk_df.keys() | doc_df.keys():
                cp.write_row((term, chunk_df[term], doc_df[term]))
        self.conn.execute(
            f"INSERT INTO {t}_df SELECT term, chunks, docs FROM sourced_new_df "
            f"ON CONFLICT (term) DO UPDATE SET chunks = {t}_df.chunks + EXCLUDED.chunks, "
            f"docs = {t}_df.docs + EXCLUDED.docs"
        )

    def add_tables(self, tables: list[Table]) -> None:
        copy = f"COPY {self.t}_tables (path, name, ord, data, added_in) FROM STDIN"
        with self.conn.cursor() as cur, cur.copy(copy) as cp:
            for ord_, table in enumerate(tables):
                cp.write_row((table.document, table.name, ord_, table.to_json(), self.v))

    def write_manifest(self, change: ManifestChange, first: bool = False) -> None:
        """Only the records that change are written: the old row of a changed or forgotten
        file is marked removed in this version, and the new one added."""
        t, v = self.t, self.v
        if not first:
            self.conn.execute(
                f"UPDATE {t}_files SET removed_in = %s WHERE path = ANY(%s) AND removed_in IS NULL",
                (v, sorted(change.records.keys() | change.forgotten)),
            )
        copy = f"COPY {t}_files (path, record, added_in) FROM STDIN"
        with self.conn.cursor() as cur, cur.copy(copy) as cp:
            for path, record in sorted(change.records.items()):
                cp.write_row((path, json.dumps(record.to_dict(), ensure_ascii=False), v))

    def analyze(self) -> None:
        """Fresh statistics for the planner, in this transaction."""
        for table in INDEX_TABLE_NAMES:
            self.conn.execute(f"ANALYZE {self.t}_{table}")

    def collect_garbage(self, keep: int) -> None:
        """Rows no kept version can see: removed at or before the oldest version kept."""
        t, oldest = self.t, self.v - keep + 1
        for table in ("terms", "chunks"):
            self.conn.execute(f"DELETE FROM {t}_{table} WHERE removed_in <= %s", (oldest,))
        self.conn.execute(
            f"DELETE FROM {t}_doc_terms p USING {t}_docs d WHERE d.doc = p.doc "
            "AND d.removed_in <= %s",
            (oldest,),
        )
        for table in ("docs", "files", "tables"):
            self.conn.execute(f"DELETE FROM {t}_{table} WHERE removed_in <= %s", (oldest,))
        self.conn.execute(f"DELETE FROM {t}_df WHERE chunks <= 0 AND docs <= 0")


EMPTY_STATS = {"chunks": 0, "chunk_length": 0, "documents": 0, "document_length": 0}


def create_tables(conn: psycopg.Connection, dimension: int) -> str:
    number = conn.execute("SELECT nextval('sourced_tables_seq')").fetchone()[0]
    tables = f"sourced_ix{number}"
    conn.execute(INDEX_TABLES.format(t=tables, d=int(dimension)))
    return tables


def drop_retired(conn: psycopg.Connection) -> None:
    """Drop the tables of indexes rebuilt from scratch a while ago: readers of their last
    version have moved on by then."""
    retired = conn.execute(
        "DELETE FROM sourced_retired WHERE retired_at < now() - interval '10 minutes' "
        "RETURNING tables"
    ).fetchall()
    for (tables,) in retired:
        for table in INDEX_TABLE_NAMES:
            conn.execute(f"DROP TABLE IF EXISTS {tables}_{table}")
        conn.execute(f"DROP SEQUENCE IF EXISTS {tables}_ids")


def build_graph(conn: psycopg.Connection, tables: str) -> None:
    """The HNSW graph over an index's vectors, once they are loaded."""
    conn.execute(f"SET LOCAL maintenance_work_mem = '{_GRAPH_BUILD_MEMORY}'")
    conn.execute(INDEX_GRAPH.format(t=tables))


def document_groups(chunks: list[Chunk], size: int) -> Iterator[range]:
    """Consecutive ranges of whole documents, each of at least `size` chunks but the last."""
    seen: set[str] = set()
    begin = 0
    for i in range(1, len(chunks) + 1):
        if i < len(chunks) and chunks[i].document == chunks[i - 1].document:
            continue
        document = chunks[i - 1].document
        if document in seen:
            raise ValueError(f"the chunks of '{document}' are not together")
        seen.add(document)
        if i - begin >= size or i == len(chunks):
            yield range(begin, i)
            begin = i
