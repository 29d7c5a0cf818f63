from pathlib import PurePosixPath

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from app.deps import IndexName, PrincipalDep, ServicesDep, check_scope
from app.schemas import ERROR_RESPONSES, ChunkContext, DocumentList, IndexOut

router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/indexes", response_model=list[IndexOut])
async def indexes(services: ServicesDep, principal: PrincipalDep) -> list[IndexOut]:
    """The indexes that can be asked (those the API key reaches), with their current version
    and counts."""
    versions = await run_in_threadpool(services.library.names)
    versions = [v for v in versions if principal.may_use(v.name)]
    return [IndexOut.of(v) for v in versions]


@router.get("/indexes/{name}/documents", response_model=DocumentList)
async def documents(
    name: IndexName, services: ServicesDep, principal: PrincipalDep
) -> DocumentList:
    """The documents of an index, by their paths: what filters can name."""
    check_scope(principal, name)
    version = await run_in_threadpool(services.library.get, name)
    paths = await run_in_threadpool(version.documents)
    return DocumentList(index=name, version=version.version, documents=sorted(paths))


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
    return await run_in_threadpool(services.search.passage_in_context, name, chunk_id, around)


@router.get(
    "/indexes/{name}/files/{document:path}",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}, "image/png": {}, "image/jpeg": {}}}},
)
async def original(
    name: IndexName, document: str, services: ServicesDep, principal: PrincipalDep
) -> FileResponse:
    """The original file of a document of the index (a PDF or an image), exactly as it was
    ingested, to show a cited page; 404 when it has changed or moved since."""
    check_scope(principal, name)
    path, media_type = await run_in_threadpool(services.search.original, name, document)
    return FileResponse(
        path,
        media_type=media_type,
        filename=PurePosixPath(document).name,
        content_disposition_type="inline",
        headers={"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"},
    )
