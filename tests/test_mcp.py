"""Sourced's MCP server, used through the official `mcp` SDK's client: over streamable HTTP
against the real server process (keys off and on), and over stdio against `sourced mcp`."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from app.schemas import AskResponse, ChunkContext, SearchResponse

from .conftest import ROOT
from .server import DOCS_KEY, FULL_KEY, SOURCED, protocol_env

QUESTION = "How do I install Sourced?"


def run(coroutine):
    return asyncio.run(coroutine)


def http(url: str, key: str | None = None):
    headers = {"authorization": f"Bearer {key}"} if key else None
    client = create_mcp_http_client(headers=headers)
    return Client(streamable_http_client(f"{url}/mcp", http_client=client))


async def calls(client: Client, *requests: tuple[str, dict]):
    async with client:
        return [await client.call_tool(name, arguments) for name, arguments in requests]


def test_tools_have_schemas_and_descriptions(open_server):
    async def listing():
        async with http(open_server) as client:
            return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in run(listing())}
    assert set(tools) == {"list_indexes", "search", "ask", "fetch"}
    for tool in tools.values():
        assert tool.description and tool.output_schema and tool.annotations.read_only_hint
    search = tools["search"].input_schema
    assert search["required"] == ["query"]
    assert search["properties"]["top_k"]["maximum"] == 50
    assert all("description" in field for field in search["properties"].values())
    assert "passages" in tools["search"].output_schema["properties"]


def test_search_ask_and_fetch_over_http(open_server):
    searched, asked, fetched = run(
        calls(
            http(open_server),
            ("search", {"query": QUESTION, "top_k": 3}),
            ("ask", {"question": QUESTION, "index": "docs"}),
            ("fetch", {"chunk_id": "placeholder"}),
        )
    )
    found = SearchResponse.model_validate(searched.structured_content)
    assert not searched.is_error and len(found.passages) == 3
    best = found.passages[0]
    assert best.document == "user-guide.pdf" and best.locator == "p. 2"
    assert best.quote and best.text[best.quote.start : best.quote.end] == best.quote.text
    text = searched.content[0].text
    assert text.startswith("[1] user-guide.pdf, p. 2 (chunk_id ") and best.chunk_id in text

    answer = AskResponse.model_validate(asked.structured_content)
    assert answer.answerable and answer.index == "docs"
    cited = [s for s in answer.sources if s.cited]
    assert cited and all(s.quote for s in cited)
    assert "Sources:\n[1] user-guide.pdf, p. 2" in asked.content[0].text
    assert "quote (verified): " in asked.content[0].text

    assert fetched.is_error and "no chunk 'placeholder' in index 'default'" in (
        fetched.content[0].text
    )
    (read,) = run(calls(http(open_server), ("fetch", {"chunk_id": best.chunk_id, "around": 1})))
    context = ChunkContext.model_validate(read.structured_content)
    assert context.chunks[context.position].chunk_id == best.chunk_id
    assert len(context.chunks) >= 2 and "(the passage asked for)" in read.content[0].text


def test_bad_arguments_and_unknown_indexes_are_tool_errors(open_server):
    unknown, bad_name, empty = run(
        calls(
            http(open_server),
            ("search", {"query": QUESTION, "index": "nowhere"}),
            ("ask", {"question": QUESTION, "index": "no such index"}),
            ("search", {"query": ""}),
        )
    )
    assert unknown.is_error and "no index named 'nowhere'" in unknown.content[0].text
    assert bad_name.is_error and "index" in bad_name.content[0].text
    assert empty.is_error and "query" in empty.content[0].text
    for result in (unknown, bad_name, empty):
        assert "Traceback" not in result.content[0].text


def test_keys_guard_the_http_endpoint_and_scope_the_tools(guarded_server):
    with pytest.raises(Exception):  # noqa: B017 (the SDK wraps the 401 in its own errors)
        run(calls(http(guarded_server), ("list_indexes", {})))
    refused = httpx.post(f"{guarded_server}/mcp", json={}, headers={"accept": "application/json"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"

    (everything,) = run(calls(http(guarded_server, FULL_KEY), ("list_indexes", {})))
    names = [i["name"] for i in everything.structured_content["indexes"]]
    assert names == ["default", "docs"]

    listed, outside, inside = run(
        calls(
            http(guarded_server, DOCS_KEY),
            ("list_indexes", {}),
            ("search", {"query": QUESTION}),  # the default index: not this key's
            ("ask", {"question": QUESTION, "index": "docs"}),
        )
    )
    assert [i["name"] for i in listed.structured_content["indexes"]] == ["docs"]
    assert outside.is_error and "may not use index 'default'" in outside.content[0].text
    assert not inside.is_error and inside.structured_content["answerable"]


def test_stdio_server_offers_only_the_indexes_named(protocol_root, open_server):
    env = {**os.environ, **protocol_env(protocol_root, keys=False)}
    params = StdioServerParameters(
        command=str(SOURCED), args=["mcp", "--index", "docs"], env=env, cwd=str(ROOT)
    )
    listed, searched, outside = run(
        calls(
            Client(params),
            ("list_indexes", {}),
            ("search", {"query": QUESTION, "index": "docs", "top_k": 2}),
            ("search", {"query": QUESTION}),
        )
    )
    assert listed.content[0].text.startswith("docs: 6 documents")
    assert len(searched.structured_content["passages"]) == 2
    assert outside.is_error and "may not use index 'default'" in outside.content[0].text


def test_the_rest_of_the_api_is_unchanged_beside_mcp(open_server):
    assert httpx.get(f"{open_server}/healthz").json() == {"status": "ok"}
    missing = httpx.get(f"{open_server}/no-such-route")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
