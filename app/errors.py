"""The service's errors and the one JSON shape every error response has:

    {"error": {"status": 404, "code": "index_not_found", "message": "…", "field": null}}

Messages say what to do next; they never carry a traceback or a server path.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.errors import (
    EmbeddingServerError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
    SourcedError,
    UsageError,
)

log = logging.getLogger("sourced")


class AppError(Exception):
    status = 500
    code = "internal_error"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(AppError):
    """A request that is well-formed JSON but asks for something out of bounds."""

    status, code = 422, "invalid_request"


class NotFound(AppError):
    status, code = 404, "not_found"


class Forbidden(AppError):
    """A valid API key used outside its scope."""

    status, code = 403, "forbidden"


class ServerBusy(AppError):
    status, code = 503, "server_busy"

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.headers = {"retry-after": str(retry_after_s)}


class IndexUnusable(AppError):
    status, code = 409, "index_unusable"


class LLMError(AppError):
    """The language model failed or answered with an error."""

    status, code = 502, "llm_error"


class LLMTimeout(AppError):
    status, code = 504, "llm_timeout"


def error_body(status: int, code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"status": status, "code": code, "message": message, "field": field}}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
):
    return JSONResponse(
        error_body(status, code, message, field), status_code=status, headers=headers
    )


async def send_error(scope, send, status: int, code: str, message: str, headers: dict) -> None:
    """The same error shape from plain ASGI middleware, before any route runs."""
    await error_response(status, code, message, headers=headers)(scope, None, send)


# The store's and the ingest pipeline's errors, as the API reports them.
_SOURCED_ERRORS: tuple[tuple[type[SourcedError], int, str, str | None], ...] = (
    (IndexNotFoundError, 404, "index_not_found", "index"),
    (UsageError, 400, "bad_request", None),
    (IndexMismatchError, 409, "index_unusable", "index"),
    (IndexCorruptError, 409, "index_unusable", "index"),
    (IndexLockedError, 409, "index_busy", "index"),
    (EmbeddingServerError, 502, "embedding_error", None),
)


def as_app_error(exc: Exception) -> AppError:
    """Any error as the API reports it: its own, the store's, or an internal error (whose
    details stay in the log)."""
    if isinstance(exc, AppError):
        return exc
    for kind, status, code, field in _SOURCED_ERRORS:
        if isinstance(exc, kind):
            error = AppError(str(exc), field)
            error.status, error.code = status, code
            return error
    log.exception("unexpected error", exc_info=exc)
    return AppError("internal error; see the server log")


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError):
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(SourcedError)
    async def _ingest(_: Request, exc: SourcedError):
        error = as_app_error(exc)
        return error_response(error.status, error.code, error.message, error.field)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        problems = exc.errors()
        first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
        where = [str(p) for p in first.get("loc", ()) if p != "body"]
        field = ".".join(where) or None
        message = first.get("msg", "invalid request")
        if field:
            message = f"{field}: {message}"
        return error_response(422, "invalid_request", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception):
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal_error", "internal error; see the server log")
