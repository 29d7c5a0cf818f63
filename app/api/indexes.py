from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from app.deps import IndexName, PrincipalDep, ServicesDep, check_scope
from app.errors import NotFound
from app.schemas import ERROR_RESPONSES, ChunkContext, ChunkOut, IndexOut

router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/indexes", response_model=list[IndexOut])
async def indexes(services: ServicesDep, principal: PrincipalDep) -> list[IndexOut]:
    """The indexes that can be asked (those the API key reaches), with their current version
    and counts."""
    versions = await run_in_threadpool(services.library.names)
    versions = [v for v in versions if principal.may_use(v.name)]
    return [
        IndexOut(
            name=v.name,
            version=v.version,
            documents=v.document_count,
            chunks=v.chunk_count,
            embedding_model=v.spec.embedding_model,
            built_at=v.built_at,
            search="approximate" if v.search_info.kind == "hnsw" else "exact",
            search_recall_at_10=v.search_info.recall_at_10,
        )
        for v in versions
    ]


@router.get("/indexes/{name}/chunks/{chunk_id}", response_model=ChunkContext)
async def chunk(
    name: IndexName,
    chunk_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    around: int = Query(1, ge=0, le=5, description="neighbours each side"),
) -> ChunkContext:
    """A chunk with its neighbouring chunks in the same document, to read a citation in place."""
    check_scope(principal, name)
    version = await run_in_threadpool(services.library.get, name)
    found = await run_in_threadpool(version.chunk_in_context, chunk_id, around)
    if found is None:
        raise NotFound(f"no chunk '{chunk_id}' in index '{name}' ({version.version})", "chunk_id")
    chunks, position = found
    return ChunkContext(
        index=name,
        version=version.version,
        position=position,
        chunks=[
            ChunkOut(
                chunk_id=c.id,
                document=c.document,
                page=c.source.page,
                locator=c.source.locator(),
                text=c.text,
            )
            for c in chunks
        ],
    )
