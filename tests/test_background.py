"""Embedding in a background thread while parsing goes on: every text handed over gets its
vector once, in windows, and a failure reaches the caller."""

import threading

import numpy as np
import pytest

from ingest.background import BackgroundEmbedder


class RecordingEmbedder:
    """Vectors from text length; records each call's texts."""

    def __init__(self, fail_on: str | None = None, gate: threading.Event | None = None):
        self.calls: list[list[str]] = []
        self.fail_on = fail_on
        self.gate = gate

    def embed(self, texts, on_progress=None):
        if self.gate is not None:
            self.gate.wait(5)
        self.calls.append(list(texts))
        if self.fail_on in texts:
            raise RuntimeError("the model failed")
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_every_new_text_is_embedded_once_in_windows():
    embedder = RecordingEmbedder()
    background = BackgroundEmbedder(embedder, skip=lambda t: t.startswith("old"), window=4)
    background.add(["a", "bb", "old one", "a"])
    background.add([f"text {i}" for i in range(9)] + ["bb"])
    progress: list[int] = []
    vectors = background.finish(on_progress=progress.append)
    assert set(vectors) == {"a", "bb", *(f"text {i}" for i in range(9))}
    assert vectors["bb"].tolist() == [2.0, 1.0]
    embedded = [t for call in embedder.calls for t in call]
    assert sorted(embedded) == sorted(vectors) and len(embedded) == 11  # each once
    assert all(len(call) <= 4 for call in embedder.calls)
    assert sum(progress) == 11 and background.embedded == 11


def test_embedding_starts_before_parsing_ends():
    gate = threading.Event()
    embedder = RecordingEmbedder(gate=gate)
    background = BackgroundEmbedder(embedder, skip=lambda t: False, window=2)
    background.add(["one", "two"])
    gate.set()
    for _ in range(100):
        if embedder.calls:
            break
        threading.Event().wait(0.02)
    assert embedder.calls == [["one", "two"]]  # a full window went before finish()
    background.add(["three"])
    assert set(background.finish()) == {"one", "two", "three"}


def test_a_failure_in_the_thread_is_raised_by_finish():
    background = BackgroundEmbedder(RecordingEmbedder(fail_on="bad"), skip=lambda t: False)
    background.add(["good", "bad"])
    with pytest.raises(RuntimeError, match="the model failed"):
        background.finish()


def test_cancel_stops_without_embedding_the_rest():
    gate = threading.Event()
    embedder = RecordingEmbedder(gate=gate)
    background = BackgroundEmbedder(embedder, skip=lambda t: False, window=1)
    background.add(["first", "second", "third"])
    background.cancel()
    gate.set()
    background._thread.join(5)
    assert not background._thread.is_alive()
    assert len(embedder.calls) <= 1
