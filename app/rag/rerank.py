"""Rerankers reorder the fused candidates with a model that reads question and passage together.

None ships offline, so reranking is off until SOURCED_RERANKER_MODEL names a sentence-transformers
cross-encoder (a local folder, or a hub name on a machine that can download it).
"""

from __future__ import annotations

from app.errors import AppError
from ingest.embedder import offline_hint


class CrossEncoderReranker:
    name = "cross-encoder"

    def __init__(self, model: str, batch_size: int = 16):
        from sentence_transformers import CrossEncoder

        try:
            self.model = CrossEncoder(model, device="cpu")
        except (OSError, ValueError) as exc:
            raise AppError(
                f"cannot load reranker model '{model}'{offline_hint(model)}: {exc}. Set "
                "SOURCED_RERANKER_MODEL to a cross-encoder folder, or leave it empty."
            ) from exc
        self.batch_size = batch_size

    def score(self, question: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        pairs = [(question, passage) for passage in passages]
        scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        return [float(s) for s in scores]
