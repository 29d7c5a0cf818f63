"""The Postgres store's tables, and the migrations that bring a database up to them.

Shared tables, created by migrations and numbered in `sourced_schema`:

    sourced_schema    the schema version of this database (one row)
    sourced_indexes   one row per index: its tables, spec, current version, BM25 statistics,
                      remembered failures
    sourced_uploads   files uploaded to an index, kept until replaced
    sourced_retired   tables of indexes rebuilt from scratch, dropped at a later publish
    sourced_keys      API keys (hashed) and the indexes each reaches, for every replica
    sourced_rate      each key's rate-limit bucket, shared by every replica

Each index has tables of its own (`<tables>_chunks`, `_docs`, `_terms`, `_tables` (the
documents' tables kept as tables), …; see INDEX_TABLES),
so its vectors have their own HNSW graph and a query never scans another index's rows. Rows
carry the version that added them and the one that removed them: a reader of version v sees
exactly the rows with added_in <= v < removed_in, whatever is published meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from ingest.errors import IndexMismatchError, SourcedError
from ingest.lexical import BM25_B, BM25_K1

SCHEMA_VERSION = 4
PGVECTOR_MIN = (0, 8, 0)  # iterative index scans, so filtered HNSW queries return enough rows
POSTGRES_MIN = 14  # multiranges, in which document filters travel
_MIGRATION_LOCK = 0x5C0_12CE  # the advisory lock taken while migrating

# A posting's BM25 weight within its term (Lucene's tf part, for a chunk of IMPACT_LENGTH
# terms on average), by which each term's postings are ordered: a question reads the best ones
# of each term first (postgres.py). The length is fixed, so the order needs no index-wide
# statistic; chunks are of bounded length, so it is close to the order of the true weights.
IMPACT_LENGTH = 100
IMPACT = f"(tf::real / (tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * length / {IMPACT_LENGTH}.0)))"

# Each term's postings in that order, carrying what scoring and the filters need.
POSTINGS_INDEX = (
    "CREATE INDEX IF NOT EXISTS {t}_impact ON {t}_terms (term, " + IMPACT + " DESC) "
    "INCLUDE (row, tf, length, doc, page, added_in, removed_in)"
)


def _order_postings(conn: psycopg.Connection) -> None:
    """Schema 3: every existing index's postings get the impact order, which replaces their
    primary key (term, row) as the way postings are read."""
    for (tables,) in conn.execute("SELECT tables FROM sourced_indexes").fetchall():
        conn.execute(POSTINGS_INDEX.format(t=tables))
        conn.execute(f"ALTER TABLE {tables}_terms DROP CONSTRAINT IF EXISTS {tables}_terms_pkey")


# The tables kept as tables (ingest/tables.py), as JSON text: read whole, one at a time.
TABLES_TABLE = """
CREATE TABLE IF NOT EXISTS {t}_tables (
    path text NOT NULL,
    name text NOT NULL,                 -- '' for a file that is one table, a sheet, a JSON path
    ord integer NOT NULL,               -- position among its document's tables
    data text NOT NULL,
    added_in integer NOT NULL,
    removed_in integer
);
CREATE INDEX IF NOT EXISTS {t}_tables_path ON {t}_tables (path, name);
"""


def _keep_tables(conn: psycopg.Connection) -> None:
    """Schema 4: every existing index gets a table for its documents' tables."""
    for (tables,) in conn.execute("SELECT tables FROM sourced_indexes").fetchall():
        conn.execute(TABLES_TABLE.format(t=tables))


# Each migration takes the database from the version before it to its own number: SQL, or a
# function for one that works on every index's tables.
MIGRATIONS: dict[int, str | Callable[[psycopg.Connection], None]] = {
    1: """
CREATE TABLE sourced_indexes (
    name text PRIMARY KEY,
    tables text NOT NULL,
    spec jsonb NOT NULL,
    dimension integer NOT NULL,
    version integer NOT NULL,
    built_at text NOT NULL,
    stats jsonb NOT NULL,
    failures jsonb NOT NULL,
    has_sentences boolean NOT NULL
);
CREATE SEQUENCE sourced_tables_seq;
CREATE TABLE sourced_uploads (
    index_name text NOT NULL,
    filename text NOT NULL,
    data bytea NOT NULL,
    mtime_ns bigint NOT NULL,
    PRIMARY KEY (index_name, filename)
);
CREATE TABLE sourced_retired (tables text PRIMARY KEY, retired_at timestamptz NOT NULL);
""",
    # API keys and their rate limits, shared by every replica (app/keys_db.py).
    2: """
CREATE TABLE sourced_keys (
    name text PRIMARY KEY,
    digest bytea NOT NULL UNIQUE,       -- SHA-256 of the key; the key itself is never stored
    indexes text[],                     -- the indexes it reaches; NULL: every index
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz              -- kept, so that revoking the last key opens nothing
);
CREATE TABLE sourced_rate (
    caller text PRIMARY KEY,
    tokens double precision NOT NULL,   -- a token bucket: requests left, refilled with time
    at timestamptz NOT NULL
);
""",
    3: _order_postings,
    4: _keep_tables,
}

# One index's tables; {t} is its prefix, {d} its vectors' dimension.
INDEX_TABLES = (
    """
CREATE SEQUENCE {t}_ids;
CREATE TABLE {t}_docs (
    doc bigint PRIMARY KEY,
    path text NOT NULL,
    length integer NOT NULL,            -- BM25 terms in the whole document
    chunks integer NOT NULL,
    added_in integer NOT NULL,
    removed_in integer
);
CREATE INDEX ON {t}_docs (path);
CREATE TABLE {t}_chunks (
    row bigint PRIMARY KEY,
    doc bigint NOT NULL,
    ord integer NOT NULL,               -- position in its document
    id text NOT NULL,
    text text NOT NULL,
    char_start integer NOT NULL,
    char_end integer NOT NULL,
    page integer,
    source jsonb NOT NULL,              -- the chunk's Source (ingest/units.py)
    length integer NOT NULL,            -- BM25 terms in the chunk
    embedding vector({d}) NOT NULL,
    spans integer[],                    -- sentence bounds, flattened start, end, start, end…
    sentence_vectors bytea,             -- float16, one row of {d} per sentence
    added_in integer NOT NULL,
    removed_in integer
);
CREATE INDEX ON {t}_chunks (doc, ord);
CREATE INDEX ON {t}_chunks (id);
CREATE INDEX ON {t}_chunks (md5(text));
CREATE INDEX ON {t}_chunks (removed_in) WHERE removed_in IS NOT NULL;
-- BM25 postings. Each carries what scoring and the filters need (the chunk's length, document,
-- page and versions), so a question reads the postings of its terms and nothing else.
CREATE TABLE {t}_terms (
    term text NOT NULL,
    row bigint NOT NULL,
    tf integer NOT NULL,
    length integer NOT NULL,
    doc bigint NOT NULL,
    page integer,
    added_in integer NOT NULL,
    removed_in integer
);
"""
    + POSTINGS_INDEX
    + """;
CREATE INDEX ON {t}_terms (row);
CREATE INDEX ON {t}_terms (removed_in) WHERE removed_in IS NOT NULL;
CREATE TABLE {t}_doc_terms (term text NOT NULL, doc bigint NOT NULL, tf integer NOT NULL,
                            length integer NOT NULL,
                            PRIMARY KEY (term, doc) INCLUDE (tf, length));
CREATE INDEX ON {t}_doc_terms (doc);
CREATE TABLE {t}_df (term text PRIMARY KEY, chunks integer NOT NULL, docs integer NOT NULL);
CREATE TABLE {t}_files (
    path text NOT NULL,
    record jsonb NOT NULL,
    added_in integer NOT NULL,
    removed_in integer
);
CREATE INDEX ON {t}_files (path);
"""
    + TABLES_TABLE
)

# Built once the first rows are in (postgres_writer.build_graph); later rows join it as added.
INDEX_GRAPH = (
    "CREATE INDEX {t}_graph ON {t}_chunks USING hnsw (embedding vector_ip_ops) "
    "WITH (m = 16, ef_construction = 64)"
)

INDEX_TABLE_NAMES = ("chunks", "docs", "terms", "doc_terms", "df", "files", "tables")


class DatabaseError(SourcedError):
    """The database cannot be used: unreachable, without pgvector, or of another schema."""


def migrate(conn: psycopg.Connection) -> None:
    """Bring the database to SCHEMA_VERSION, or say why it cannot be used. Runs once per
    process; concurrent processes wait for each other on an advisory lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        _check_server(conn)
        conn.execute("CREATE TABLE IF NOT EXISTS sourced_schema (version integer NOT NULL)")
        rows = conn.execute("SELECT version FROM sourced_schema").fetchall()
        if len(rows) > 1:
            raise DatabaseError(
                "the database's sourced_schema table holds several versions; it was not made "
                "by Sourced. Use an empty database."
            )
        current = rows[0][0] if rows else 0
        if current > SCHEMA_VERSION:
            raise IndexMismatchError(
                f"the database has Sourced schema version {current}, newer than this Sourced "
                f"reads ({SCHEMA_VERSION}); upgrade Sourced on this machine"
            )
        if current == 0 and _has_unknown_sourced_tables(conn):
            raise DatabaseError(
                "the database has sourced_* tables but no schema version; it was not made by "
                "this Sourced. Use an empty database."
            )
        for number in range(current + 1, SCHEMA_VERSION + 1):
            step = MIGRATIONS[number]
            if callable(step):
                step(conn)
            else:
                conn.execute(step)
        if not rows:
            conn.execute("INSERT INTO sourced_schema VALUES (%s)", (SCHEMA_VERSION,))
        elif current < SCHEMA_VERSION:
            conn.execute("UPDATE sourced_schema SET version = %s", (SCHEMA_VERSION,))


def _check_server(conn: psycopg.Connection) -> None:
    """PostgreSQL and pgvector new enough, pgvector enabled (by this user if need be)."""
    if conn.info.server_version < POSTGRES_MIN * 10_000:
        raise DatabaseError(
            f"PostgreSQL {conn.info.server_version // 10_000} is too old: Sourced needs "
            f"PostgreSQL {POSTGRES_MIN} or later"
        )
    available = conn.execute(
        "SELECT default_version, installed_version FROM pg_available_extensions "
        "WHERE name = 'vector'"
    ).fetchone()
    if available is None:
        raise DatabaseError(
            "the PostgreSQL server has no pgvector extension; install pgvector "
            f"{'.'.join(map(str, PGVECTOR_MIN))} or later (every managed PostgreSQL offers it)"
        )
    if available[1] is None:
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.InsufficientPrivilege as exc:
            raise DatabaseError(
                "pgvector is installed on the server but not enabled in this database, and "
                "this user may not enable it: run `CREATE EXTENSION vector` as its owner"
            ) from exc
    version = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
    ).fetchone()[0]
    if _version_tuple(version) < PGVECTOR_MIN:
        raise DatabaseError(
            f"pgvector {version} is too old: Sourced needs "
            f"{'.'.join(map(str, PGVECTOR_MIN))} or later (ALTER EXTENSION vector UPDATE)"
        )


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def _has_unknown_sourced_tables(conn: psycopg.Connection) -> bool:
    found = conn.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename LIKE 'sourced\\_%%' AND tablename <> 'sourced_schema'"
    ).fetchone()[0]
    return found > 0
