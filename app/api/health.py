from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep
from app.schemas import ERROR_RESPONSES, Health, Readiness

router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness)
async def readyz(services: ServicesDep) -> Readiness:
    """Models are loaded and at least one index can be answered from."""
    names = await run_in_threadpool(services.store.names)
    return Readiness(
        ready=bool(names),
        llm=f"{services.llm.name}:{services.llm.model}",
        embedding_model=services.settings.embedding_model,
        indexes=names,
    )
