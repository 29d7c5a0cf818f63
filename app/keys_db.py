"""API keys and rate limits in the database, when indexes live there (SOURCED_STORE=postgres).

Every replica reads the same `sourced_keys` table on each request, so a key added or revoked
with `sourced keys` works, or stops working, on all of them at once, without a restart; and
one token bucket per key in `sourced_rate` holds the key's limit across replicas. Keys from
SOURCED_API_KEYS and SOURCED_API_KEYS_FILE still count, on the replicas that have them.
The tables are made by the store's migrations (ingest/stores/postgres_schema.py).
"""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from app.keys import KeyRing, Principal, StoredKey, digest, key_line
from ingest.errors import UsageError


class DatabaseKeys:
    """The keys of `sourced_keys`, plus the configured ones."""

    blocking = True  # each check is a query: run it off the event loop

    def __init__(self, pool: ConnectionPool, configured: KeyRing):
        self.pool = pool
        self.configured = configured

    @property
    def enabled(self) -> bool:
        """Keys are needed once any was made, revoked ones included: revoking the last key
        must not open the server to everyone."""
        if self.configured.enabled:
            return True
        with self.pool.connection() as conn:
            return conn.execute("SELECT EXISTS (SELECT 1 FROM sourced_keys)").fetchone()[0]

    def find(self, presented: str) -> Principal | None:
        found = self.configured.find(presented)
        if found is not None:
            return found
        # A lookup by hash: keys are long random strings, so the hash gives nothing away.
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT name, indexes FROM sourced_keys WHERE digest = %s AND revoked_at IS NULL",
                (digest(presented),),
            ).fetchone()
        if row is None:
            return None
        return Principal(row[0], None if row[1] is None else frozenset(row[1]))

    def stored(self) -> list[StoredKey]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT name, digest, indexes FROM sourced_keys WHERE revoked_at IS NULL "
                "ORDER BY name"
            )
            return [
                StoredKey(Principal(n, None if i is None else frozenset(i)), bytes(d))
                for n, d, i in rows
            ]

    def add(self, name: str, key: str, indexes: list[str] | None) -> None:
        key_line(name, key, indexes)  # checks the name and the scope
        with self.pool.connection() as conn:
            taken = conn.execute(
                "INSERT INTO sourced_keys (name, digest, indexes) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET digest = EXCLUDED.digest, "
                "indexes = EXCLUDED.indexes, created_at = now(), revoked_at = NULL "
                "WHERE sourced_keys.revoked_at IS NOT NULL RETURNING name",
                (name, digest(key), sorted(indexes) if indexes else None),
            ).fetchone()
        if taken is None:
            raise UsageError(f"a key named '{name}' exists; remove it first")

    def remove(self, name: str) -> bool:
        with self.pool.connection() as conn, conn.transaction():
            gone = conn.execute(
                "UPDATE sourced_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL",
                (name,),
            ).rowcount
            conn.execute("DELETE FROM sourced_rate WHERE caller = %s", (name,))
        return gone > 0


class DatabaseRateLimiter:
    """The token bucket of app/access.py, kept in the database: `per_minute` requests a minute
    per key, in bursts of up to as many, counted across every replica."""

    blocking = True

    def __init__(self, pool: ConnectionPool, per_minute: int):
        self.pool = pool
        self.per_minute = per_minute
        self.rate = per_minute / 60.0

    def take(self, caller: str) -> float:
        """Take one token; returns 0 when allowed, else the seconds until one is free. One
        statement, so two replicas never both spend the last token."""
        refill = (
            "LEAST(%(cap)s, sourced_rate.tokens "
            "+ extract(epoch FROM clock_timestamp() - sourced_rate.at) * %(rate)s)"
        )
        params = {"caller": caller, "cap": float(self.per_minute), "rate": self.rate}
        with self.pool.connection() as conn:
            taken = conn.execute(
                "INSERT INTO sourced_rate VALUES (%(caller)s, %(cap)s - 1, clock_timestamp()) "
                f"ON CONFLICT (caller) DO UPDATE SET tokens = {refill} - 1, "
                f"at = clock_timestamp() WHERE {refill} >= 1 RETURNING tokens",
                params,
            ).fetchone()
            if taken is not None:
                return 0.0
            tokens = conn.execute(
                f"SELECT {refill} FROM sourced_rate WHERE caller = %(caller)s", params
            ).fetchone()[0]
        return max((1.0 - float(tokens)) / self.rate, 0.001)
