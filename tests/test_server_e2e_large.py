"""End to end with the model this machine gets by default (machine.py): on a machine with
room for it, the bundled Qwen2.5-Coder-1.5B-Instruct, through the real server process."""

import httpx
import pytest

from app.llm.bundled import QWEN_15B, default_model

from .server import running_server, sample_index


@pytest.fixture(scope="module")
def default_server(tmp_path_factory):
    chosen = default_model()
    if chosen.model is not QWEN_15B:
        pytest.skip(f"this machine gets {chosen.model.title}: {chosen.reason}")
    index_dir = sample_index(tmp_path_factory.mktemp("e2e-large"))
    env = {"SOURCED_INDEX_DIR": str(index_dir), "SOURCED_LLM_BACKEND": "local"}
    env["SOURCED_LLM_MODEL"] = ""  # the machine's choice
    with running_server(env, timeout_s=900) as (url, log):
        yield url, log


def test_the_machine_default_is_the_large_model_and_says_why(default_server):
    url, log = default_server
    said = log.read_text()
    assert f"LLM: {QWEN_15B.title}, the bundled model for this machine" in said
    assert "GiB of memory" in said and "SOURCED_LLM_MODEL" in said
    ready = httpx.get(f"{url}/readyz").json()
    assert ready["ready"] and ready["llm"] == f"local:{QWEN_15B.title}"


def test_the_large_model_gives_a_short_answer_cited_where_it_was_read(default_server):
    url, _ = default_server
    response = httpx.post(
        f"{url}/ask", json={"question": "How long does ingesting take?"}, timeout=300
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer_mode"] == "short" and body["model"] == QWEN_15B.title, body
    assert "minute" in body["short_answer"]
    cited = [s for s in body["sources"] if s["cited"]]
    assert cited and cited[0]["verified"] and body["short_answer"] in cited[0]["quote"]["text"]
