"""JSON over HTTP with timeouts and retries, for the servers Sourced calls: embedding servers
here, LLM servers in app/llm/remote.py.

429 and 5xx answers and dropped connections are retried with exponential backoff (honouring
Retry-After); every failure becomes one ServerFailure with a plain message, which each caller
turns into its own user-facing error.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

RETRY_STATUSES = {429, 500, 502, 503, 504}


class ServerFailure(Exception):
    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.message = message
        self.timed_out = timed_out


def post_json(
    client: httpx.Client,
    url: str,
    payload: dict[str, Any],
    *,
    server: str,
    retries: int,
    retry_timeouts: bool = False,
) -> Any:
    """POST `payload` and return the reply's JSON. `server` names the server in messages
    ("the openai server"). A timeout is retried only with `retry_timeouts`: an LLM that timed
    out would likely time out again, an embedding batch is worth another try."""
    for attempt in range(retries + 1):
        last = attempt >= retries
        try:
            response = client.post(url, json=payload)
        except httpx.TimeoutException as exc:
            if retry_timeouts and not last:
                time.sleep(backoff(attempt, None))
                continue
            seconds = client.timeout.read
            raise ServerFailure(
                f"{server} did not answer within {seconds:g} s", timed_out=True
            ) from exc
        except httpx.HTTPError as exc:
            if not last:
                time.sleep(backoff(attempt, None))
                continue
            raise ServerFailure(f"cannot reach {server} at {url}: {exc}") from exc
        if response.status_code in RETRY_STATUSES and not last:
            time.sleep(backoff(attempt, response.headers.get("retry-after")))
            continue
        if response.status_code >= 400:
            raise ServerFailure(f"{server} answered {response.status_code}: {error_text(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise ServerFailure(f"{server} sent a reply that is not JSON") from exc
    raise ServerFailure(f"{server} kept failing")  # pragma: no cover


def backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(float(retry_after), 30.0)
        except ValueError:
            pass
    return min(0.5 * 2**attempt, 8.0)


def error_text(response: httpx.Response) -> str:
    """The server's own error message, shortened."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))[:200]
    if error is None and isinstance(data, dict) and "detail" in data:
        return str(data["detail"])[:200]
    return str(error or data)[:200]
