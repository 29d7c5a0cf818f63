"""Schemathesis against the app's own OpenAPI schema, in process (ASGI), on the real sample
index with the deterministic fake LLM: no request it generates gets a 5xx, every status is
documented, and every response matches the schema."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import create_app
from app.services import build_services
from app.settings import Settings
from ingest.sync import run_ingest

from .conftest import SAMPLE


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, model):
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(SAMPLE, root / "docs")
    config = Settings(index_dir=root / "indexes", llm_backend="fake", _env_file=None)
    run_ingest([root / "docs"], "default", config)
    app = create_app(config, services=build_services(config))
    app.state.services = build_services(config)  # the ASGI transport runs no lifespan
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_5xx_and_every_response_matches_the_schema(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /ask", "GET /indexes"}
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
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        check()
