"""The vector index inside a version: exact for small indexes, HNSW past a size threshold.

Exact search (FAISS `IndexFlatIP`) reads every vector per query: about 5 ms per 10,000 chunks
on one core, which is instant for a team's folder but too slow past ~50,000 chunks. Beyond
`SOURCED_ANN_MIN_CHUNKS` the version gets an HNSW graph instead, and the build measures what
that costs in recall: the graph's top 10 against the exact top 10 for a sample of the stored
vectors used as queries. The figure is kept in meta.json and shown by `sourced indexes`.

Only the local store (`ingest.stores.local`) uses this module; the format is the store's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

HNSW_M = 32  # graph neighbours per vector: FAISS's recommended range is 16–64
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # candidates kept while searching; at least the depth asked for
RECALL_SAMPLE = 256
# A filter that leaves at most this many rows is searched exactly over those rows: a graph
# search that must skip most nodes is both slower and less accurate.
EXACT_SUBSET = 20_000


@dataclass(frozen=True)
class VectorIndexInfo:
    """What meta.json records about the vector index (`kind` is "flat" or "hnsw")."""

    kind: str
    m: int | None = None
    ef_search: int | None = None
    recall_at_10: float | None = None
    build_s: float | None = None

    def describe(self) -> str:
        if self.kind != "hnsw":
            return "exact"
        return f"approximate (HNSW, recall@10 {self.recall_at_10:.3f})"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VectorIndexInfo:
        return cls(**data) if data else cls("flat")


def build(vectors: np.ndarray, dimension: int, ann_min_chunks: int) -> tuple[Any, VectorIndexInfo]:
    """A FAISS index over unit vectors (inner product = cosine), row i = vector i."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) < ann_min_chunks:
        index = faiss.IndexFlatIP(dimension)
        if len(vectors):
            index.add(vectors)
        return index, VectorIndexInfo("flat")
    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(vectors)
    build_s = time.perf_counter() - started
    recall = measure_recall(index, vectors)
    info = VectorIndexInfo("hnsw", HNSW_M, HNSW_EF_SEARCH, round(recall, 4), round(build_s, 1))
    return index, info


def measure_recall(index: Any, vectors: np.ndarray, k: int = 10) -> float:
    """Share of the exact top k (each query's own vector left out) that the index returns."""
    rng = np.random.default_rng(0)
    sample = rng.choice(len(vectors), size=min(RECALL_SAMPLE, len(vectors)), replace=False)
    queries = vectors[sample]
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, k + 1)
    _, found = index.search(queries, k + 1)
    hits = 0
    for own, wanted, got in zip(sample, truth, found, strict=True):
        wanted_set = {int(r) for r in wanted if r != own}
        hits += len(wanted_set & {int(r) for r in got if r != own})
    return hits / (len(sample) * k)


def prepare(index: Any, info: VectorIndexInfo) -> Any:
    """Settings a read index forgets: FAISS does not store efSearch."""
    if info.kind == "hnsw" and info.ef_search:
        index.hnsw.efSearch = info.ef_search
    return index


def search(
    index: Any, info: VectorIndexInfo, queries: np.ndarray, k: int, rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, rows) per query, among `rows` only when given; rows are -1 past the end."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if info.kind != "hnsw":
        if rows is None:
            return index.search(queries, k)
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows))
        return index.search(queries, k, params=params)
    if rows is not None and len(rows) <= EXACT_SUBSET:
        return _exact_among(index, queries, k, rows)
    ef_search = max(info.ef_search or HNSW_EF_SEARCH, k)
    if rows is None:
        params = faiss.SearchParametersHNSW(efSearch=ef_search)
    else:
        params = faiss.SearchParametersHNSW(sel=faiss.IDSelectorBatch(rows), efSearch=ef_search)
    return index.search(queries, k, params=params)


def _exact_among(
    index: Any, queries: np.ndarray, k: int, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    found = np.full((len(queries), k), -1, dtype=np.int64)
    if len(rows) == 0:
        return scores, found
    similarity = queries @ index.reconstruct_batch(np.asarray(rows, dtype=np.int64)).T
    take = min(k, len(rows))
    for q, row_scores in enumerate(similarity):
        best = np.argpartition(-row_scores, take - 1)[:take]
        best = best[np.argsort(-row_scores[best], kind="stable")]
        scores[q, :take] = row_scores[best]
        found[q, :take] = rows[best]
    return scores, found
