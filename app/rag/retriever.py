"""Retrieval: a question and an index in, ranked chunks out.

Three modes. `dense` ranks by cosine similarity of embeddings (exact FAISS); `bm25` by the
index's stored BM25 term index, which finds exact names, codes and numbers; `hybrid` (the
default) fuses the two rankings by reciprocal rank, so a chunk near the top of either list
ranks high. Filters restrict every mode to the chosen documents and pages. An optional reranker
reorders the fused candidates, and near-duplicate chunks (the same passage in two files, or
overlapping copies) are dropped so they do not crowd the top-k.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal, Protocol

import numpy as np

from ingest.embedder import Embedder
from ingest.sentence_index import ChunkSentences
from ingest.store import IndexVersion
from ingest.units import Chunk

RetrievalMode = Literal["hybrid", "dense", "bm25"]
RETRIEVAL_MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")
RRF_K = 60  # the constant of reciprocal-rank fusion, as in the original paper


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # the ranking score of the mode: cosine, BM25, fused (RRF) or reranker score
    similarity: float = 0.0  # cosine similarity between the question and the chunk
    # The chunk's sentences with their vectors, as stored at ingest (None: not stored).
    sentences: ChunkSentences | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Filters:
    """Which chunks may be retrieved; an empty field does not restrict."""

    documents: list[str] = field(default_factory=list)  # globs over document paths
    file_types: list[str] = field(default_factory=list)  # extensions: "pdf", "md"
    pages: tuple[int, int] | None = None  # inclusive page range (only paged documents match)

    def __bool__(self) -> bool:
        return bool(self.documents or self.file_types or self.pages)

    def matches(self, document: str) -> bool:
        path = PurePosixPath(document)
        if self.file_types:
            types = {t.lower().lstrip(".") for t in self.file_types}
            if path.suffix.lower().lstrip(".") not in types:
                return False
        if self.documents:
            # A pattern without "/" also matches the file name alone: "*.pdf", "faq.json".
            return any(
                fnmatch.fnmatchcase(document, glob)
                or ("/" not in glob and fnmatch.fnmatchcase(path.name, glob))
                for glob in self.documents
            )
        return True


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
        index: IndexVersion,
        question: str,
        k: int,
        mode: RetrievalMode = "hybrid",
        filters: Filters | None = None,
    ) -> list[Hit]:
        if index.chunk_count == 0 or k < 1:
            return []
        allowed = _allowed_rows(index, filters) if filters else None
        if allowed is not None and len(allowed) == 0:
            return []
        depth = min(max(self.candidates, 2 * k), index.chunk_count)
        query = self.embedder.embed_query(question)

        rankings: list[list[tuple[int, float]]] = []
        if mode in ("dense", "hybrid"):
            rankings.append(_dense(index, query, depth, allowed))
        if mode in ("bm25", "hybrid"):
            rankings.append(_bm25(index, question, depth, allowed))
        ranked = _fuse(rankings) if mode == "hybrid" else rankings[0]

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
        self, index: IndexVersion, question: str, ranked: list[tuple[int, float]], k: int
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


def _allowed_rows(index: IndexVersion, filters: Filters) -> np.ndarray:
    documents = None
    if filters.documents or filters.file_types:
        documents = [d for d in index.documents() if filters.matches(d)]
    return index.rows_where(documents, filters.pages)


def _dense(
    index: IndexVersion, query: np.ndarray, depth: int, allowed: np.ndarray | None
) -> list[tuple[int, float]]:
    scores, rows = index.search(query[None, :], depth, allowed)
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]


def _bm25(
    index: IndexVersion, question: str, depth: int, allowed: np.ndarray | None
) -> list[tuple[int, float]]:
    scores = index.lexical.scores(question)
    if allowed is not None:
        masked = np.zeros_like(scores)
        masked[allowed] = scores[allowed]
        scores = masked
    matching = np.flatnonzero(scores > 0)  # a chunk sharing no term with the question is no hit
    if len(matching) > depth:
        matching = matching[np.argpartition(-scores[matching], depth - 1)[:depth]]
    order = matching[np.lexsort((matching, -scores[matching]))]
    return [(int(r), float(scores[r])) for r in order]


def _fuse(rankings: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: each ranking adds 1 / (RRF_K + rank) to a chunk's score."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _) in enumerate(ranking, 1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
