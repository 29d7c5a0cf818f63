"""API keys: who may call the service, and which indexes each key reaches.

Keys come from two places, both optional:
- `SOURCED_API_KEYS`: comma-separated `KEY` (every index) or `KEY:INDEX|INDEX` entries, for a
  container's environment. They are hashed as they are read.
- `SOURCED_API_KEYS_FILE`: the file `sourced keys add` writes, one key per line as
  `NAME SHA256-HEX SCOPE` (SCOPE is `*` or `INDEX,INDEX`). The key itself is shown once and
  never stored.

Keys are long random strings, so one SHA-256 is a sound hash for them (there is nothing to
guess). A presented key is hashed and compared with every stored hash in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import UsageError
from ingest.stores import INDEX_NAME_PATTERN

_INDEX = re.compile(INDEX_NAME_PATTERN)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
MIN_KEY_CHARS = 16


@dataclass(frozen=True)
class Principal:
    """The holder of one key: its name and the indexes it may use (None: all of them)."""

    name: str
    indexes: frozenset[str] | None = None

    def may_use(self, index: str) -> bool:
        return self.indexes is None or index in self.indexes


@dataclass(frozen=True)
class StoredKey:
    principal: Principal
    digest: bytes


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return "sk-" + secrets.token_urlsafe(32)


class KeyRing:
    blocking = False  # looked up in memory

    def __init__(self, keys: list[StoredKey]):
        self.keys = keys

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def find(self, presented: str) -> Principal | None:
        """The key's holder, or None. Every stored hash is compared, in constant time each."""
        wanted = digest(presented)
        found = None
        for key in self.keys:
            if hmac.compare_digest(key.digest, wanted):
                found = key.principal
        return found

    @classmethod
    def load(cls, env_keys: str, keys_file: Path | None) -> KeyRing:
        keys = parse_env_keys(env_keys)
        if keys_file is not None:
            if not keys_file.is_file():
                raise UsageError(
                    f"SOURCED_API_KEYS_FILE names {keys_file}, which does not exist; "
                    "create keys with `sourced keys add NAME`"
                )
            keys += read_keys_file(keys_file)
        return cls(keys)


def parse_env_keys(text: str) -> list[StoredKey]:
    keys = []
    for number, entry in enumerate(filter(None, (e.strip() for e in text.split(","))), 1):
        key, _, scope = entry.partition(":")
        if len(key) < MIN_KEY_CHARS:
            raise UsageError(
                f"SOURCED_API_KEYS entry {number} is shorter than {MIN_KEY_CHARS} characters; "
                "use long random keys (`sourced keys new` prints one)"
            )
        indexes = _scope(scope.replace("|", ","), f"SOURCED_API_KEYS entry {number}")
        keys.append(StoredKey(Principal(f"env-{number}", indexes), digest(key)))
    return keys


def read_keys_file(path: Path) -> list[StoredKey]:
    keys = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        where = f"{path.name} line {number}"
        if len(parts) != 3 or not _NAME.match(parts[0]) or not _HEX.match(parts[1]):
            raise UsageError(f"{where}: expected `NAME SHA256-HEX SCOPE`")
        indexes = _scope("" if parts[2] == "*" else parts[2], where)
        keys.append(StoredKey(Principal(parts[0], indexes), bytes.fromhex(parts[1])))
    return keys


def key_line(name: str, key: str, indexes: list[str] | None) -> str:
    if not _NAME.match(name):
        raise UsageError(f"key name '{name}': letters, digits, '.', '_', '@', '-' only")
    scope = ",".join(indexes) if indexes else "*"
    _scope("" if scope == "*" else scope, f"key '{name}'")
    return f"{name} {digest(key).hex()} {scope}"


def _scope(text: str, where: str) -> frozenset[str] | None:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if not _INDEX.match(name):
            raise UsageError(f"{where}: '{name}' is not an index name")
    return frozenset(names) if names else None
