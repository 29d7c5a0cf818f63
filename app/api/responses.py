"""OpenAI's Responses API, stateless: `POST /v1/responses` answers the input's last user message
by RAG over the index named by `model`. The output text ends with numbered source footnotes;
each `[n]` in it carries a `url_citation` annotation linking to the passage on Sourced's page,
and the structured sources ride in an extra `sources` field, as on chat completions.

Streamed, the answer comes as the Responses event types: response.created, the output item and
content part added, output_text.delta…, an annotation.added per citation, the text, part and
item done, then response.completed (or an `error` event)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.api.conversation import ask_request
from app.api.sources import footnotes, page_url, url_citations
from app.deps import PrincipalDep, ServicesDep, check_scope
from app.errors import InvalidRequest, as_app_error
from app.rag.pipeline import StreamEvent
from app.schemas import ERROR_RESPONSES, AskResponse, LLMOptions, SourceOut

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERROR_RESPONSES)


class InputMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # id, status… of an earlier output item
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[dict[str, Any]]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(
            part.get("text", "")
            for part in self.content
            if part.get("type") in ("input_text", "output_text", "text")
        )


class ResponseRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # store, metadata, user… are accepted and ignored
    model: str
    input: str | list[InputMessage] = Field(min_length=1)
    instructions: str | None = None  # accepted; Sourced's own instruction governs the answer
    stream: bool = False
    max_output_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    previous_response_id: str | None = None


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[dict[str, Any]]


class OutputMessage(BaseModel):
    type: Literal["message"] = "message"
    id: str
    status: Literal["in_progress", "completed"]
    role: Literal["assistant"] = "assistant"
    content: list[OutputText]


class ResponseUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, int] = {"cached_tokens": 0}
    output_tokens_details: dict[str, int] = {"reasoning_tokens": 0}


class ResponseObject(BaseModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["in_progress", "completed"]
    model: str
    output: list[OutputMessage]
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    parallel_tool_calls: bool = False
    tool_choice: str = "none"
    tools: list[dict[str, Any]] = []
    text: dict[str, Any] = {"format": {"type": "text"}}
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    usage: ResponseUsage | None = None
    sources: list[SourceOut] = []  # Sourced's extra: the structured citations


@router.post(
    "/responses",
    response_model=ResponseObject,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def responses(
    request: ResponseRequest, services: ServicesDep, principal: PrincipalDep, http: Request
):
    """Answer the input's last user message from the index named by `model` (stateless)."""
    check_scope(principal, request.model, "model")
    if request.previous_response_id:
        raise InvalidRequest(
            "responses are not stored: send the conversation so far in `input`",
            "previous_response_id",
        )
    if isinstance(request.input, str):
        turns = [("user", request.input)]
    else:
        turns = [(m.role, m.text()) for m in request.input]
    options = LLMOptions(
        temperature=request.temperature,
        top_p=request.top_p,
        max_tokens=request.max_output_tokens,
    )
    ask = ask_request(services, request.model, turns, options, field="input")
    shell = _Shell(request, page_url(http, services.settings))
    if not request.stream:
        answer = await run_in_threadpool(services.pipeline.answer, ask)
        return shell.completed(answer)
    events = services.pipeline.answer_stream(ask)
    await run_in_threadpool(next, events)  # validation and retrieval errors: plain 4xx replies
    return StreamingResponse(
        _stream(shell, events),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


class _Shell:
    """What every form of one response shares: its ids, time, model and request settings."""

    def __init__(self, request: ResponseRequest, page: str):
        self.request = request
        self.page = page
        self.id = f"resp_{uuid.uuid4().hex}"
        self.message_id = f"msg_{uuid.uuid4().hex}"
        self.created = int(time.time())

    def response(self, status: str, output: list[OutputMessage], **extra) -> ResponseObject:
        r = self.request
        return ResponseObject(
            id=self.id,
            created_at=self.created,
            status=status,
            model=r.model,
            output=output,
            instructions=r.instructions,
            max_output_tokens=r.max_output_tokens,
            temperature=r.temperature,
            top_p=r.top_p,
            **extra,
        )

    def message(self, answer: AskResponse) -> OutputMessage:
        text = answer.answer + footnotes(answer.sources)
        annotations = url_citations(answer.answer, answer.sources, self.page, self.request.model)
        part = OutputText(text=text, annotations=annotations)
        return OutputMessage(id=self.message_id, status="completed", content=[part])

    def completed(self, answer: AskResponse) -> ResponseObject:
        usage = answer.usage
        return self.response(
            "completed",
            [self.message(answer)],
            usage=ResponseUsage(
                input_tokens=usage.prompt_tokens,
                output_tokens=usage.completion_tokens,
                total_tokens=usage.prompt_tokens + usage.completion_tokens,
            ),
            sources=answer.sources,
        )


def _stream(shell: _Shell, events: Iterator[StreamEvent]) -> Iterator[str]:
    sequence = 0

    def event(kind: str, **body) -> str:
        nonlocal sequence
        data = {"type": kind, **body, "sequence_number": sequence}
        sequence += 1
        return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    where = {"item_id": shell.message_id, "output_index": 0, "content_index": 0}
    started = shell.response("in_progress", []).model_dump()
    yield event("response.created", response=started)
    yield event("response.in_progress", response=started)
    item = OutputMessage(id=shell.message_id, status="in_progress", content=[])
    yield event("response.output_item.added", output_index=0, item=item.model_dump())
    empty = {"type": "output_text", "text": "", "annotations": []}
    yield event("response.content_part.added", **where, part=empty)
    try:
        for name, payload in events:
            if name == "token":
                yield event("response.output_text.delta", **where, delta=payload, logprobs=[])
            elif name == "done":
                notes = footnotes(payload.sources)
                if notes:
                    yield event("response.output_text.delta", **where, delta=notes, logprobs=[])
                message = shell.message(payload)
                part = message.content[0]
                for i, annotation in enumerate(part.annotations):
                    yield event(
                        "response.output_text.annotation.added",
                        **where,
                        annotation_index=i,
                        annotation=annotation,
                    )
                yield event("response.output_text.done", **where, text=part.text, logprobs=[])
                yield event("response.content_part.done", **where, part=part.model_dump())
                yield event("response.output_item.done", output_index=0, item=message.model_dump())
                done = shell.completed(payload).model_dump()
                yield event("response.completed", response=done)
    except Exception as exc:  # never a traceback on the wire
        error = as_app_error(exc)
        yield event("error", code=error.code, message=error.message, param=error.field)
