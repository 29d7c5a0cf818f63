"""Sourced as an MCP server, so assistants and IDEs can search and ask a team's documents.

Four tools: `list_indexes`, `search` (passages with their locators and best sentences),
`ask` (an answer checked against its sources, with verified quotes) and `fetch` (a passage with
its neighbours). Each returns readable text for the model and the API's JSON as structured
content, under the same schema as the HTTP route it mirrors.

Two transports share the tools: `sourced mcp` speaks stdio (one command in a desktop
assistant's config; it loads the models itself), and the running app serves streamable HTTP at
`/mcp` behind the same API keys as every route: a key reaches only its indexes. The HTTP
transport is stateless, so any replica can answer any request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError
from starlette.routing import Route

from app.access import EVERYONE
from app.errors import as_app_error
from app.keys import Principal
from app.schemas import (
    AskRequest,
    AskResponse,
    ChunkContext,
    FiltersIn,
    IndexOut,
    SearchRequest,
    SearchResponse,
)
from app.services import Services
from ingest.stores import INDEX_NAME_PATTERN

INSTRUCTIONS = (
    "Sourced answers from a team's own documents. Call list_indexes to see which document "
    "collections you may use; search to find passages (each with its document, page or "
    "locator, and chunk_id); fetch to read a passage with the text around it; ask for an "
    "answer written from the passages and checked against them, with numbered citations and "
    "verified quotes. Cite documents by name and locator when you use them."
)
READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False, idempotentHint=True)

Index = Annotated[
    str | None,
    Field(pattern=INDEX_NAME_PATTERN,
          description="The index (document collection) to use; list_indexes names them. "
          "Omitted: the server's default index."),
]  # fmt: skip
Documents = Annotated[
    list[str],
    Field(description='Only these documents: globs over paths ("guides/*.pdf", "*.md").'),
]


class IndexList(BaseModel):
    indexes: list[IndexOut]


def build_mcp_server(
    services: Callable[[], Services],
    caller: Callable[[Context], Principal] = lambda ctx: EVERYONE,
) -> MCPServer:
    """The MCP server over `services()`; `caller` says who is calling (the API key's holder)."""
    mcp = MCPServer("sourced", title="Sourced", instructions=INSTRUCTIONS, version="0.1.0")

    async def run(ctx: Context, index: str | None, work: Callable[[Services], object]):
        """Run `work` off the event loop, within the caller's scope; the product's errors come
        back as tool errors with its messages."""
        current = services()
        name = index or current.settings.default_index
        if not caller(ctx).may_use(name):
            raise ToolError(f"this API key may not use index '{name}'")
        return await off_loop(work, current)

    @mcp.tool(title="List indexes", annotations=READ_ONLY)
    async def list_indexes(ctx: Context) -> Annotated[CallToolResult, IndexList]:
        """The indexes (document collections) you may search and ask, with their documents
        and chunk counts."""
        principal = caller(ctx)

        def work(current: Services) -> IndexList:
            versions = [v for v in current.library.names() if principal.may_use(v.name)]
            return IndexList(indexes=[IndexOut.of(v) for v in versions])

        found: IndexList = await off_loop(work, services())
        lines = [
            f"{i.name}: {i.documents} documents, {i.chunks} passages (version {i.version})"
            for i in found.indexes
        ]
        return _result("\n".join(lines) or "No indexes you may use.", found)

    @mcp.tool(title="Search documents", annotations=READ_ONLY)
    async def search(
        ctx: Context,
        query: Annotated[str, Field(description="What to look for, in words.")],
        index: Index = None,
        top_k: Annotated[int, Field(ge=1, le=50, description="How many passages.")] = 5,
        documents: Documents = [],  # noqa: B006 (pydantic copies it)
        mode: Annotated[
            Literal["hybrid", "dense", "bm25"],
            Field(description="hybrid (default), dense (meaning) or bm25 (exact words)"),
        ] = "hybrid",
    ) -> Annotated[CallToolResult, SearchResponse]:
        """Find the passages of the documents that best match a query. Each comes with its
        document, page or locator, chunk_id (for fetch), score and the sentence in it that best
        answers the query. No answer is written: use ask for one."""

        def work(current: Services) -> SearchResponse:
            request = SearchRequest(
                query=query,
                index=index,
                top_k=top_k,
                retrieval_mode=mode,
                filters=FiltersIn(documents=documents),
            )
            return current.search.search(request)

        found: SearchResponse = await run(ctx, index, work)
        return _result(search_text(found), found)

    @mcp.tool(title="Ask the documents", annotations=READ_ONLY)
    async def ask(
        ctx: Context,
        question: Annotated[str, Field(description="The question, standing on its own.")],
        index: Index = None,
        documents: Documents = [],  # noqa: B006 (pydantic copies it)
        answer_mode: Annotated[
            Literal["auto", "short", "generative", "extractive"] | None,
            Field(
                description="extractive: the sources' own sentences; short: a phrase; "
                "generative: written by the model; auto (default): by the question."
            ),
        ] = None,  # fmt: skip
    ) -> Annotated[CallToolResult, AskResponse]:
        """Answer a question from the documents. The answer cites its sources as [n]; each
        source has its document, locator and the quote that supports the claim, checked
        against the text. answerable is false when the documents do not answer it: say so
        rather than answering from elsewhere."""

        def work(current: Services) -> AskResponse:
            request = AskRequest(
                question=question,
                index=index,
                answer_mode=answer_mode,
                filters=FiltersIn(documents=documents),
            )
            return current.pipeline.answer(request)

        answer: AskResponse = await run(ctx, index, work)
        return _result(answer_text(answer), answer)

    @mcp.tool(title="Fetch a passage", annotations=READ_ONLY)
    async def fetch(
        ctx: Context,
        chunk_id: Annotated[str, Field(description="A chunk_id from search or ask.")],
        index: Index = None,
        around: Annotated[
            int, Field(ge=0, le=5, description="Neighbouring passages each side.")
        ] = 1,
    ) -> Annotated[CallToolResult, ChunkContext]:
        """Read a passage in place: the passage with its neighbours in the same document, in
        document order."""

        def work(current: Services) -> ChunkContext:
            name = index or current.settings.default_index
            return current.search.passage_in_context(name, chunk_id, around)

        found: ChunkContext = await run(ctx, index, work)
        return _result(passage_text(found), found)

    return mcp


async def off_loop(work: Callable[[Services], object], current: Services):
    try:
        return await anyio.to_thread.run_sync(work, current)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise ToolError(f"{where}: {problem['msg']}" if where else problem["msg"]) from None
    except Exception as exc:
        error = as_app_error(exc)
        raise ToolError(f"{error.message} ({error.code})") from None


def search_text(found: SearchResponse) -> str:
    if not found.passages:
        return f"No passages in index '{found.index}' match."
    blocks = []
    for p in found.passages:
        head = f"[{p.rank}] {p.document}" + (f", {p.locator}" if p.locator else "")
        head += f" (chunk_id {p.chunk_id}, score {p.score:g})"
        blocks.append(f"{head}\n{p.text}")
    return "\n\n".join(blocks)


def answer_text(answer: AskResponse) -> str:
    text = answer.answer
    if not answer.answerable:
        text += "\n\n(answerable: false — the documents do not answer this.)"
    cited = [s for s in answer.sources if s.cited] or answer.sources
    if cited:
        lines = []
        for s in cited:
            line = f"[{s.n}] {s.document}" + (f", {s.locator}" if s.locator else "")
            line += f" (chunk_id {s.chunk_id})"
            if s.quote is not None:
                mark = "verified" if s.verified else "not verified"
                line += f"\n    quote ({mark}): {s.quote.text}"
            lines.append(line)
        text += "\n\nSources:\n" + "\n".join(lines)
    return text


def passage_text(found: ChunkContext) -> str:
    blocks = []
    for i, c in enumerate(found.chunks):
        mark = " (the passage asked for)" if i == found.position else ""
        head = f"{c.document}" + (f", {c.locator}" if c.locator else "")
        blocks.append(f"— {head}, chunk_id {c.chunk_id}{mark}\n{c.text}")
    return "\n\n".join(blocks)


def _result(text: str, structured: BaseModel) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured.model_dump(mode="json"),
    )


def http_route(
    mcp: MCPServer, host: str, path: str = "/mcp"
) -> tuple[Route, StreamableHTTPSessionManager]:
    """The streamable HTTP endpoint as a route of the app, and the session manager to run
    for the app's lifetime. Bound to a loopback address, requests must name it as their Host
    (DNS rebinding protection); bound wider, API keys guard the endpoint."""
    loopback = host in ("127.0.0.1", "localhost", "::1")
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=loopback,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )
    mcp.streamable_http_app(
        streamable_http_path=path, stateless_http=True, transport_security=security, host=host
    )
    manager = mcp.session_manager
    return Route(path, StreamableHTTPASGIApp(manager), methods=["GET", "POST", "DELETE"]), manager
