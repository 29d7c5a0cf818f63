"""The embedding runtimes: torch in float32 or bfloat16, and the int8 ONNX build, all making
unit vectors that agree with each other closely enough to share an index."""

import numpy as np
import pytest

from ingest import embedder as embedder_module
from ingest.embedder import Embedder
from ingest.errors import UsageError

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = [
    "The mitochondria produce most of the cell's energy through oxidative phosphorylation.",
    "Refunds are paid within 14 days of receiving the returned item.",
    "SKU A-1193 ships in a box of twelve.",
    "Der Vertrag endet am 31. Dezember, sofern er nicht verlängert wird.",
    "short",
    " ".join(["a long passage about indexes and retrieval"] * 60),  # past the model's window
]


@pytest.fixture(scope="module")
def float32_vectors() -> np.ndarray:
    return Embedder(MODEL, dtype="float32").embed(TEXTS)


def assert_unit(vectors: np.ndarray) -> None:
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_auto_dtype_is_bfloat16_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(embedder_module, "native_bfloat16", lambda: False)
    assert Embedder(MODEL).describe() == "torch float32"
    monkeypatch.setattr(embedder_module, "native_bfloat16", lambda: True)
    assert Embedder(MODEL).describe() == "torch bfloat16"


def test_bfloat16_vectors_agree_with_float32(float32_vectors):
    bf16 = Embedder(MODEL, dtype="bfloat16").embed(TEXTS)
    assert_unit(bf16)
    assert_unit(float32_vectors)
    assert np.min(np.sum(bf16 * float32_vectors, axis=1)) >= 0.99


def test_onnx_int8_vectors_agree_with_float32(float32_vectors):
    onnx = Embedder(MODEL, runtime="onnx-int8")
    assert onnx.describe() == "onnx-int8"
    vectors = onnx.embed(TEXTS)
    assert_unit(vectors)
    assert np.min(np.sum(vectors * float32_vectors, axis=1)) >= 0.98
    # The same tokenizer and window: chunks made for one runtime fit the other.
    assert onnx.max_tokens == Embedder(MODEL).max_tokens == 254
    assert onnx.dimension == 384
    # Order is kept although batches are sorted by length.
    assert np.argmax(vectors @ vectors[2]) == 2
    assert onnx.embed_query(TEXTS[1]) @ vectors[1] > 0.999


def test_onnx_int8_is_for_the_bundled_model_only():
    with pytest.raises(UsageError, match="all-MiniLM-L6-v2 only"):
        Embedder("some/other-model", runtime="onnx-int8").engine  # noqa: B018


@pytest.mark.parametrize(
    ("options", "message"),
    [({"runtime": "tensorrt"}, "SOURCED_EMBEDDING_RUNTIME"), ({"dtype": "int4"}, "DTYPE")],
)
def test_unknown_runtime_or_dtype_is_a_usage_error(options, message):
    with pytest.raises(UsageError, match=message):
        Embedder(MODEL, **options)


def test_few_texts_run_on_one_thread_and_other_threads_keep_theirs():
    import threading

    import torch

    from ingest.embedder import _openmp, torch_threads

    if _openmp() is None:
        pytest.skip("this torch build does not run on libgomp")
    before = torch.get_num_threads()
    seen: list[int] = []
    with torch_threads(1):
        inside = torch.get_num_threads()
        other = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        other.start()
        other.join()
    assert inside == 1
    assert seen == [before], "a thread started meanwhile (the LLM's) keeps every CPU thread"
    assert torch.get_num_threads() == before
