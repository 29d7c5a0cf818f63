"""Where indexes live: `open_store(settings)` returns the configured store (SOURCED_STORE).

Everything else reaches indexes through the `Store` and `IndexReader` interface (base.py).
"""

from __future__ import annotations

from ingest.errors import UsageError
from ingest.settings import IngestSettings
from ingest.stores.base import (
    INDEX_NAME_PATTERN,
    Filters,
    IndexChange,
    IndexReader,
    IndexSpec,
    Ranking,
    Reusable,
    Store,
    check_index_name,
)

__all__ = [
    "INDEX_NAME_PATTERN",
    "Filters",
    "IndexChange",
    "IndexReader",
    "IndexSpec",
    "Ranking",
    "Reusable",
    "Store",
    "check_index_name",
    "open_store",
]


def open_store(settings: IngestSettings) -> Store:
    """The store the settings name. The caller closes it when done."""
    if settings.store == "local":
        from ingest.stores.local import LocalStore

        return LocalStore(settings.index_dir, settings.ann_min_chunks)
    if not settings.database_url:
        raise UsageError(
            "SOURCED_STORE=postgres needs SOURCED_DATABASE_URL, for example "
            "postgresql://user:password@host:5432/sourced"
        )
    # Imported here: psycopg is needed only by those who use this store.
    try:
        from ingest.stores.postgres import PostgresStore
    except ImportError as exc:
        raise UsageError(
            f"SOURCED_STORE=postgres needs the postgres extra ({exc.name} is missing): "
            "pip install -e '.[postgres]'"
        ) from exc

    return PostgresStore(settings.database_url)
