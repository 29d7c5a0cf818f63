"""The vector index inside a version: exact below SOURCED_ANN_MIN_CHUNKS, HNSW from it on, with
its recall measured at build and kept in meta.json."""

import json
from pathlib import Path

import numpy as np
import pytest

from ingest import vectors
from ingest.manifest import FileRecord, Manifest
from ingest.stores.local import IndexSpec, open_index, write_lock, write_version
from ingest.units import Chunk, Source

SPEC = IndexSpec("sentence-transformers/all-MiniLM-L6-v2", 200, 30, "tokens-1")
DIM = 32


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 topics, the shape real embeddings have."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, DIM))
    points = centres[rng.integers(0, 50, size=n)] + 0.6 * rng.normal(size=(n, DIM))
    points = points.astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def build(root: Path, points: np.ndarray, ann_min_chunks: int):
    chunks = [
        Chunk(f"id{i}", f"doc{i % 7}.md", f"text {i}", 0, 6, Source()) for i in range(len(points))
    ]
    files = {
        f"doc{d}.md": FileRecord(f"doc{d}.md", 1, 1, "h", "text-1", [c.id for c in chunks][d::7])
        for d in range(7)
    }
    with write_lock(root, "big"):
        write_version(
            root, "big", SPEC, DIM, chunks, points, Manifest(files=files), 3, ann_min_chunks
        )
    return open_index(root, "big")


def exact_top(points: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return list(np.argsort(-(points @ query), kind="stable")[:k])


def test_small_indexes_are_searched_exactly(tmp_path: Path):
    points = clustered(500)
    index = build(tmp_path, points, ann_min_chunks=501)
    assert index.search_info.kind == "flat"
    assert index.search_info.describe() == "exact"
    _, rows = index.search(points[7:8], 10)
    assert list(rows[0]) == exact_top(points, points[7], 10)


def test_large_indexes_get_a_graph_with_measured_recall(tmp_path: Path):
    points = clustered(4000)
    index = build(tmp_path, points, ann_min_chunks=4000)
    info = index.search_info
    assert info.kind == "hnsw" and info.m == vectors.HNSW_M
    assert 0.9 <= info.recall_at_10 <= 1.0
    meta = json.loads((index.path / "meta.json").read_text())
    assert meta["vectors"]["kind"] == "hnsw"
    assert meta["vectors"]["recall_at_10"] == info.recall_at_10
    assert "approximate (HNSW, recall@10" in info.describe()
    # The search depth read back from meta.json, as FAISS does not store it.
    assert index.faiss_index.hnsw.efSearch == vectors.HNSW_EF_SEARCH

    found = 0
    for q in range(0, 4000, 200):
        _, rows = index.search(points[q : q + 1], 10)
        found += len(set(rows[0]) & set(exact_top(points, points[q], 10)))
    assert found / (20 * 10) >= 0.9
    # Deeper than efSearch still returns as many rows as asked for.
    _, rows = index.search(points[:1], 300)
    assert (rows[0] >= 0).sum() == 300


@pytest.mark.parametrize("allowed_count", [40, 3000])
def test_filtered_search_returns_only_allowed_rows(tmp_path: Path, monkeypatch, allowed_count):
    # 40 rows: exact over the subset; 3000 rows: the graph with a selector.
    monkeypatch.setattr(vectors, "EXACT_SUBSET", 100)
    points = clustered(4000, seed=1)
    index = build(tmp_path, points, ann_min_chunks=1000)
    allowed = np.arange(0, 4000, 4000 // allowed_count, dtype=np.int64)[:allowed_count]
    scores, rows = index.search(points[5:6], 10, allowed)
    assert set(rows[0]) <= set(allowed)
    subset_best = allowed[np.argsort(-(points[allowed] @ points[5]))[:10]]
    overlap = len(set(rows[0]) & set(subset_best))
    assert overlap == 10 if allowed_count == 40 else overlap >= 8
    assert list(scores[0]) == sorted(scores[0], reverse=True)


def test_a_filter_leaving_fewer_rows_than_asked_pads_with_minus_one(tmp_path: Path):
    points = clustered(2000, seed=2)
    index = build(tmp_path, points, ann_min_chunks=1000)
    _, rows = index.search(points[:1], 5, np.array([3, 9], dtype=np.int64))
    assert sorted(rows[0][:2]) == [3, 9] and list(rows[0][2:]) == [-1, -1, -1]


def test_vectors_read_back_from_a_graph_index(tmp_path: Path):
    points = clustered(1500, seed=3)
    index = build(tmp_path, points, ann_min_chunks=1000)
    assert np.allclose(index.vectors(), points, atol=1e-6)
    assert np.allclose(index.vectors_of([10, 2]), points[[10, 2]], atol=1e-6)
