from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.deps import PrincipalDep, ServicesDep, check_scope
from app.schemas import ERROR_RESPONSES, SearchRequest, SearchResponse

router = APIRouter(responses=ERROR_RESPONSES)


@router.post("/search", response_model=SearchResponse)
async def search(
    request: SearchRequest, services: ServicesDep, principal: PrincipalDep
) -> SearchResponse:
    """The passages of an index that best match a query, without an answer: each with its
    document, locator and score, and the sentence in it that best answers the query."""
    check_scope(principal, request.index or services.settings.default_index)
    return await run_in_threadpool(services.search.search, request)
