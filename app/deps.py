"""Dependency aliases for the routers."""

from typing import Annotated

from fastapi import Depends, Path, Request

from app.services import Services
from ingest.store import INDEX_NAME_PATTERN


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

# An index name in a path: anything else can never name an index, and is a 422.
IndexName = Annotated[
    str, Path(pattern=INDEX_NAME_PATTERN, description="letters, digits, '.', '_', '-'")
]
