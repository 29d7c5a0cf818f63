"""The stored sentences of chunks: built, reused, written and read back, checked on load."""

from pathlib import Path

import numpy as np
import pytest

from ingest.errors import IndexCorruptError
from ingest.sentence_index import SentenceIndex
from ingest.sentences import sentences

TEXTS = [
    "Install it with make run. It needs 2 GB of disk.",
    "",
    "Sourced reads PDF files.\n\nIt reads DOCX too. Install it with make run.",
]


def fake_embed(asked: list[list[str]]):
    def embed(texts: list[str]) -> np.ndarray:
        asked.append(list(texts))
        vectors = np.array([[len(t), t.count(" ") + 1, 1.0] for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return embed


def test_each_distinct_sentence_is_embedded_once_and_found_by_chunk():
    asked: list[list[str]] = []
    index = SentenceIndex.build(TEXTS, 3, fake_embed(asked))
    assert len(asked) == 1 and len(asked[0]) == len(set(asked[0])) == 4
    for row, text in enumerate(TEXTS):
        stored = index.of(row, text)
        assert stored.spans == sentences(text)
        assert stored.vectors.shape == (len(stored.spans), 3)
        assert stored.vectors.dtype == np.float32
    assert index.of(1, "").spans == []


def test_reused_chunks_are_not_embedded_again():
    first = SentenceIndex.build(TEXTS, 3, fake_embed([]))
    asked: list[list[str]] = []
    texts = [TEXTS[2], "A new chunk says something new."]
    again = SentenceIndex.build(texts, 3, fake_embed(asked), [first.of(2, TEXTS[2]), None])
    assert asked == [["A new chunk says something new."]]
    assert again.of(0, texts[0]).spans == first.of(2, TEXTS[2]).spans
    assert np.array_equal(again.of(0, texts[0]).vectors, first.of(2, TEXTS[2]).vectors)


def test_written_and_read_back_without_pickle(tmp_path: Path):
    index = SentenceIndex.build(TEXTS, 3, fake_embed([]))
    index.save(tmp_path / "sentences")
    loaded = SentenceIndex.load(tmp_path / "sentences", len(TEXTS), 3)
    for row, text in enumerate(TEXTS):
        assert loaded.of(row, text).spans == index.of(row, text).spans
        assert np.array_equal(loaded.of(row, text).vectors, index.of(row, text).vectors)
    with pytest.raises(IndexCorruptError, match="do not match"):
        SentenceIndex.load(tmp_path / "sentences", len(TEXTS) + 1, 3)
    (tmp_path / "sentences" / "spans.npy").write_bytes(b"not numpy")
    with pytest.raises(IndexCorruptError, match="cannot read"):
        SentenceIndex.load(tmp_path / "sentences", len(TEXTS), 3)
