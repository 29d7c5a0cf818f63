import json
from pathlib import Path

import numpy as np
import pytest

from ingest.errors import IndexCorruptError, IndexLockedError, IndexMismatchError, UsageError
from ingest.manifest import FileRecord, Manifest
from ingest.stores.local import (
    IndexSpec,
    LocalStore,
    open_current,
    open_index,
    write_lock,
    write_version,
)
from ingest.units import Chunk, Source

SPEC = IndexSpec("sentence-transformers/all-MiniLM-L6-v2", 200, 30, "tokens-1")


def make_chunks(n: int, document: str = "a.md") -> list[Chunk]:
    return [
        Chunk(f"id{i}", document, f"text {i}", 0, 6, Source(page=i + 1, headings=("H",)))
        for i in range(n)
    ]


def unit_vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def manifest_for(chunks: list[Chunk]) -> Manifest:
    record = FileRecord("a.md", 10, 1, "abc", "text-1", [c.id for c in chunks])
    return Manifest(files={"a.md": record})


def write(root: Path, n: int = 3, keep: int = 3, seed: int = 0):
    chunks = make_chunks(n)
    with write_lock(root, "docs"):
        return write_version(
            root, "docs", SPEC, 8, chunks, unit_vectors(n, seed=seed), manifest_for(chunks), keep
        )


def test_written_version_reads_back(tmp_path: Path):
    written = write(tmp_path, n=5)
    opened = open_index(tmp_path, "docs")
    assert opened.version == written.version == "v000001"
    assert (opened.chunk_count, opened.document_count, opened.dimension) == (5, 1, 8)
    assert opened.spec == SPEC
    assert [c.id for c in opened.chunks()] == [f"id{i}" for i in range(5)]
    assert opened.chunks([3, 1])[0].source == Source(page=4, headings=("H",))
    scores, rows = opened.search(opened.vectors()[2:3], k=1)
    assert rows[0][0] == 2 and scores[0][0] == pytest.approx(1.0, abs=1e-5)
    assert opened.manifest().files["a.md"].chunk_ids == [f"id{i}" for i in range(5)]
    meta = json.loads((opened.path / "meta.json").read_text())
    assert meta["format"] == 1 and meta["spec"]["embedding_model"] == SPEC.embedding_model


def test_new_versions_swap_current_and_old_ones_are_pruned(tmp_path: Path):
    for seed in range(5):
        write(tmp_path, n=2 + seed, keep=2, seed=seed)
    assert (tmp_path / "docs" / "CURRENT").read_text().strip() == "v000005"
    assert sorted(p.name for p in (tmp_path / "docs").glob("v*")) == ["v000004", "v000005"]
    assert open_index(tmp_path, "docs").chunk_count == 6


def test_leftovers_of_a_killed_build_are_removed_by_the_next(tmp_path: Path):
    write(tmp_path)
    half = tmp_path / "docs" / ".tmp-v000002"
    half.mkdir()
    (half / "index.faiss").write_bytes(b"half")
    assert open_index(tmp_path, "docs").version == "v000001"
    assert write(tmp_path).version == "v000002"
    assert not half.exists()


def test_a_second_writer_is_refused(tmp_path: Path):
    with (
        write_lock(tmp_path, "docs"),
        pytest.raises(IndexLockedError, match="another ingest"),
        write_lock(tmp_path, "docs"),
    ):
        pass
    with write_lock(tmp_path, "docs"):
        pass  # released


def test_spec_mismatch_says_to_rebuild(tmp_path: Path):
    write(tmp_path)
    other = IndexSpec("some/other-model", 200, 30, "tokens-1")
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        open_index(tmp_path, "docs").check_spec(other)


def test_missing_and_broken_indexes_give_clear_errors(tmp_path: Path):
    assert open_current(tmp_path, "nothing") is None
    with pytest.raises(Exception, match="sourced ingest"):
        open_index(tmp_path, "nothing")
    write(tmp_path)
    (tmp_path / "docs" / "CURRENT").write_text("v000009\n")
    with pytest.raises(IndexCorruptError, match="missing version"):
        open_index(tmp_path, "docs")


@pytest.mark.parametrize("name", ["../up", "a/b", "", ".hidden", "x" * 65])
def test_index_names_are_checked(tmp_path: Path, name: str):
    with pytest.raises(UsageError, match="invalid index name"):
        open_current(tmp_path, name)


def test_list_indexes(tmp_path: Path):
    assert LocalStore(tmp_path / "none").list_indexes() == []
    write(tmp_path)
    (tmp_path / "empty-dir").mkdir()
    assert [v.name for v in LocalStore(tmp_path).list_indexes()] == ["docs"]


def test_metadata_is_json_and_sqlite_never_pickle(tmp_path: Path):
    version = write(tmp_path)
    names = sorted(p.name for p in version.path.iterdir())
    assert names == ["bm25", "chunks.sqlite", "index.faiss", "manifest.json", "meta.json"]
    bm25 = sorted(str(p.relative_to(version.path)) for p in (version.path / "bm25").rglob("*.*"))
    assert all(name.endswith((".npy", ".json")) for name in bm25) and bm25
    assert version.meta["lexical"]["version"]
    assert (version.path / "chunks.sqlite").read_bytes().startswith(b"SQLite format 3")
