"""The Postgres store: indexes in PostgreSQL + pgvector, shared by app replicas and writers.

Everything an index needs is in the database (postgres_schema.py): chunks with provenance,
vectors under an HNSW graph, BM25 postings and statistics, the manifest, uploads. A publish
is one transaction that marks the removed documents' rows with the new version and adds the
new rows, so it costs what changed, not the index's size. Readers pin a version number and
see exactly its rows; one writer per index holds an advisory lock, which dies with its
connection.

BM25 here is the local store's (ingest/lexical.py: the same terms, Lucene's formula, chunk
plus document score), computed in SQL from stored term frequencies, so both stores rank
alike. Document frequencies follow the latest version: a reader still on the version before
it scores with them until its next request opens the new one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ingest.errors import IndexCorruptError, IndexLockedError
from ingest.lexical import BM25_B, BM25_K1, DOCUMENT_WEIGHT, terms
from ingest.manifest import Failure, FileRecord, Manifest
from ingest.sentence_index import ChunkSentences
from ingest.sentences import Span
from ingest.stores.base import (
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
from ingest.stores.postgres_schema import IMPACT, DatabaseError, migrate
from ingest.stores.postgres_writer import (
    EMPTY_STATS,
    Publication,
    build_graph,
    create_tables,
    drop_retired,
)
from ingest.tables import Table
from ingest.units import Chunk, Source
from ingest.vectors import HNSW_EF_SEARCH, VectorIndexInfo

# A publish that adds this share of the index refreshes the planner's statistics at once:
# before autovacuum gets to new tables, their plans were seen to be several times slower.
ANALYZE_SHARE = 0.1
# Up to this many rows (a small index, or a narrow filter) are searched exactly: PostgreSQL
# compares about 250 vectors a millisecond here, the graph answers in a few milliseconds.
EXACT_ROWS = 2_000
# A question's BM25 reads at most this many postings of each of its terms (or this many per
# result asked for), the best first by their weight in the term (postgres_schema.IMPACT): a
# term in more chunks than that is common, of low weight, and its best chunks are the ones
# that can rank. So a question costs about the same in a million chunks as in ten thousand.
TERM_POSTINGS = 500
TERM_POSTINGS_PER_RESULT = 5
# The chunks with the best own scores, this many per result asked for, get their documents'
# scores added (one lookup per document and term); further down, a document's score could
# lift a chunk into the results only if it were several times the chunk's own.
DOCUMENT_SCORED_PER_RESULT = 2
# Up to this many manifest records are looked up by path; more are read with all the others.
MANIFEST_PROBES = 10_000
_VISIBLE = "{a}.added_in <= %(v)s AND ({a}.removed_in IS NULL OR {a}.removed_in > %(v)s)"
_CHUNK_COLUMNS = "c.row, c.id, d.path, c.text, c.char_start, c.char_end, c.source"


class PostgresStore(Store):
    kind = "postgres"

    def __init__(self, url: str, max_connections: int = 8):
        self.url = url
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                migrate(conn)
        except psycopg.OperationalError as exc:
            raise DatabaseError(f"cannot connect to the database: {_first_line(exc)}") from exc
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            # Not prepared: a prepared query may get a generic plan, blind to the filter's size
            # and the question's terms, and such a plan was seen to take 100 times longer.
            kwargs={"autocommit": True, "prepare_threshold": None},
            configure=register_vector,
            open=True,
        )

    def close(self) -> None:
        self.pool.close()

    # Reading

    def names(self) -> list[str]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT name FROM sourced_indexes ORDER BY name").fetchall()
        return [r[0] for r in rows]

    def current_version(self, name: str) -> str | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT version FROM sourced_indexes WHERE name = %s", (check_index_name(name),)
            ).fetchone()
        return None if row is None else _version_name(row[0])

    def open_current(self, name: str) -> PostgresIndex | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT tables, spec, dimension, version, built_at, stats, has_sentences "
                "FROM sourced_indexes WHERE name = %s",
                (check_index_name(name),),
            ).fetchone()
        return None if row is None else PostgresIndex(self.pool, name, *row)

    # Writing

    @contextmanager
    def write_lock(self, name: str) -> Iterator[None]:
        # A session lock on a connection of its own: a killed writer's connection closes and
        # the server lets the lock go.
        with psycopg.connect(self.url, autocommit=True) as conn:
            key = f"sourced:{check_index_name(name)}"
            taken = conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)
            ).fetchone()[0]
            if not taken:
                raise IndexLockedError(
                    f"index '{name}' is being written by another ingest; wait for it to finish"
                )
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))

    def publish(self, name: str, change: IndexChange, keep: int = 3) -> PostgresIndex:
        with self.pool.connection() as conn, conn.transaction():
            drop_retired(conn)
            row = conn.execute(
                "SELECT tables, spec, dimension, version, stats FROM sourced_indexes "
                "WHERE name = %s FOR UPDATE",
                (name,),
            ).fetchone()
            fresh = row is None or change.replace
            if not fresh and (row[1] != asdict(change.spec) or row[2] != change.dimension):
                raise ValueError(
                    f"index '{name}' was built with another spec or dimension: only a change "
                    "that replaces it can be published"
                )
            version = (row[3] if row else 0) + 1
            if fresh:
                if row is not None:
                    conn.execute(
                        "INSERT INTO sourced_retired VALUES (%s, now()) ON CONFLICT DO NOTHING",
                        (row[0],),
                    )
                tables = create_tables(conn, change.dimension)
                stats = EMPTY_STATS
            else:
                tables, stats = row[0], row[4]
            publication = Publication(conn, tables, version, change.dimension)
            stats = publication.remove(change.removed, stats)
            stats = publication.add(change.added, change.vectors, change.sentences, stats)
            publication.add_tables(change.tables)
            if fresh:
                build_graph(conn, tables)
            publication.write_manifest(change.manifest, first=fresh)
            publication.collect_garbage(keep)
            if len(change.added) >= ANALYZE_SHARE * max(stats["chunks"], 1):
                publication.analyze()
            built_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            failures = [asdict(f) for _, f in sorted(change.manifest.failures.items())]
            conn.execute(
                "INSERT INTO sourced_indexes VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET tables = EXCLUDED.tables, "
                "spec = EXCLUDED.spec, dimension = EXCLUDED.dimension, "
                "version = EXCLUDED.version, built_at = EXCLUDED.built_at, "
                "stats = EXCLUDED.stats, failures = EXCLUDED.failures, "
                "has_sentences = EXCLUDED.has_sentences",
                (
                    name,
                    tables,
                    Jsonb(asdict(change.spec)),
                    change.dimension,
                    version,
                    built_at,
                    Jsonb(stats),
                    Jsonb(failures),
                    change.sentences is not None,
                ),
            )
        return self.open_current(name)

    def tidy(self, name: str, keep: int) -> None:
        with self.pool.connection() as conn, conn.transaction():
            drop_retired(conn)

    # Uploads

    def save_upload(self, name: str, filename: str, data: bytes) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO sourced_uploads VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (index_name, filename) DO UPDATE "
                "SET data = EXCLUDED.data, mtime_ns = EXCLUDED.mtime_ns",
                (check_index_name(name), filename, data, time.time_ns()),
            )

    @contextmanager
    def uploads_folder(self, name: str) -> Iterator[Path]:
        """The uploads written to a temporary folder with their stored times, so an unchanged
        upload is recognised as unchanged by size and time."""
        with tempfile.TemporaryDirectory(prefix="sourced-uploads-") as folder:
            path = Path(folder)
            with self.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT filename, data, mtime_ns FROM sourced_uploads WHERE index_name = %s",
                    (check_index_name(name),),
                )
                for filename, data, mtime_ns in rows:
                    file = path / filename
                    file.write_bytes(data)
                    os.utime(file, ns=(mtime_ns, mtime_ns))
            yield path


class PostgresIndex(IndexReader):
    """One version of an index in the database."""

    def __init__(
        self,
        pool: ConnectionPool,
        name: str,
        tables: str,
        spec: dict[str, Any],
        dimension: int,
        version: int,
        built_at: str,
        stats: dict[str, Any],
        has_sentences: bool,
    ):
        self.pool = pool
        self.name = name
        self.prefix = tables  # its tables' names begin with this (postgres_schema.py)
        self._spec = IndexSpec(**spec)
        self._dimension = dimension
        self.number = version
        self._built_at = built_at
        self.stats = stats
        self._has_sentences = has_sentences
        self._filtered = FilterCache()

    version = property(lambda self: _version_name(self.number))
    spec = property(lambda self: self._spec)
    dimension = property(lambda self: self._dimension)
    built_at = property(lambda self: self._built_at)
    document_count = property(lambda self: int(self.stats["documents"]))
    chunk_count = property(lambda self: int(self.stats["chunks"]))
    has_sentences = property(lambda self: self._has_sentences)

    @property
    def search_info(self) -> VectorIndexInfo:
        if self.chunk_count <= EXACT_ROWS:  # see dense(): so few rows are searched exactly
            return VectorIndexInfo("flat")
        return VectorIndexInfo("hnsw", m=16, ef_search=HNSW_EF_SEARCH)

    def _query(
        self, sql: str, params: dict[str, Any] | None = None, binary: bool = False
    ) -> list[tuple]:
        """Rows of one query on this version; `binary` for vectors (parsing their text form
        costs more than the query)."""
        with self.pool.connection() as conn:
            params = {"v": self.number, **(params or {})}
            return conn.execute(self._sql(sql), params, binary=binary).fetchall()

    def _sql(self, sql: str) -> str:
        for alias in "cdpfx":
            sql = sql.replace(f"{{vis_{alias}}}", _VISIBLE.format(a=alias))
        return sql.replace("{t}", self.prefix)

    def manifest(self, paths: Collection[str] | None = None) -> Manifest:
        # One JSON array, parsed at once by orjson: a parse per row, for the several hundred
        # thousand files of a million chunks, took seconds. A few paths are found by their
        # index; many are read with the rest, which is quicker than an index probe each.
        sql = (
            "SELECT coalesce(json_agg(record ORDER BY path), '[]')::text FROM {t}_files f "
            "WHERE {vis_f}"
        )
        wanted = None if paths is None else set(paths)
        params = {}
        if wanted is not None and len(wanted) <= MANIFEST_PROBES:
            sql += " AND f.path = ANY(%(paths)s)"
            params["paths"] = sorted(wanted)
        (records,) = self._query(sql, params)[0]
        files = {}
        for r in orjson.loads(records):
            if wanted is None or r["path"] in wanted:
                files[r["path"]] = FileRecord(**r)
        with self.pool.connection() as conn:
            found = conn.execute(
                "SELECT failures FROM sourced_indexes WHERE name = %s", (self.name,)
            ).fetchone()
        failures = {f["path"]: Failure(**f) for f in (found[0] if found else [])}
        return Manifest(files=files, failures=failures)

    def manifest_paths(self) -> set[str]:
        return {r[0] for r in self._query("SELECT f.path FROM {t}_files f WHERE {vis_f}")}

    def chunks(self, rows: list[int] | None = None) -> list[Chunk]:
        base = f"SELECT {_CHUNK_COLUMNS} FROM {{t}}_chunks c JOIN {{t}}_docs d ON d.doc = c.doc"
        if rows is None:
            found = self._query(base + " WHERE {vis_c} ORDER BY d.path, c.ord")
            return [_chunk(r) for r in found]
        found = self._query(base + " WHERE c.row = ANY(%(rows)s)", {"rows": list(rows)})
        by_row = {r[0]: _chunk(r) for r in found}
        return [by_row[row] for row in rows]

    def chunk_in_context(self, chunk_id: str, around: int = 1) -> tuple[list[Chunk], int] | None:
        hit = self._query(
            "SELECT c.row, c.doc, c.ord FROM {t}_chunks c WHERE c.id = %(id)s AND {vis_c}",
            {"id": chunk_id},
        )
        if not hit:
            return None
        row, doc, ord_ = hit[0]
        rows = [
            r[0]
            for r in self._query(
                "SELECT c.row FROM {t}_chunks c WHERE c.doc = %(doc)s AND {vis_c} "
                "AND c.ord BETWEEN %(lo)s AND %(hi)s ORDER BY c.ord",
                {"doc": doc, "lo": ord_ - around, "hi": ord_ + around},
            )
        ]
        return self.chunks(rows), rows.index(row)

    @cached_property
    def _table_names(self) -> dict[str, list[str]]:
        names: dict[str, list[str]] = {}
        found = self._query("SELECT x.path, x.name FROM {t}_tables x WHERE {vis_x} ORDER BY x.ord")
        for path, name in sorted(found, key=lambda r: r[0]):  # stable: each in its order
            names.setdefault(path, []).append(name)
        return names

    def table_names(self) -> dict[str, list[str]]:
        return {document: list(names) for document, names in self._table_names.items()}

    def table(self, document: str, name: str) -> Table | None:
        found = self._query(
            "SELECT x.data FROM {t}_tables x WHERE x.path = %(path)s AND x.name = %(name)s "
            "AND {vis_x}",
            {"path": document, "name": name},
        )
        return Table.from_json(found[0][0], document) if found else None

    @cached_property
    def _documents(self) -> dict[str, tuple[int, int]]:
        """Each document's id and number of chunks, by path."""
        found = self._query("SELECT d.path, d.doc, d.chunks FROM {t}_docs d WHERE {vis_d}")
        return {path: (doc, chunks) for path, doc, chunks in found}

    def documents(self) -> list[str]:
        return list(self._documents)

    def _allowed_documents(self, filters: Filters) -> tuple[list[int], str, int]:
        """The ids of the documents the filters allow, the same as a multirange, and how
        many chunks they hold."""

        def allowed() -> tuple[list[int], str, int]:
            chosen = sorted(v for path, v in self._documents.items() if filters.matches(path))
            docs = [doc for doc, _ in chosen]
            return docs, _multirange(docs), sum(chunks for _, chunks in chosen)

        return self._filtered.get(filters, allowed)

    def _filter_sql(
        self, filters: Filters | None, alias: str = "c", few: bool = False
    ) -> tuple[str, dict[str, Any]] | None:
        """The filters as SQL over the rows of `alias`; None when they allow nothing. The
        documents are a multirange of their ids, tested on each row the query reads, so the
        filter stays a condition on the graph's or the postings' scan; with `few` rows
        allowed, a semi-join instead, which finds those documents' rows by their index."""
        if not filters:
            return "", {}
        sql, params = "", {}
        if filters.restricts_documents():
            docs, ranges, _ = self._allowed_documents(filters)
            if not docs:
                return None
            if few:
                sql = f" AND {alias}.doc IN (SELECT unnest(%(docs)s::bigint[]))"
                params["docs"] = docs
            else:
                # Documents are numbered as they are written, so a folder's are mostly
                # consecutive: a few ranges, however many documents.
                sql = f" AND %(doc_ranges)s::int8multirange @> {alias}.doc"
                params["doc_ranges"] = ranges
        if filters.pages is not None:
            sql += f" AND {alias}.page BETWEEN %(first)s AND %(last)s"
            params["first"], params["last"] = filters.pages
        return sql, params

    def _allowed_rows(self, filters: Filters | None, sql: str, params: dict[str, Any]) -> int:
        """How many chunks the filters allow: known from the documents' chunk counts, and
        counted (over those documents' rows only) when pages are filtered too."""
        if not filters:
            return self.chunk_count
        rows = self._allowed_documents(filters)[2] if filters.restricts_documents() else None
        if filters.pages is None and rows is not None:
            return rows
        if rows is not None and rows <= EXACT_ROWS:
            return rows  # at most that many: searched exactly whatever the pages
        return self._query("SELECT count(*) FROM {t}_chunks c WHERE {vis_c}" + sql, params)[0][0]

    def dense(self, query: np.ndarray, depth: int, filters: Filters | None = None) -> Ranking:
        where = self._filter_sql(filters)
        if where is None or self.chunk_count == 0:
            return []
        if self._allowed_rows(filters, *where) <= EXACT_ROWS:
            sql, params = self._filter_sql(filters, few=True)
            params |= {"q": np.asarray(query, dtype=np.float32), "k": depth}
            # Exact: the `+ 0` keeps the planner off the graph, whose filtered scan would
            # be slower and less complete for so few rows.
            found = self._query(
                "SELECT c.row, -(c.embedding <#> %(q)s) FROM {t}_chunks c WHERE {vis_c}"
                + sql
                + " ORDER BY (c.embedding <#> %(q)s) + 0, c.row LIMIT %(k)s",
                params,
            )
            return [(int(r), float(s)) for r, s in found]
        sql, params = where
        params |= {"q": np.asarray(query, dtype=np.float32), "k": depth}
        with self.pool.connection() as conn, conn.transaction():
            # Iterative scans keep walking the graph until enough rows pass the filters.
            conn.execute(f"SET LOCAL hnsw.ef_search = {max(HNSW_EF_SEARCH, int(depth))}")
            conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            # The graph, not a scan of the table: with a filter the planner was seen to sort
            # a tenth of 100,000 rows instead (100 ms; the graph answers in a few).
            conn.execute("SET LOCAL enable_seqscan = off")
            found = conn.execute(
                self._sql(
                    "WITH nearest AS MATERIALIZED (SELECT c.row, c.embedding <#> %(q)s AS distance "
                    "FROM {t}_chunks c WHERE {vis_c}" + sql + " ORDER BY distance LIMIT %(k)s) "
                    "SELECT row, -distance FROM nearest ORDER BY distance, row"
                ),
                {"v": self.number, **params},
            ).fetchall()
        return [(int(r), float(s)) for r, s in found]

    def lexical(self, question: str, depth: int, filters: Filters | None = None) -> Ranking:
        """BM25 over each term's best postings (see TERM_POSTINGS): exact while every term
        of the question is in at most that many chunks the filters allow, and the results
        are among the DOCUMENT_SCORED_PER_RESULT × depth best by their own scores."""
        where = self._filter_sql(filters, "p")
        wanted = Counter(terms(question))
        if where is None or not wanted or self.chunk_count == 0:
            return []
        sql, params = where
        stats = self.stats
        params |= {
            "terms": list(wanted),
            "weights": list(wanted.values()),
            "n": stats["chunks"],
            "nd": stats["documents"],
            "avg": max(stats["chunk_length"] / max(stats["chunks"], 1), 1e-9),
            "avg_d": max(stats["document_length"] / max(stats["documents"], 1), 1e-9),
            "k1": BM25_K1,
            "b": BM25_B,
            "w": DOCUMENT_WEIGHT,
            "k": depth,
            "per_term": max(TERM_POSTINGS, TERM_POSTINGS_PER_RESULT * depth),
            "scored": DOCUMENT_SCORED_PER_RESULT * depth,
        }
        found = self._query(
            """
WITH q AS (
    SELECT t.term, t.weight,
           ln(1 + (%(n)s - df.chunks + 0.5) / (df.chunks + 0.5)) AS idf,
           ln(1 + (%(nd)s - df.docs + 0.5) / (df.docs + 0.5)) AS idf_d
    FROM unnest(%(terms)s::text[], %(weights)s::int[]) AS t(term, weight)
    JOIN {t}_df df ON df.term = t.term
), hits AS (
    SELECT p.row, p.doc,
           sum(q.weight * q.idf * p.tf / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.length / %(avg)s)))
               AS score
    FROM q CROSS JOIN LATERAL (
        SELECT p.row, p.doc, p.tf, p.length FROM {t}_terms p
        WHERE p.term = q.term AND {vis_p}"""
            + sql
            + """
        ORDER BY """
            + IMPACT  # the order of the postings index, so it is read in that order
            + """ DESC
        LIMIT %(per_term)s
    ) p
    GROUP BY p.row, p.doc
), best AS (
    SELECT * FROM hits WHERE score > 0 ORDER BY score DESC, row LIMIT %(scored)s
)
SELECT h.row,
       h.score + %(w)s * coalesce((
           SELECT sum(q.weight * q.idf_d * p.tf
                      / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.length / %(avg_d)s)))
           FROM {t}_doc_terms p JOIN q ON q.term = p.term
           -- Both keys given: one lookup per term, not a read of all the document's terms.
           WHERE p.term = ANY(%(terms)s::text[]) AND p.doc = h.doc
       ), 0) AS total
FROM best h
ORDER BY total DESC, h.row
LIMIT %(k)s""",
            params,
        )
        return [(int(r), float(s)) for r, s in found]

    def vectors_of(self, rows: list[int]) -> np.ndarray:
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        found = dict(
            self._query(
                "SELECT c.row, c.embedding FROM {t}_chunks c WHERE c.row = ANY(%(rows)s)",
                {"rows": list(rows)},
                binary=True,
            )
        )
        return np.stack([_array(found[row]) for row in rows])

    def sentences_of(self, rows: list[int], texts: list[str]) -> list[ChunkSentences] | None:
        if not self.has_sentences:
            return None
        found = {
            r[0]: r[1:]
            for r in self._query(
                "SELECT c.row, c.spans, c.sentence_vectors FROM {t}_chunks c "
                "WHERE c.row = ANY(%(rows)s)",
                {"rows": list(rows)},
            )
        }
        if any(found[row][0] is None for row in rows):
            return None
        return [
            _sentences(*found[row], text, self.dimension)
            for row, text in zip(rows, texts, strict=True)
        ]

    def reusable(self, texts: list[str]) -> dict[str, Reusable]:
        if not texts:
            return {}
        hashes = list({hashlib.md5(t.encode()).hexdigest() for t in texts})
        wanted = set(texts)
        found: dict[str, Reusable] = {}
        for text, vector, spans, vectors in self._query(
            "SELECT c.text, c.embedding, c.spans, c.sentence_vectors FROM {t}_chunks c "
            "WHERE md5(c.text) = ANY(%(hashes)s) AND {vis_c}",
            {"hashes": hashes},
            binary=True,
        ):
            if text in wanted and text not in found:
                sentences = None
                if spans is not None:
                    sentences = _sentences(spans, vectors, text, self.dimension)
                found[text] = Reusable(_array(vector), sentences)
        return found


def _chunk(row: tuple) -> Chunk:
    _, chunk_id, document, text, start, end, source = row
    return Chunk(chunk_id, document, text, start, end, Source.from_dict(source))


def _sentences(spans: list[int], blob: bytes, text: str, dimension: int) -> ChunkSentences:
    pairs = list(zip(spans[::2], spans[1::2], strict=True))
    vectors = np.frombuffer(blob, dtype=np.float16).reshape(-1, dimension).astype(np.float32)
    if len(vectors) != len(pairs):
        raise IndexCorruptError("stored sentences do not match their vectors")
    return ChunkSentences([Span(a, b, text[a:b]) for a, b in pairs], vectors)


def _array(vector: Any) -> np.ndarray:
    """A vector as read (pgvector's Vector, or an array) as float32."""
    if hasattr(vector, "to_numpy"):
        vector = vector.to_numpy()
    return np.asarray(vector, dtype=np.float32)


def _multirange(ids: list[int]) -> str:
    """Sorted ids as an int8multirange literal: runs of consecutive ids become one range."""
    ranges, begin = [], 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[i - 1] + 1:
            ranges.append(f"[{ids[begin]},{ids[i - 1] + 1})")
            begin = i
    return "{" + ",".join(ranges) + "}"


def _version_name(number: int) -> str:
    return f"v{number:06d}"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
