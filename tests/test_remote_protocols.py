"""Remote backends' protocol handling against a scripted HTTP server on loopback: Ollama's
native /api/chat (no Ollama server can be installed here), retries with backoff on 429/5xx,
Retry-After, and error replies. The OpenAI protocol itself is tested against llama.cpp's real
server in test_openai_backend.py."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.errors import LLMError
from app.llm.base import GenerationParams
from app.llm.remote import OllamaLLM, OpenAICompatibleLLM


class Scripted:
    """Answers each POST with the next (status, headers, body) of its script."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["content-length"])
                outer.requests.append(
                    (self.path, dict(self.headers), json.loads(self.rfile.read(length)))
                )
                status, headers, body = outer.script.pop(0)
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                for key, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def scripted():
    servers = []

    def make(script):
        server = Scripted(script)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
PARAMS = GenerationParams(temperature=0.2, top_p=0.9, top_k=40, max_tokens=33, stop=["\n\n"])


def test_ollama_native_chat(scripted):
    reply = {
        "model": "llama3",
        "message": {"role": "assistant", "content": " Hello [1]. "},
        "prompt_eval_count": 12,
        "eval_count": 4,
        "done_reason": "stop",
    }
    server = scripted([(200, {}, reply)])
    completion = OllamaLLM(server.url, "llama3", 5, 0, "").complete(MESSAGES, PARAMS)
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == (
        "Hello [1].",
        12,
        4,
    )
    path, _, body = server.requests[0]
    assert path == "/api/chat" and body["stream"] is False and body["messages"] == MESSAGES
    assert body["options"] == {
        "temperature": 0.2,
        "top_p": 0.9,
        "num_predict": 33,
        "top_k": 40,
        "stop": ["\n\n"],
    }


def test_openai_retries_429_and_5xx_then_succeeds(scripted):
    ok = {
        "choices": [{"message": {"content": "Fine."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        "model": "m",
    }
    server = scripted(
        [
            (429, {"retry-after": "0"}, {"error": {"message": "slow down"}}),
            (503, {}, {"error": "busy"}),
            (200, {}, ok),
        ]
    )
    llm = OpenAICompatibleLLM(server.url + "/v1", "m", 5, 2, "secret")
    assert llm.complete(MESSAGES, PARAMS).text == "Fine."
    assert len(server.requests) == 3
    path, headers, body = server.requests[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer secret"
    assert body["max_tokens"] == 33 and body["top_k"] == 40 and body["stop"] == ["\n\n"]


def test_openai_errors_become_plain_messages(scripted):
    server = scripted([(401, {}, {"error": {"message": "invalid api key"}})])
    with pytest.raises(LLMError, match="answered 401: invalid api key"):
        OpenAICompatibleLLM(server.url, "m", 5, 2, "").complete(MESSAGES, PARAMS)
    server = scripted([(500, {}, {"error": "x"})] * 2)
    with pytest.raises(LLMError, match="answered 500"):
        OpenAICompatibleLLM(server.url, "m", 5, 1, "").complete(MESSAGES, PARAMS)
    server = scripted([(200, {}, b"<html>not json</html>")])
    with pytest.raises(LLMError, match="not JSON"):
        OpenAICompatibleLLM(server.url, "m", 5, 0, "").complete(MESSAGES, PARAMS)
    server = scripted([(200, {}, {"choices": []})])
    with pytest.raises(LLMError, match="no choices"):
        OpenAICompatibleLLM(server.url, "m", 5, 0, "").complete(MESSAGES, PARAMS)


def test_remote_backends_need_a_url_and_a_model():
    with pytest.raises(LLMError, match="SOURCED_LLM_BASE_URL"):
        OpenAICompatibleLLM("", "m", 5, 0, "")
    with pytest.raises(LLMError, match="SOURCED_LLM_MODEL"):
        OllamaLLM("http://127.0.0.1:1", "", 5, 0, "")


def test_ollama_streams_json_lines(scripted):
    lines = b"".join(
        json.dumps(item).encode() + b"\n"
        for item in [
            {"message": {"content": "Hel"}, "done": False},
            {"message": {"content": "lo."}, "done": False},
            {"message": {"content": ""}, "done": True, "prompt_eval_count": 5, "eval_count": 2},
        ]
    )
    server = scripted([(200, {"content-type": "application/x-ndjson"}, lines)])
    *pieces, completion = OllamaLLM(server.url, "m", 5, 0, "").stream(MESSAGES, PARAMS)
    assert pieces == ["Hel", "lo."] and completion.text == "Hello."
    assert (completion.prompt_tokens, completion.completion_tokens) == (5, 2)
    assert server.requests[0][2]["stream"] is True
