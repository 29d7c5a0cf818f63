"""Embeddings from a server: any OpenAI-compatible `/v1/embeddings` (infinity, vLLM, Text
Embeddings Inference, llama.cpp's server, OpenAI itself) or Ollama's `/api/embed`.

This is how ingest scales past one CPU: many ingest processes (and app replicas, for
questions) share one embedding service. Texts go in batches of SOURCED_EMBEDDING_BATCH_SIZE,
SOURCED_EMBEDDING_CONCURRENCY batches at a time, each retried with backoff and bounded by
SOURCED_EMBEDDING_TIMEOUT_S. Every reply is checked: one vector per text, all of the
dimension the server gave at start (and the index's, checked in sync.py and the retriever).

Chunks are still cut by counting tokens here: with the model's own tokenizer when its files
are on this machine (the bundled all-MiniLM-L6-v2's are), else with all-MiniLM-L6-v2's, a
close estimate for chunk sizes in any WordPiece or BPE model.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ingest.errors import EmbeddingServerError, UsageError
from ingest.retrying_http import ServerFailure, post_json

log = logging.getLogger("sourced")

EMBEDDING_BACKENDS = ("local", "openai", "ollama")
_FALLBACK_TOKENIZER = "sentence-transformers/all-MiniLM-L6-v2"
_UNKNOWN_WINDOW = 512  # tokens, for a model whose window is not on this machine


@dataclass(frozen=True)
class EmbeddingServer:
    """Where and how to reach the server (SOURCED_EMBEDDING_* settings)."""

    backend: str
    base_url: str
    api_key: str = ""
    timeout_s: float = 60.0
    retries: int = 4
    concurrency: int = 4


class ServerEngine:
    """The engine interface of ingest/embedder.py over HTTP. Subclasses say where to POST and
    how to read the vectors out of the reply."""

    name: str
    path: str
    serial = False  # many requests may be in flight: the server queues and batches them

    def __init__(
        self,
        model_name: str,
        server: EmbeddingServer,
        transport: httpx.BaseTransport | None = None,  # tests' stand-in for the network
    ):
        if not server.base_url:
            raise UsageError(
                f"SOURCED_EMBEDDING_BACKEND={self.name} needs SOURCED_EMBEDDING_BASE_URL "
                f"(for instance {self.example_url})"
            )
        self.model_name = model_name
        self.server = server
        self.url = server.base_url.rstrip("/") + self.path
        headers = {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}
        self._client = httpx.Client(
            timeout=server.timeout_s,
            headers=headers,
            limits=httpx.Limits(max_connections=server.concurrency),
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(server.concurrency, thread_name_prefix="embed")
        self.tokenizer, self.max_seq_length = _tokenizer(model_name)
        # One request at start: the server is reachable, serves the model, and says its
        # vectors' dimension before any chunk is parsed.
        self.dimension = 0
        self.dimension = int(self._embed_batch(["dimension"]).shape[1])

    @property
    def batches_per_call(self) -> int:
        """Batches handed to encode() at a time: enough to keep every connection busy."""
        return self.server.concurrency * 4

    def describe(self) -> str:
        return f"{self.name} server {self.server.base_url} ({self.model_name})"

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        return np.concatenate(list(self._pool.map(self._embed_batch, batches)))

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        try:
            reply = post_json(
                self._client,
                self.url,
                self.payload(texts),
                server=f"the embedding server ({self.name})",
                retries=self.server.retries,
                retry_timeouts=True,
            )
        except ServerFailure as failure:
            raise EmbeddingServerError(
                f"{failure.message}. Check SOURCED_EMBEDDING_BASE_URL and that the server "
                f"serves '{self.model_name}' (SOURCED_EMBEDDING_MODEL)."
            ) from failure
        try:
            vectors = np.asarray(self.vectors(reply), dtype=np.float32)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise EmbeddingServerError(
                f"the embedding server ({self.name}) sent a reply without vectors "
                f"where {self.path} should have them"
            ) from exc
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise EmbeddingServerError(
                f"the embedding server ({self.name}) sent {len(vectors)} vectors for "
                f"{len(texts)} texts"
            )
        if self.dimension and vectors.shape[1] != self.dimension:
            raise EmbeddingServerError(
                f"the embedding server ({self.name}) changed its vectors' dimension from "
                f"{self.dimension} to {vectors.shape[1]}: is another model behind the same URL?"
            )
        if not np.isfinite(vectors).all():
            raise EmbeddingServerError(f"the embedding server ({self.name}) sent NaN vectors")
        return vectors

    example_url: str

    def payload(self, texts: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def vectors(self, reply: Any) -> list[list[float]]:
        raise NotImplementedError


class OpenAIEngine(ServerEngine):
    """POST {base}/embeddings, as in OpenAI's API; the base URL ends in /v1."""

    name, path, example_url = "openai", "/embeddings", "http://localhost:7997/v1"

    def payload(self, texts: list[str]) -> dict[str, Any]:
        return {"model": self.model_name, "input": texts, "encoding_format": "float"}

    def vectors(self, reply: Any) -> list[list[float]]:
        # Items carry their index; the order of the list itself is not promised.
        return [item["embedding"] for item in sorted(reply["data"], key=lambda d: d["index"])]


class OllamaEngine(ServerEngine):
    """POST {base}/api/embed, as in Ollama's API."""

    name, path, example_url = "ollama", "/api/embed", "http://localhost:11434"

    def payload(self, texts: list[str]) -> dict[str, Any]:
        return {"model": self.model_name, "input": texts, "truncate": True}

    def vectors(self, reply: Any) -> list[list[float]]:
        return reply["embeddings"]


def server_engine(model_name: str, server: EmbeddingServer) -> ServerEngine:
    engines = {"openai": OpenAIEngine, "ollama": OllamaEngine}
    if server.backend not in engines:
        raise UsageError(
            f"unknown SOURCED_EMBEDDING_BACKEND '{server.backend}': use local, openai or ollama"
        )
    return engines[server.backend](model_name, server)


def _tokenizer(model_name: str) -> tuple[Any, int]:
    """A tokenizer to count chunk tokens with, and the model's window in tokens."""
    from transformers import AutoTokenizer

    from ingest.embedder import resolve_model_path

    location = resolve_model_path(model_name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
    except (OSError, ValueError):
        log.info(
            "the tokenizer of '%s' is not on this machine: chunk sizes are counted in "
            "all-MiniLM-L6-v2 tokens",
            model_name,
        )
        location = resolve_model_path(_FALLBACK_TOKENIZER)
        tokenizer = AutoTokenizer.from_pretrained(location)
        return tokenizer, _UNKNOWN_WINDOW
    config = Path(location) / "sentence_bert_config.json"
    if config.exists():
        return tokenizer, int(json.loads(config.read_text())["max_seq_length"])
    return tokenizer, min(int(tokenizer.model_max_length), _UNKNOWN_WINDOW)
