"""What only the Postgres store has: its schema and migrations, its connection errors, and
the rows it keeps per version (the behaviour it shares with the local store is in
test_stores.py)."""

from __future__ import annotations

import shutil
import threading

import psycopg
import pytest

from ingest.errors import IndexMismatchError, UsageError
from ingest.settings import IngestSettings
from ingest.stores import open_store
from ingest.stores.postgres import PostgresStore
from ingest.stores.postgres_schema import SCHEMA_VERSION, DatabaseError
from ingest.sync import run_ingest

from .conftest import SAMPLE


def test_a_new_database_gets_the_schema_once(database_url):
    stores = []
    threads = [
        threading.Thread(target=lambda: stores.append(PostgresStore(database_url)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stores) == 3
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT version FROM sourced_schema").fetchall() == [(SCHEMA_VERSION,)]
    for store in stores:
        store.close()


def test_a_newer_schema_is_a_clear_error(database_url):
    PostgresStore(database_url).close()
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE sourced_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(IndexMismatchError, match="newer than this Sourced"):
        PostgresStore(database_url)


def test_tables_of_unknown_origin_are_a_clear_error(database_url):
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE sourced_indexes (id integer)")
    with pytest.raises(DatabaseError, match="not made by this Sourced"):
        PostgresStore(database_url)


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    url = f"postgresql://nobody@/sourced?host={tmp_path}"
    with pytest.raises(DatabaseError, match="cannot connect to the database"):
        PostgresStore(url)


def test_the_postgres_store_needs_a_url():
    with pytest.raises(UsageError, match="SOURCED_DATABASE_URL"):
        open_store(IngestSettings(store="postgres", _env_file=None))


def test_rows_no_kept_version_sees_are_deleted(tmp_path, settings, database_url, embedder):
    settings = settings.model_copy(
        update={"store": "postgres", "database_url": database_url, "keep_versions": 2}
    )
    folder = tmp_path / "docs"
    shutil.copytree(SAMPLE, folder)
    store = open_store(settings)
    run_ingest([folder], "docs", settings, embedder=embedder, store=store)
    for n in range(4):
        (folder / "changing.md").write_text(f"# Changing\n\nChange number {n}.\n")
        run_ingest([folder], "docs", settings, embedder=embedder, store=store)
    index = store.open_index("docs")
    assert index.version == "v000005"
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"SELECT count(*) FROM {index.prefix}_chunks").fetchone()[0]
        files = conn.execute(f"SELECT count(*) FROM {index.prefix}_files").fetchone()[0]
    # The current version's chunks, plus the one changed chunk the version before it had.
    assert rows == index.chunk_count + 1
    assert files == len(index.manifest().files) + 1
    store.close()


def test_publishes_write_whole_documents_a_group_at_a_time():
    from ingest.stores.postgres_writer import document_groups
    from ingest.units import Chunk, Source

    chunks = [
        Chunk(f"{d}{i}", d, "text", 0, 4, Source())
        for d, n in (("a", 3), ("b", 1), ("c", 2))
        for i in range(n)
    ]
    assert [list(g) for g in document_groups(chunks, 2)] == [[0, 1, 2], [3, 4, 5]]
    assert [list(g) for g in document_groups(chunks, 100)] == [[0, 1, 2, 3, 4, 5]]
    with pytest.raises(ValueError, match="not together"):
        list(document_groups(chunks + chunks[:1], 2))


def test_an_older_schema_is_migrated(database_url):
    from ingest.stores.postgres_schema import MIGRATIONS

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TABLE sourced_schema (version integer NOT NULL)")
        conn.execute(MIGRATIONS[1])
        conn.execute("INSERT INTO sourced_schema VALUES (1)")
    PostgresStore(database_url).close()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT version FROM sourced_schema").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("SELECT count(*) FROM sourced_keys").fetchone() == (0,)


def test_schema_3_orders_the_postings_of_existing_indexes(database_url, tmp_path):
    settings = IngestSettings(
        index_dir=tmp_path / "indexes", store="postgres", database_url=database_url
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\n\nThe alpha document.\n")
    run_ingest([docs], "older", settings)
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = conn.execute("SELECT tables FROM sourced_indexes").fetchone()[0]
        conn.execute(f"DROP INDEX {tables}_impact")  # as schema 2 made it
        conn.execute("UPDATE sourced_schema SET version = 2")
    store = PostgresStore(database_url)
    try:
        assert store.open_current("older").lexical("alpha", 5)
    finally:
        store.close()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT version FROM sourced_schema").fetchone() == (SCHEMA_VERSION,)
        found = conn.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", (f"{tables}_impact",))
        assert found.fetchone() == (1,)


def test_bm25_reads_each_terms_best_postings(database_url, tmp_path, monkeypatch):
    """Past TERM_POSTINGS chunks a term contributes its best ones: a question on a common
    term still gets the chunks where it weighs most, in BM25's order."""
    import ingest.stores.postgres as postgres

    settings = IngestSettings(
        index_dir=tmp_path / "indexes", store="postgres", database_url=database_url
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(12):
        # The same length in terms, "alpha" i times in doc i.
        words = ["alpha"] * i + [f"filler{j}" for j in range(12 - i)]
        (docs / f"d{i:02}.md").write_text(" ".join(words) + "\n")
    run_ingest([docs], "common", settings)
    store = PostgresStore(database_url)
    try:
        index = store.open_current("common")
        exact = [c.document for c in index.chunks([r for r, _ in index.lexical("alpha", 3)])]
        monkeypatch.setattr(postgres, "TERM_POSTINGS", 3)
        monkeypatch.setattr(postgres, "TERM_POSTINGS_PER_RESULT", 1)
        best = [c.document for c in index.chunks([r for r, _ in index.lexical("alpha", 3)])]
        assert best == exact == ["d11.md", "d10.md", "d09.md"]
    finally:
        store.close()


def test_document_filters_travel_as_ranges_of_ids():
    from ingest.stores.postgres import _multirange

    assert _multirange([1, 2, 3, 7, 9, 10]) == "{[1,4),[7,8),[9,11)}"
    assert _multirange([5]) == "{[5,6)}"
