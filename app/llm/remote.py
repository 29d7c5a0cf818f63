"""Remote backends over HTTP: any OpenAI-compatible server, and Ollama's native API.

Both time out, retry 429 and 5xx answers with backoff (ingest/retrying_http.py), and turn
every failure into the service's own LLMError / LLMTimeout with a plain message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from app.errors import LLMError, LLMTimeout
from app.llm.base import LLM, Completion, GenerationParams, Message
from ingest.retrying_http import ServerFailure, error_text, post_json


class _HTTPBackend(LLM):
    def __init__(self, base_url: str, model: str, timeout_s: float, retries: int, api_key: str):
        if not base_url:
            raise LLMError(f"the {self.name} backend needs SOURCED_LLM_BASE_URL")
        if not model:
            raise LLMError(f"the {self.name} backend needs SOURCED_LLM_MODEL")
        self.base_url = base_url.rstrip("/")
        self._model = model
        self.timeout_s = timeout_s
        self.retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers)

    @property
    def model(self) -> str:
        return self._model

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return post_json(
                self._client,
                f"{self.base_url}{path}",
                payload,
                server=f"the {self.name} server",
                retries=self.retries,
            )
        except ServerFailure as failure:
            raise (LLMTimeout if failure.timed_out else LLMError)(failure.message) from failure

    def _stream_lines(self, path: str, payload: dict[str, Any]) -> Iterator[str]:
        """POST and yield the reply's lines as they arrive (no retries once streaming)."""
        url = f"{self.base_url}{path}"
        try:
            with self._client.stream("POST", url, json=payload) as response:
                if response.status_code >= 400:
                    response.read()
                    raise LLMError(
                        f"the {self.name} server answered {response.status_code}: "
                        f"{error_text(response)}"
                    )
                yield from response.iter_lines()
        except httpx.TimeoutException as exc:
            raise LLMTimeout(
                f"the {self.name} server did not answer within {self.timeout_s:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise LLMError(
                f"cannot reach the {self.name} server at {self.base_url}: {exc}"
            ) from exc


class OpenAICompatibleLLM(_HTTPBackend):
    """vLLM, OpenAI, OpenRouter, llama.cpp's server, Ollama's /v1: POST {base}/chat/completions."""

    name = "openai"

    def _payload(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            payload["stop"] = params.stop
        if params.top_k:
            payload["top_k"] = params.top_k  # vLLM and llama.cpp accept it; OpenAI ignores it
        if params.seed is not None:
            payload["seed"] = params.seed
        return payload

    def stream(
        self, messages: list[Message], params: GenerationParams
    ) -> Iterator[str | Completion]:
        payload = {**self._payload(messages, params), "stream": True}
        text, model, usage, finish = "", self._model, {}, "stop"
        for line in self._stream_lines("/chat/completions", payload):
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                event = json.loads(data)
            except ValueError as exc:
                raise LLMError("the openai server streamed a line that is not JSON") from exc
            model = event.get("model") or model
            usage = event.get("usage") or usage
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") or ""
                finish = choice.get("finish_reason") or finish
                if piece:
                    text += piece
                    yield piece
        yield Completion(
            text.strip(),
            model,
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0) or self.count_tokens(text),
            finish,
        )

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        data = self._post("/chat/completions", self._payload(messages, params))
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError("the openai server's reply has no choices[0].message") from exc
        usage = data.get("usage") or {}
        return Completion(
            text.strip(),
            data.get("model") or self._model,
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            choice.get("finish_reason") or "stop",
        )


class OllamaLLM(_HTTPBackend):
    """Ollama's native API: POST {base}/api/chat."""

    name = "ollama"

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        options = _ollama_options(params)
        payload = {"model": self._model, "messages": messages, "stream": False, "options": options}
        data = self._post("/api/chat", payload)
        return self._completion(data, data["message"]["content"] if _has_message(data) else None)

    def stream(
        self, messages: list[Message], params: GenerationParams
    ) -> Iterator[str | Completion]:
        payload = {
            "model": self._model,
            "messages": messages,
            "stream": True,
            "options": _ollama_options(params),
        }
        text, last = "", {}
        for line in self._stream_lines("/api/chat", payload):
            if not line.strip():
                continue
            try:
                last = json.loads(line)
            except ValueError as exc:
                raise LLMError("the ollama server streamed a line that is not JSON") from exc
            if last.get("error"):
                raise LLMError(f"the ollama server failed: {last['error']}")
            piece = (last.get("message") or {}).get("content") or ""
            if piece:
                text += piece
                yield piece
        yield self._completion(last, text)

    def _completion(self, data: dict[str, Any], text: str | None) -> Completion:
        if text is None:
            raise LLMError("the ollama server's reply has no message")
        return Completion(
            text.strip(),
            data.get("model") or self._model,
            int(data.get("prompt_eval_count") or 0),
            int(data.get("eval_count") or 0),
            data.get("done_reason") or "stop",
        )


def _ollama_options(params: GenerationParams) -> dict[str, Any]:
    options: dict[str, Any] = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "num_predict": params.max_tokens,
    }
    if params.top_k:
        options["top_k"] = params.top_k
    if params.seed is not None:
        options["seed"] = params.seed
    if params.stop:
        options["stop"] = params.stop
    return options


def _has_message(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("message"), dict)
