"""The openai backend against a real OpenAI-compatible server on loopback: llama.cpp's server
(llama-cpp-python[server]) serving the same GGUF file as the local backend."""

import os
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from app.llm.base import GenerationParams
from app.llm.bundled import SMOLLM2_135M, gguf_file
from app.llm.remote import OpenAICompatibleLLM
from app.main import create_app
from app.settings import Settings
from ingest.sync import run_ingest

from .conftest import SAMPLE
from .server import free_port

pytest.importorskip("llama_cpp.server", reason="needs the test extra: llama-cpp-python[server]")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf_file(SMOLLM2_135M, Settings().model_cache_dir)),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "4096",
                "--model_alias",
                "smollm2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
        base = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, "llama.cpp server did not start"
                time.sleep(0.25)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_completion_through_the_openai_protocol(llama_server):
    llm = OpenAICompatibleLLM(llama_server, "smollm2", timeout_s=60, retries=0, api_key="k")
    messages = [{"role": "user", "content": "Name one colour."}]
    completion = llm.complete(messages, GenerationParams(max_tokens=12, stop=["\n\n"]))
    assert completion.text and completion.completion_tokens > 0 and completion.prompt_tokens > 0


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, model):
    root = tmp_path_factory.mktemp("openai")
    run_ingest([SAMPLE], "default", Settings(index_dir=root / "indexes", _env_file=None))
    return root / "indexes"


def openai_settings(base_url: str, index_dir, **update) -> Settings:
    settings = Settings(
        index_dir=index_dir,
        llm_backend="openai",
        llm_base_url=base_url,
        llm_model="smollm2",
        _env_file=None,
    )
    return settings.model_copy(update=update)


def test_ask_through_the_openai_backend(llama_server, index_dir):
    settings = openai_settings(llama_server, index_dir)
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/ask", json={"question": "How do I install Sourced?", "llm": {"max_tokens": 40}}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] and body["model"] and body["usage"]["completion_tokens"] > 0
    assert body["sources"][0]["document"] == "user-guide.pdf"


@pytest.mark.parametrize(
    "update, status, code",
    [
        (
            {"llm_base_url": f"http://127.0.0.1:{free_port()}/v1", "llm_retries": 1},
            502,
            "llm_error",
        ),
        ({"llm_timeout_s": 0.001}, 504, "llm_timeout"),
    ],
)
def test_unreachable_or_slow_servers_are_502_and_504(llama_server, index_dir, update, status, code):
    settings = openai_settings(llama_server, index_dir, **update)
    with TestClient(create_app(settings)) as client:
        response = client.post("/ask", json={"question": "How do I install Sourced?"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_the_openai_backend_streams(llama_server):
    llm = OpenAICompatibleLLM(llama_server, "smollm2", timeout_s=60, retries=0, api_key="")
    items = list(
        llm.stream([{"role": "user", "content": "Count to five."}], GenerationParams(max_tokens=16))
    )
    *pieces, completion = items
    assert len(pieces) > 2 and all(isinstance(p, str) for p in pieces)
    assert completion.text == "".join(pieces).strip() and completion.completion_tokens > 0
