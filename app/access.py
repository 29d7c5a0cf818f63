"""Who may call the API and how often: API keys (401) and a per-key rate limit (429).

One ASGI middleware in front of every route. The page, its static files, `/healthz` and the
API's own documentation stay open; everything else needs a key when keys are configured. The
key's holder rides on in `request.state.principal`; routes check its index scope (403).
"""

from __future__ import annotations

import math
import time

from app.errors import send_error
from app.keys import KeyRing, Principal

EVERYONE = Principal("anonymous")  # who calls when no keys are configured
OPEN_PATHS = ("/", "/healthz", "/docs", "/redoc", "/openapi.json", "/favicon.ico")
OPEN_PREFIXES = ("/static/", "/docs/")


class AccessControl:
    def __init__(self, app, keys: KeyRing, per_minute: int):
        self.app = app
        self.keys = keys
        self.limiter = RateLimiter(per_minute) if per_minute > 0 else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or _is_open(scope["path"]):
            return await self.app(scope, receive, send)
        principal = EVERYONE
        if self.keys.enabled:
            presented = _presented_key(dict(scope.get("headers") or []))
            if not presented:
                message = (
                    "this server needs an API key: send `Authorization: Bearer KEY` "
                    "(or `X-API-Key: KEY`)"
                )
                return await send_error(scope, send, 401, "unauthorized", message, _CHALLENGE)
            principal = self.keys.find(presented)
            if principal is None:
                return await send_error(
                    scope, send, 401, "unauthorized", "the API key is not valid", _CHALLENGE
                )
        if self.limiter is not None and self.keys.enabled:
            wait = self.limiter.take(principal.name)
            if wait > 0:
                retry = str(math.ceil(wait))
                message = (
                    f"more than {self.limiter.per_minute} requests a minute with this key; "
                    f"retry in {retry} s (SOURCED_RATE_LIMIT_PER_MINUTE)"
                )
                return await send_error(
                    scope, send, 429, "rate_limited", message, {"retry-after": retry}
                )
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


class RateLimiter:
    """A token bucket per caller: `per_minute` requests a minute, in bursts of up to as many."""

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
