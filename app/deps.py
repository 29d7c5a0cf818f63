"""Dependency aliases for the routers."""

from typing import Annotated

from fastapi import Depends, Path, Request

from app.access import EVERYONE
from app.errors import Forbidden
from app.keys import Principal
from app.services import Services
from ingest.stores import INDEX_NAME_PATTERN


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_principal(request: Request) -> Principal:
    """Who is calling: the API key's holder (set by app.access), or everyone without keys."""
    return getattr(request.state, "principal", EVERYONE)


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


def check_scope(principal: Principal, index: str, field: str = "index") -> None:
    """403 for an index outside the key's scope, whether or not that index exists."""
    if not principal.may_use(index):
        raise Forbidden(f"this API key may not use index '{index}'", field)


# An index name in a path: anything else can never name an index, and is a 422.
IndexName = Annotated[
    str, Path(pattern=INDEX_NAME_PATTERN, description="letters, digits, '.', '_', '-'")
]
