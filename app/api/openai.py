"""An OpenAI-compatible API, so apps that speak it (the OpenAI SDK, Open WebUI, LangChain's
ChatOpenAI) can use Sourced: each index is a model; a chat completion answers the last user
message by RAG over that index, earlier messages being the history. The answer's content ends
with numbered source footnotes, and the structured sources ride in an extra `sources` field."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.api.conversation import ask_request
from app.api.sources import chat_annotations, footnotes, open_webui_events, page_url
from app.deps import PrincipalDep, ServicesDep, check_scope
from app.errors import AppError, error_body
from app.rag.pipeline import StreamEvent
from app.schemas import ERROR_RESPONSES, AskRequest, AskResponse, LLMOptions, SourceOut
from app.services import Services

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERROR_RESPONSES)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # n, presence_penalty… are accepted and ignored
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)
    stop: str | Annotated[list[str], Field(max_length=8)] | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "sourced"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    # A url_citation over each [n] mark, linking to the passage on Sourced's page.
    annotations: list[dict[str, Any]] = Field(default_factory=list)


class Choice(BaseModel):
    index: int = 0
    message: ChoiceMessage
    finish_reason: str = "stop"


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: ChatUsage
    sources: list[SourceOut]  # Sourced's extra: the structured citations


@router.get("/models", response_model=ModelList)
async def models(services: ServicesDep, principal: PrincipalDep) -> ModelList:
    """The indexes (those the API key reaches), as models."""
    cards = []
    for version in await run_in_threadpool(services.store.list_indexes):
        if not principal.may_use(version.name):
            continue
        built = version.built_at.replace("Z", "+00:00")
        created = int(_timestamp(built))
        cards.append(ModelCard(id=version.name, created=created))
    return ModelList(data=cards)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(
    request: ChatRequest, services: ServicesDep, principal: PrincipalDep, http: Request
):
    """Answer the last user message from the index named by `model`.

    Streamed, the answer's sources also come as Open WebUI's `source` events (a chunk's
    top-level `event`), one per source in the order of the answer's [n], before the footnotes."""
    check_scope(principal, request.model, "model")
    ask = _ask_request(request, services)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    page = page_url(http, services.settings)
    if not request.stream:
        answer = await run_in_threadpool(services.pipeline.answer, ask)
        return _completion(completion_id, created, request.model, answer, page)
    events = services.pipeline.answer_stream(ask)
    # The sources event comes after validation and retrieval, so their errors are plain 4xx
    # replies; the OpenAI format has no place for it (the sources come in the last chunk).
    await run_in_threadpool(next, events)
    chunks = _chunks(completion_id, created, request.model, events, page)
    return StreamingResponse(chunks, media_type="text/event-stream")


def _ask_request(request: ChatRequest, services: Services) -> AskRequest:
    stop = [request.stop] if isinstance(request.stop, str) else request.stop
    options = LLMOptions(
        temperature=request.temperature,
        top_p=request.top_p,
        max_tokens=request.max_completion_tokens or request.max_tokens,
        stop=stop,
    )
    turns = [(m.role, m.text()) for m in request.messages]
    return ask_request(services, request.model, turns, options)


def _completion(completion_id: str, created: int, model: str, answer: AskResponse, page: str):
    usage = answer.usage
    content = answer.answer + footnotes(answer.sources)
    annotations = chat_annotations(answer.answer, answer.sources, page, model)
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=model,
        choices=[Choice(message=ChoiceMessage(content=content, annotations=annotations))],
        usage=ChatUsage(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.prompt_tokens + usage.completion_tokens,
        ),
        sources=answer.sources,
    )


def _chunks(
    completion_id: str,
    created: int,
    model: str,
    events: Iterator[StreamEvent],
    page: str,
) -> Iterator[str]:
    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        for name, payload in events:
            if name == "token":
                yield chunk({"content": payload})
            elif name == "done":
                for event in open_webui_events(payload.sources, page, model):
                    yield chunk({}, event=event)
                notes = footnotes(payload.sources)
                if notes:
                    yield chunk({"content": notes})
                usage = payload.usage
                yield chunk(
                    {},
                    "stop",
                    usage={
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                    },
                    sources=[s.model_dump() for s in payload.sources],
                )
    except AppError as exc:
        body = error_body(exc.status, exc.code, exc.message, exc.field)
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
