from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep
from app.schemas import IndexOut

router = APIRouter()


@router.get("/indexes", response_model=list[IndexOut])
async def indexes(services: ServicesDep) -> list[IndexOut]:
    """The indexes that can be asked, with their current version and counts."""
    versions = await run_in_threadpool(services.library.names)
    return [
        IndexOut(
            name=v.name,
            version=v.version,
            documents=v.document_count,
            chunks=v.chunk_count,
            embedding_model=v.spec.embedding_model,
            built_at=v.built_at,
        )
        for v in versions
    ]
