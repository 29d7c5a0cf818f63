"""Schemathesis against the app's own OpenAPI schema, in process (ASGI), on the real sample
index with the deterministic fake LLM: no request it generates gets a 5xx, every status is
documented, and every response matches the schema."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import create_app
from app.services import build_services
from app.settings import Settings
from ingest.sync import run_ingest

from .conftest import SAMPLE

KEY = "sk-fuzz-key-0123456789abcdef"


@pytest.fixture(scope="module", params=["open", "keyed", "open on postgres"])
def api_schema(request, tmp_path_factory, model):
    """The app without keys, and with keys configured (the fuzzer sends the key on half of
    the requests: the rest must be 401s that match the schema too); and without keys on the
    Postgres store."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(SAMPLE, root / "docs")
    keys = KEY if request.param == "keyed" else ""
    store = {}
    if request.param.endswith("postgres"):
        store = {"store": "postgres", "database_url": request.getfixturevalue("postgres").new()}
    config = Settings(
        index_dir=root / "indexes", llm_backend="fake", api_keys=keys, _env_file=None, **store
    )
    run_ingest([root / "docs"], "default", config)
    services = build_services(config)
    app = create_app(config, services=services)
    app.state.services = services  # the ASGI transport runs no lifespan
    yield request.param, schemathesis.openapi.from_asgi("/openapi.json", app)
    services.store.close()


def test_no_5xx_and_every_response_matches_the_schema(api_schema):
    variant, schema = api_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "POST /ask",
        "GET /indexes",
        "POST /search",
        "POST /v1/chat/completions",
        "POST /v1/responses",
        "POST /v1/embeddings",
        "GET /api/tags",
        "POST /api/chat",
        "POST /api/generate",
    }
    cases, statuses = 0, Counter()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case):
            # Limits that are settings (top_k, question length, history) are enforced by the
            # server, not written into the schema, so a schema-valid request may be a 422.
            nonlocal cases
            headers = {"authorization": f"Bearer {KEY}"} if cases % 2 else {}
            response = case.call_and_validate(
                headers=headers, excluded_checks=[positive_data_acceptance]
            )
            cases += 1
            statuses[response.status_code] += 1

        check()
    print(f"schemathesis ({variant}): {cases} cases, statuses {dict(sorted(statuses.items()))}")
    assert cases > 100
    if variant == "keyed":
        assert statuses[401] > 0 and statuses[200] > 0
