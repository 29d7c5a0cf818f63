"""Retrieval behind a small interface: a question and an index in, ranked chunks out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ingest.embedder import Embedder
from ingest.store import IndexVersion
from ingest.units import Chunk


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float


class Retriever(Protocol):
    def retrieve(self, index: IndexVersion, question: str, k: int) -> list[Hit]: ...


class DenseRetriever:
    """Cosine similarity between the question's embedding and every chunk's (exact FAISS)."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def retrieve(self, index: IndexVersion, question: str, k: int) -> list[Hit]:
        if index.chunk_count == 0:
            return []
        query = self.embedder.embed_query(question)
        scores, rows = index.search(query[None, :], min(k, index.chunk_count))
        found = [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
        chunks = index.chunks([row for row, _ in found])
        return [Hit(chunk, score) for chunk, (_, score) in zip(chunks, found, strict=True)]
