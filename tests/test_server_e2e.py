"""End to end: the real server process, the real index built from data/, the real local model."""

import httpx
import pytest

from .server import running_server, sample_index


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):
    index_dir = sample_index(tmp_path_factory.mktemp("e2e"))
    env = {"SOURCED_INDEX_DIR": str(index_dir), "SOURCED_LLM_BACKEND": "local"}
    with running_server(env) as (url, log):
        yield url, log


def test_ask_the_real_local_model(local_server):
    url, log = local_server
    ready = httpx.get(f"{url}/readyz").json()
    assert ready["ready"] and ready["llm"] == "local:SmolLM2-135M-Instruct"
    response = httpx.post(
        f"{url}/ask",
        json={"question": "How do I install Sourced?", "answer_mode": "auto"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"].strip() and body["model"] == "SmolLM2-135M-Instruct"
    assert body["usage"]["completion_tokens"] > 0 and body["timings_ms"]["generate"] > 0
    places = [(s["document"], s["page"]) for s in body["sources"]]
    assert places[0] == ("user-guide.pdf", 2), places
    # auto mode: the model's answer is kept only when its sources support it
    assert body["answerable"] and body["answer_mode"] in ("generative", "extractive")
    if body["answer_mode"] == "extractive":
        assert "not supported" in body["notice"]
    else:
        assert body["grounded"] >= 0.5
    assert any(s["verified"] and s["quote"] for s in body["sources"])
    assert "loaded embedding model" in log.read_text()


def test_real_server_errors_have_the_one_shape(local_server):
    url, _ = local_server
    response = httpx.post(f"{url}/ask", json={"question": "q", "index": "missing"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "index_not_found"


def test_the_local_model_streams_its_answer(local_server):
    url, _ = local_server
    names = []
    with httpx.stream(
        "POST",
        f"{url}/ask",
        json={
            "question": "How do I install Sourced?",
            "stream": True,
            "answer_mode": "generative",
            "llm": {"max_tokens": 24},
        },
        timeout=120,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: "):
                names.append(line[7:])
    assert names[0] == "sources" and names[-1] == "done"
    assert names.count("token") > 3, "tokens arrive one by one, not as one block"
