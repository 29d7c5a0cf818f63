"""The app factory: `create_app(settings)` builds the FastAPI app; startup loads the models."""

from __future__ import annotations

import mimetypes
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from mcp.server.mcpserver import Context

from app.access import EVERYONE, AccessControl, access_policy
from app.api import (
    ask,
    embeddings,
    health,
    indexes,
    ollama,
    openai,
    responses,
    search,
    uploads,
)
from app.errors import install_error_handlers, send_error
from app.keys import Principal
from app.llm import LLM
from app.mcp import build_mcp_server, http_route
from app.memory import HeapTrimmer, TrimAfterRequests
from app.services import Services, build_services
from app.settings import Settings, get_settings
from ingest.stores import open_store


def create_app(
    settings: Settings | None = None, llm: LLM | None = None, services: Services | None = None
) -> FastAPI:
    """The app; startup loads models and indexes, unless `services` were already built."""
    settings = settings or get_settings()
    # Opened now: with the Postgres store, API keys and rate limits live in its database.
    store = services.store if services is not None else open_store(settings)
    keys, limiter = access_policy(settings, store)

    trimmer = HeapTrimmer(settings.memory_trim_s)
    mcp = build_mcp_server(lambda: app.state.services, caller=_mcp_caller)
    mcp_route, mcp_sessions = http_route(mcp, settings.host)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = services or build_services(settings, llm, store)
        trimmer.start()
        try:
            async with mcp_sessions.run():
                yield
        finally:
            trimmer.stop()
            if services is None:  # opened here, so closed here: the store's connections
                store.close()

    app = FastAPI(
        title="Sourced",
        summary="Answers questions from your documents, with cited sources.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_kb * 1024,
        # a whole multipart request: a few files at the per-file limit, plus their headers
        upload_bytes=int(settings.max_upload_mb * 1024 * 1024 * 10) + 65536,
    )
    app.add_middleware(AccessControl, keys=keys, limiter=limiter)
    app.include_router(health.router)
    app.include_router(indexes.router)
    app.include_router(ask.router)
    app.include_router(search.router)
    app.include_router(openai.router)
    app.include_router(responses.router)
    app.include_router(ollama.router)
    app.include_router(embeddings.router)
    app.include_router(uploads.router)
    app.router.routes.append(mcp_route)
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrimAfterRequests, trimmer=trimmer)
    app.state.trimmer = trimmer
    return app


def _mcp_caller(ctx: Context) -> Principal:
    """Who calls an MCP tool over HTTP: the API key's holder, set by AccessControl."""
    request = ctx.request_context.request
    return getattr(getattr(request, "state", None), "principal", EVERYONE)


WEB = Path(__file__).resolve().parent / "web"
# PDF.js is shipped as ES modules: a browser runs a module only when served as JavaScript.
mimetypes.add_type("text/javascript", ".mjs")
# Only the app's own files may run or load; nothing from documents or answers is fetched.
# blob: images are the scanned pages the page fetched itself (with the API key) to show them.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "worker-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        # The API docs page loads its own scripts; everything else gets the strict policy.
        if scope["type"] != "http" or scope["path"].startswith(("/docs", "/redoc")):
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", CSP.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse request bodies over the limit with 413, before reading them whole.

    Uploads (multipart) have their own, larger limit per file, checked by the upload route."""

    def __init__(self, app, max_bytes: int, upload_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        limit = self.max_bytes
        if headers.get(b"content-type", b"").startswith(b"multipart/form-data"):
            limit = self.upload_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._too_large(scope, send, limit)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(scope, send, limit)

    async def _too_large(self, scope, send, limit: int) -> None:
        message = f"request body over {limit} bytes"
        await send_error(scope, send, 413, "payload_too_large", message, {})


class _TooLarge(Exception):
    pass
