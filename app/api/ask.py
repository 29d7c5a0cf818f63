import json
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.deps import PrincipalDep, ServicesDep, check_scope
from app.errors import AppError, error_body
from app.rag.pipeline import StreamEvent
from app.schemas import ERROR_RESPONSES, AskRequest, AskResponse

router = APIRouter(responses=ERROR_RESPONSES)


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def ask(request: AskRequest, services: ServicesDep, principal: PrincipalDep):
    """Answer a question from an index, with the sources the answer cites.

    With `"stream": true` the answer comes as Server-Sent Events: `sources` first, then
    `token` events as the answer is written, then `done` with the whole response (citations,
    usage, timings); a failure while writing arrives as an `error` event."""
    check_scope(principal, request.index or services.settings.default_index)
    if not request.stream:
        # Retrieval and generation block; they run off the event loop.
        return await run_in_threadpool(services.pipeline.answer, request)
    events = services.pipeline.answer_stream(request)
    # The first event comes after validation and retrieval: their errors are plain 4xx replies.
    first = await run_in_threadpool(next, events)
    return StreamingResponse(
        sse(first, events),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


def sse(first: StreamEvent, events: Iterator[StreamEvent]) -> Iterator[str]:
    yield _event(*first)
    try:
        for event in events:
            yield _event(*event)
    except AppError as exc:
        yield _event("error", error_body(exc.status, exc.code, exc.message, exc.field))
    except Exception:  # never a traceback on the wire
        yield _event("error", error_body(500, "internal_error", "internal error; see the log"))


def _event(name: str, payload) -> str:
    if name == "sources":
        payload = {"sources": [source.model_dump() for source in payload]}
    elif name == "token":
        payload = {"text": payload}
    elif name == "done":
        payload = payload.model_dump()
    return f"event: {name}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
