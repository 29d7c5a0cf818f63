"""Retrieval: a question and an index in, ranked chunks out.

Three modes, each ranked by the store (ingest/stores/): `dense` by cosine similarity of
embeddings; `bm25` by BM25 over the index's terms, which finds exact names, codes and numbers;
`hybrid` (the default) fuses the two rankings by reciprocal rank, so a chunk near the top of
either list ranks high. Filters restrict every mode to the chosen documents and pages. An
optional reranker reorders the fused candidates, and near-duplicate chunks (the same passage
in two files, or overlapping copies) are dropped so they do not crowd the top-k.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from ingest.embedder import Embedder
from ingest.errors import IndexMismatchError
from ingest.sentence_index import ChunkSentences
from ingest.stores import Filters, IndexReader, Ranking
from ingest.units import Chunk

RetrievalMode = Literal["hybrid", "dense", "bm25"]
RETRIEVAL_MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")
RRF_K = 60  # the constant of reciprocal-rank fusion, as in the original paper
# BM25 runs beside the rest of a query: it starts while the question is embedded and goes on
# while the store searches the vectors (the Postgres store answers each on a connection of
# its own, so the database works on both at once).
_LEXICAL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="bm25")


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # the ranking score of the mode: cosine, BM25, fused (RRF) or reranker score
    similarity: float = 0.0  # cosine similarity between the question and the chunk
    # The chunk's sentences with their vectors, as stored at ingest (None: not stored).
    sentences: ChunkSentences | None = field(default=None, compare=False, repr=False)


class Reranker(Protocol):
    """Scores (question, passage) pairs; higher is more relevant."""

    def score(self, question: str, passages: list[str]) -> list[float]: ...


class Retriever:
    def __init__(
        self,
        embedder: Embedder,
        reranker: Reranker | None = None,
        duplicate_similarity: float = 0.95,
        candidates: int = 100,
    ):
        self.embedder = embedder
        self.reranker = reranker
        self.duplicate_similarity = duplicate_similarity
        self.candidates = candidates  # from each ranking, before fusion and reranking

    def retrieve(
        self,
        index: IndexReader,
        question: str,
        k: int,
        mode: RetrievalMode = "hybrid",
        filters: Filters | None = None,
    ) -> list[Hit]:
        if index.chunk_count == 0 or k < 1:
            return []
        depth = min(max(self.candidates, 2 * k), index.chunk_count)
        lexical = None
        if mode in ("bm25", "hybrid"):
            lexical = _LEXICAL.submit(index.lexical, question, depth, filters or None)
        query = self.embedder.embed_query(question)
        if index.dimension and len(query) != index.dimension:
            raise IndexMismatchError(
                f"the embedding model gives vectors of {len(query)} dimensions, but index "
                f"'{index.name}' holds vectors of {index.dimension}: is another model serving "
                "SOURCED_EMBEDDING_MODEL? Point the service at the model the index was built "
                "with, or rebuild the index."
            )

        rankings: list[Ranking] = []
        if mode in ("dense", "hybrid"):
            rankings.append(index.dense(query, depth, filters or None))
        if lexical is not None:
            rankings.append(lexical.result())
        ranked = _fuse(rankings) if mode == "hybrid" else rankings[0]
        if not ranked:
            return []

        rows = [row for row, _ in ranked]
        vectors = index.vectors_of(rows)
        similarity = vectors @ query
        if self.reranker is not None and ranked:
            ranked, order = self._rerank(index, question, ranked, k)
            vectors, similarity = vectors[order], similarity[order]
        chosen = self._distinct(vectors, k)
        rows = [ranked[i][0] for i in chosen]
        chunks = index.chunks(rows)
        stored = index.sentences_of(rows, [c.text for c in chunks]) or [None] * len(chunks)
        return [
            Hit(chunk, float(ranked[i][1]), float(similarity[i]), sentences)
            for chunk, i, sentences in zip(chunks, chosen, stored, strict=True)
        ]

    def _rerank(
        self, index: IndexReader, question: str, ranked: list[tuple[int, float]], k: int
    ) -> tuple[list[tuple[int, float]], list[int]]:
        """The first candidates reordered by the reranker; the order is returned as positions
        into `ranked` so the caller can reorder what it holds alongside."""
        head = list(range(min(len(ranked), max(3 * k, 20))))
        passages = [c.text for c in index.chunks([ranked[i][0] for i in head])]
        scores = self.reranker.score(question, passages)
        order = sorted(head, key=lambda i: -scores[i])
        reranked = [(ranked[i][0], float(scores[i])) for i in order]
        return reranked, order

    def _distinct(self, vectors: np.ndarray, k: int) -> list[int]:
        """Positions of the first k candidates, passing over any that is a near copy of one
        already chosen."""
        chosen: list[int] = []
        for i in range(len(vectors)):
            if chosen and float(np.max(vectors[chosen] @ vectors[i])) >= self.duplicate_similarity:
                continue
            chosen.append(i)
            if len(chosen) == k:
                break
        return chosen


def _fuse(rankings: list[Ranking]) -> Ranking:
    """Reciprocal-rank fusion: each ranking adds 1 / (RRF_K + rank) to a chunk's score."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _) in enumerate(ranking, 1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
