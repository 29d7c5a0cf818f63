"""Who may call the API and how often: API keys (401) and a per-key rate limit (429).

One ASGI middleware in front of every route. The page, its static files, `/healthz` and the
API's own documentation stay open; everything else needs a key when keys are configured. The
key's holder rides on in `request.state.principal`; routes check its index scope (403).
"""

from __future__ import annotations

import math
import time
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from app.errors import send_error
from app.keys import KeyRing, Principal
from app.settings import Settings
from ingest.stores import Store

EVERYONE = Principal("anonymous")  # who calls when no keys are configured
OPEN_PATHS = ("/", "/healthz", "/docs", "/redoc", "/openapi.json", "/favicon.ico")
OPEN_PREFIXES = ("/static/", "/docs/")


class Keys(Protocol):
    """Where keys are looked up: the configured ones (KeyRing), or the database's too."""

    blocking: bool  # whether a lookup waits on I/O (then it runs off the event loop)

    @property
    def enabled(self) -> bool: ...

    def find(self, presented: str) -> Principal | None: ...


class Limiter(Protocol):
    blocking: bool
    per_minute: int

    def take(self, caller: str) -> float: ...


def access_policy(settings: Settings, store: Store) -> tuple[Keys, Limiter | None]:
    """The keys and the rate limit: in the database when the indexes are (every replica then
    shares them), else in this process."""
    configured = KeyRing.load(settings.api_keys, settings.api_keys_file)
    per_minute = settings.rate_limit_per_minute
    if store.kind == "postgres":
        from app.keys_db import DatabaseKeys, DatabaseRateLimiter

        limiter = DatabaseRateLimiter(store.pool, per_minute) if per_minute > 0 else None
        return DatabaseKeys(store.pool, configured), limiter
    return configured, RateLimiter(per_minute) if per_minute > 0 else None


class AccessControl:
    def __init__(self, app, keys: Keys, limiter: Limiter | None):
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.blocking = keys.blocking or bool(limiter and limiter.blocking)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or _is_open(scope["path"]):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if self.blocking:
            admitted = await run_in_threadpool(self._admit, headers)
        else:
            admitted = self._admit(headers)
        if not isinstance(admitted, Principal):
            status, code, message, extra = admitted
            return await send_error(scope, send, status, code, message, extra)
        scope.setdefault("state", {})["principal"] = admitted
        await self.app(scope, receive, send)

    def _admit(self, headers: dict[bytes, bytes]) -> Principal | tuple[int, str, str, dict]:
        """The caller, or the error to send: (status, code, message, headers)."""
        if not self.keys.enabled:
            return EVERYONE
        presented = _presented_key(headers)
        if not presented:
            message = (
                "this server needs an API key: send `Authorization: Bearer KEY` "
                "(or `X-API-Key: KEY`)"
            )
            return 401, "unauthorized", message, _CHALLENGE
        principal = self.keys.find(presented)
        if principal is None:
            return 401, "unauthorized", "the API key is not valid", _CHALLENGE
        if self.limiter is not None:
            wait = self.limiter.take(principal.name)
            if wait > 0:
                retry = str(math.ceil(wait))
                message = (
                    f"more than {self.limiter.per_minute} requests a minute with this key; "
                    f"retry in {retry} s (SOURCED_RATE_LIMIT_PER_MINUTE)"
                )
                return 429, "rate_limited", message, {"retry-after": retry}
        return principal


class RateLimiter:
    """A token bucket per caller: `per_minute` requests a minute, in bursts of up to as many."""

    blocking = False

    def __init__(self, per_minute: int, clock=time.monotonic):
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller → (tokens, at)

    def take(self, caller: str) -> float:
        """Take one token; returns 0 when allowed, else the seconds until one is free."""
        now = self.clock()
        tokens, at = self._buckets.get(caller, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[caller] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        """A caller whose bucket has refilled is as good as new: forget it."""
        full = [
            c
            for c, (t, at) in self._buckets.items()
            if t + (now - at) * self.rate >= self.per_minute
        ]
        for caller in full:
            del self._buckets[caller]


_CHALLENGE = {"www-authenticate": 'Bearer realm="sourced"'}


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _presented_key(headers: dict[bytes, bytes]) -> str:
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get(b"x-api-key", b"").decode("latin-1").strip()
