"""Ollama's API, so Ollama clients (the `ollama` library, Open WebUI's Ollama connection, editor
plugins) can use Sourced as a model: each index is a model (`NAME` or `NAME:latest`); a chat or
a generate answers by RAG over it. The answer ends with numbered source footnotes and the last
object carries the structured sources in an extra `sources` field.

Streaming (Ollama's default) is NDJSON: one object per token, then the last, `done: true`, with
the counts and durations. An error before the answer starts is a 4xx in Sourced's one error
shape; one while it is written is an `{"error": "…"}` line, as Ollama streams them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.api.conversation import ask_request, require_index
from app.api.sources import footnotes
from app.deps import PrincipalDep, ServicesDep, check_scope
from app.errors import as_app_error
from app.rag.pipeline import StreamEvent
from app.schemas import ERROR_RESPONSES, AskRequest, AskResponse, LLMOptions
from app.services import Services

router = APIRouter(prefix="/api", tags=["ollama"], responses=ERROR_RESPONSES)

# The Ollama API version these routes follow (clients check it to pick features).
OLLAMA_API_VERSION = "0.12.0"
MODELS = "GET /api/tags"


class Options(BaseModel):
    model_config = ConfigDict(extra="ignore")  # num_ctx, seed, … are accepted and ignored
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1, le=1000)
    num_predict: int | None = Field(None, ge=-2, le=4096)  # -1, -2: as long as it takes
    stop: list[str] | None = Field(None, max_length=8)

    def llm(self) -> LLMOptions:
        limit = self.num_predict if self.num_predict and self.num_predict > 0 else None
        return LLMOptions(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            max_tokens=limit,
            stop=self.stop,
        )


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")  # images, tool_calls, thinking
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # format, keep_alive, tools, think
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = True
    options: Options = Field(default_factory=Options)


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # format, keep_alive, raw, images, context
    model: str
    prompt: str = ""
    system: str | None = None  # accepted; Sourced's own instruction governs the answer
    stream: bool = True
    options: Options = Field(default_factory=Options)


class Version(BaseModel):
    version: str


class ModelDetails(BaseModel):
    format: str = "sourced-index"
    family: str = "sourced"
    families: list[str] = ["sourced"]
    parameter_size: str = ""
    quantization_level: str = ""


class ModelEntry(BaseModel):
    name: str
    model: str
    modified_at: str
    size: int  # the index's chunks: an index has no file size that means anything
    digest: str
    details: ModelDetails = Field(default_factory=ModelDetails)


class ModelList(BaseModel):
    models: list[ModelEntry]


class ShowRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str


class ShowResponse(BaseModel):
    modelfile: str = ""
    parameters: str = ""
    template: str = ""
    details: ModelDetails = Field(default_factory=ModelDetails)
    model_info: dict[str, Any]
    capabilities: list[str] = ["completion"]
    modified_at: str


@router.get("/version", response_model=Version)
async def version() -> Version:
    return Version(version=OLLAMA_API_VERSION)


@router.get("/tags", response_model=ModelList)
async def tags(services: ServicesDep, principal: PrincipalDep) -> ModelList:
    """The indexes (those the API key reaches), as models."""
    versions = await run_in_threadpool(services.library.names)
    return ModelList(
        models=[
            ModelEntry(
                name=f"{v.name}:latest",
                model=f"{v.name}:latest",
                modified_at=v.built_at,
                size=v.chunk_count,
                digest=v.version,
            )
            for v in versions
            if principal.may_use(v.name)
        ]
    )


@router.post("/show", response_model=ShowResponse)
async def show(request: ShowRequest, services: ServicesDep, principal: PrincipalDep):
    """A model's details: the index behind it."""
    name = _index(request.model)
    check_scope(principal, name, "model")
    require_index(services, name, MODELS)
    found = await run_in_threadpool(services.library.get, name)
    info = {
        "sourced.index": found.name,
        "sourced.version": found.version,
        "sourced.documents": found.document_count,
        "sourced.chunks": found.chunk_count,
        "sourced.embedding_model": found.spec.embedding_model,
        "sourced.llm": services.llm.model,
    }
    return ShowResponse(model_info=info, modified_at=found.built_at)


@router.post("/chat", responses={200: {"content": {"application/x-ndjson": {}}}})
async def chat(request: ChatRequest, services: ServicesDep, principal: PrincipalDep):
    """Answer the last user message from the index named by `model`."""
    name = _index(request.model)
    check_scope(principal, name, "model")
    turns = [(m.role, m.content) for m in request.messages]
    ask = ask_request(services, name, turns, request.options.llm(), "messages", MODELS)
    return await _reply(services, ask, request.model, request.stream, chat=True)


@router.post("/generate", responses={200: {"content": {"application/x-ndjson": {}}}})
async def generate(request: GenerateRequest, services: ServicesDep, principal: PrincipalDep):
    """Answer the prompt from the index named by `model`. An empty prompt only checks that
    the model is there (Ollama's way to load one)."""
    name = _index(request.model)
    check_scope(principal, name, "model")
    if not request.prompt.strip():
        require_index(services, name, MODELS)
        return _object(request.model, False, "", done=True, done_reason="load")
    turns = [("user", request.prompt)]
    ask = ask_request(services, name, turns, request.options.llm(), "prompt", MODELS)
    return await _reply(services, ask, request.model, request.stream, chat=False)


def _index(model: str) -> str:
    """The index a model name names: `docs` and `docs:latest` are the same."""
    name, _, tag = model.partition(":")
    return name if tag in ("", "latest") else model


async def _reply(services: Services, ask: AskRequest, model: str, stream: bool, chat: bool):
    started = time.perf_counter_ns()
    if not stream:
        answer = await run_in_threadpool(services.pipeline.answer, ask)
        text = answer.answer + footnotes(answer.sources)
        return _object(model, chat, text, **_final(answer, started))
    events = services.pipeline.answer_stream(ask)
    await run_in_threadpool(next, events)  # validation and retrieval errors: plain 4xx replies
    return StreamingResponse(
        _lines(model, chat, events, started), media_type="application/x-ndjson"
    )


def _lines(model: str, chat: bool, events: Iterator[StreamEvent], started: int) -> Iterator[str]:
    try:
        for name, payload in events:
            if name == "token":
                yield json.dumps(_object(model, chat, payload, done=False)) + "\n"
            elif name == "done":
                notes = footnotes(payload.sources)
                if notes:
                    yield json.dumps(_object(model, chat, notes, done=False)) + "\n"
                yield json.dumps(_object(model, chat, "", **_final(payload, started))) + "\n"
    except Exception as exc:  # never a traceback on the wire
        error = as_app_error(exc)
        yield json.dumps({"error": f"{error.message} ({error.code})"}) + "\n"


def _object(model: str, chat: bool, text: str, **fields) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "created_at": datetime.now(UTC).isoformat()}
    if chat:
        body["message"] = {"role": "assistant", "content": text}
    else:
        body["response"] = text
    return {**body, **fields}


def _final(answer: AskResponse, started: int) -> dict[str, Any]:
    """The last object's fields: counts, durations (ns) and Sourced's sources."""
    timings = answer.timings_ms
    return {
        "done": True,
        "done_reason": "stop",
        "total_duration": time.perf_counter_ns() - started,
        "load_duration": 0,
        "prompt_eval_count": answer.usage.prompt_tokens,
        "prompt_eval_duration": int(timings.retrieve * 1e6),
        "eval_count": answer.usage.completion_tokens,
        "eval_duration": int(timings.generate * 1e6),
        "sources": [s.model_dump() for s in answer.sources],
    }
