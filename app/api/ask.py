from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep
from app.schemas import AskRequest, AskResponse

router = APIRouter()


@router.post("/ask", response_model=AskResponse)
async def ask(request: AskRequest, services: ServicesDep) -> AskResponse:
    """Answer a question from an index, with the sources the answer cites."""
    # Retrieval and generation block; they run off the event loop.
    return await run_in_threadpool(services.pipeline.answer, request)
