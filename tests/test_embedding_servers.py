"""The embedding-server backends' mechanics: batching, retries, timeouts and the checks on
every reply, with httpx's MockTransport standing in for the network. The real server is in
test_embedding_server_e2e.py."""

import json
import threading

import httpx
import numpy as np
import pytest

from ingest.embedder import Embedder
from ingest.embedding_servers import EmbeddingServer, OllamaEngine, OpenAIEngine
from ingest.errors import EmbeddingServerError, UsageError
from ingest.settings import IngestSettings

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def vector(text: str, dimension: int = 8) -> list[float]:
    rng = np.random.default_rng(sum(map(ord, text)))
    return rng.normal(size=dimension).tolist()


def openai_reply(request: httpx.Request, dimension: int = 8) -> httpx.Response:
    texts = json.loads(request.content)["input"]
    data = [
        {"object": "embedding", "index": i, "embedding": vector(t, dimension)}
        for i, t in enumerate(texts)
    ]
    # Reversed: a server may list the items in any order; each carries its index.
    return httpx.Response(200, json={"object": "list", "data": data[::-1], "model": MODEL})


def server(**overrides) -> EmbeddingServer:
    options = {"backend": "openai", "base_url": "http://embed.test/v1", "retries": 2}
    return EmbeddingServer(**{**options, **overrides})


def test_openai_batches_and_keeps_order(monkeypatch):
    monkeypatch.setattr("ingest.retrying_http.time.sleep", lambda s: None)
    seen = []

    def handle(request):
        seen.append(json.loads(request.content))
        return openai_reply(request)

    engine = OpenAIEngine(MODEL, server(concurrency=3), httpx.MockTransport(handle))
    assert engine.dimension == 8  # from the first request, made at start
    texts = [f"text {i}" for i in range(10)]
    vectors = engine.encode(texts, batch_size=4)
    assert vectors.shape == (10, 8)
    assert np.allclose(vectors[7], vector("text 7"))
    assert [len(body["input"]) for body in seen[1:]] == [4, 4, 2]
    assert all(body["model"] == MODEL for body in seen)
    assert str(seen[0]) and engine.url == "http://embed.test/v1/embeddings"


def test_embedder_over_a_server_normalizes_and_runs_batches_at_once(monkeypatch):
    in_flight, most = 0, 0
    lock = threading.Lock()
    gate = threading.Barrier(2, timeout=5)

    def handle(request):
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        if len(json.loads(request.content)["input"]) > 1:
            gate.wait()  # two batches are in flight together, or this times out
        with lock:
            in_flight -= 1
        return openai_reply(request)

    embedder = Embedder(MODEL, batch_size=2, server=server(concurrency=2))
    embedder.__dict__["engine"] = OpenAIEngine(
        MODEL, server(concurrency=2), httpx.MockTransport(handle)
    )
    vectors = embedder.embed(["a b", "c d", "e f", "g h"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert most == 2


def test_retries_5xx_and_timeouts_then_succeeds(monkeypatch):
    slept = []
    monkeypatch.setattr("ingest.retrying_http.time.sleep", slept.append)
    failures = iter(["503", "timeout"])

    def handle(request):
        failure = next(failures, None)
        if failure == "503":
            return httpx.Response(503, json={"error": {"message": "warming up"}})
        if failure == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        return openai_reply(request)

    engine = OpenAIEngine(MODEL, server(), httpx.MockTransport(handle))
    assert engine.dimension == 8
    assert slept == [0.5, 1.0]  # exponential backoff


def test_gives_up_with_the_servers_message(monkeypatch):
    monkeypatch.setattr("ingest.retrying_http.time.sleep", lambda s: None)

    def handle(request):
        return httpx.Response(404, json={"error": {"message": "model 'x' not found"}})

    with pytest.raises(EmbeddingServerError) as caught:
        OpenAIEngine("x", server(), httpx.MockTransport(handle))
    message = str(caught.value)
    assert "answered 404: model 'x' not found" in message
    assert "SOURCED_EMBEDDING_MODEL" in message


def test_unreachable_server_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("ingest.retrying_http.time.sleep", lambda s: None)

    def handle(request):
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(EmbeddingServerError, match="cannot reach the embedding server"):
        OpenAIEngine(MODEL, server(), httpx.MockTransport(handle))


@pytest.mark.parametrize(
    "reply, message",
    [
        ({"data": []}, "sent 0 vectors for 1 texts"),
        ({"nothing": True}, "a reply without vectors"),
        ({"data": [{"index": 0, "embedding": [float("nan")] * 8}]}, "NaN"),
    ],
)
def test_bad_replies_are_refused(reply, message):
    engine_reply = iter([None])

    def handle(request):
        if next(engine_reply, "bad") is None:
            return openai_reply(request)
        return httpx.Response(200, content=json.dumps(reply))  # NaN as JSON servers write it

    engine = OpenAIEngine(MODEL, server(), httpx.MockTransport(handle))
    with pytest.raises(EmbeddingServerError, match=message):
        engine.encode(["one text"], batch_size=4)


def test_a_changed_dimension_is_refused():
    dimensions = iter([8, 16])

    def handle(request):
        return openai_reply(request, next(dimensions, 16))

    engine = OpenAIEngine(MODEL, server(), httpx.MockTransport(handle))
    with pytest.raises(EmbeddingServerError, match="from 8 to 16"):
        engine.encode(["one text"], batch_size=4)


def test_ollama_api_embed():
    seen = []

    def handle(request):
        body = json.loads(request.content)
        seen.append((request.url.path, body))
        return httpx.Response(
            200, json={"model": body["model"], "embeddings": [vector(t) for t in body["input"]]}
        )

    engine = OllamaEngine(
        "nomic-embed-text",
        server(backend="ollama", base_url="http://ollama.test:11434/"),
        httpx.MockTransport(handle),
    )
    vectors = engine.encode(["first", "second"], batch_size=8)
    assert np.allclose(vectors[1], vector("second"))
    assert seen[-1] == (
        "/api/embed",
        {"model": "nomic-embed-text", "input": ["first", "second"], "truncate": True},
    )
    # No tokenizer of that model here: chunks are counted in all-MiniLM-L6-v2 tokens.
    assert engine.tokenizer("a word")["input_ids"]


def test_settings_choose_the_backend():
    local = Embedder.from_settings(IngestSettings())
    assert local.server is None
    remote = Embedder.from_settings(
        IngestSettings(embedding_backend="openai", embedding_base_url="http://e.test/v1")
    )
    assert remote.server.backend == "openai" and remote.server.base_url == "http://e.test/v1"
    with pytest.raises(UsageError, match="needs SOURCED_EMBEDDING_BASE_URL"):
        Embedder.from_settings(IngestSettings(embedding_backend="ollama")).embed(["text"])


def served_embedder(dimension: int) -> Embedder:
    """An embedder on the server engine whose server answers vectors of `dimension`."""
    embedder = Embedder(MODEL, server=server())
    transport = httpx.MockTransport(lambda request: openai_reply(request, dimension))
    embedder.__dict__["engine"] = OpenAIEngine(MODEL, server(), transport)
    return embedder


def test_vectors_of_another_dimension_never_join_an_index(settings, tmp_path):
    from app.rag.retriever import Retriever
    from ingest.errors import IndexMismatchError
    from ingest.stores import open_store
    from ingest.sync import run_ingest

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\n\nThe alpha document.\n")
    run_ingest([docs], "mixed", settings, embedder=served_embedder(8))
    (docs / "b.md").write_text("# Beta\n\nThe beta document.\n")
    with pytest.raises(IndexMismatchError, match="16 dimensions.*holds vectors of 8"):
        run_ingest([docs], "mixed", settings, embedder=served_embedder(16))
    index = open_store(settings).open_current("mixed")
    assert index.documents() == ["a.md"]
    with pytest.raises(IndexMismatchError, match="16 dimensions"):
        Retriever(served_embedder(16)).retrieve(index, "alpha", 3)
    assert Retriever(served_embedder(8)).retrieve(index, "alpha", 3)
