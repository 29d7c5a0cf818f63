"""Every chunk's sentences with their vectors, stored in the index version at ingest.

Answering weighs each retrieved chunk's sentences against the question and the answer's
claims (app/rag/evidence.py). Embedding those sentences is most of a request's work; stored
here once per version, a request only looks them up.

    sentences/
      offsets.npy   int64, chunks + 1: chunk i's sentences are rows offsets[i]:offsets[i + 1]
      spans.npy     int32, (sentences, 2): start and end of each sentence in its chunk's text
      vectors.npy   float16, (sentences, dimension): unit vectors, memory-mapped when read

Plain numpy arrays, written and read with pickling disabled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.errors import IndexCorruptError
from ingest.sentences import Span, sentences

_FILES = ("offsets.npy", "spans.npy", "vectors.npy")


@dataclass(frozen=True)
class ChunkSentences:
    """One chunk's sentences and their unit vectors (float32), row i for sentence i."""

    spans: list[Span]
    vectors: np.ndarray


class SentenceIndex:
    def __init__(self, offsets: np.ndarray, spans: np.ndarray, vectors: np.ndarray):
        self.offsets = offsets
        self.spans = spans
        self.vectors = vectors

    @property
    def count(self) -> int:
        return len(self.spans)

    @classmethod
    def build(
        cls,
        texts: list[str],
        dimension: int,
        embed: Callable[[list[str]], np.ndarray],
        reused: list[ChunkSentences | None] | None = None,
    ) -> SentenceIndex:
        """The sentences of each chunk text (see `embed_sentences`), as one index."""
        return cls.gather(embed_sentences(texts, dimension, embed, reused), dimension)

    @classmethod
    def gather(cls, per_chunk: list[ChunkSentences], dimension: int) -> SentenceIndex:
        """One index of the chunks' sentences, chunk i's at row i."""
        offsets = np.zeros(len(per_chunk) + 1, dtype=np.int64)
        spans: list[np.ndarray] = []
        vectors: list[np.ndarray] = []
        for i, entry in enumerate(per_chunk):
            bounds = np.array([(s.start, s.end) for s in entry.spans], dtype=np.int32)
            spans.append(bounds.reshape(-1, 2))
            vectors.append(np.asarray(entry.vectors, dtype=np.float16).reshape(-1, dimension))
            offsets[i + 1] = offsets[i] + len(bounds)
        return cls(
            offsets,
            np.concatenate(spans) if spans else np.zeros((0, 2), dtype=np.int32),
            np.concatenate(vectors) if vectors else np.zeros((0, dimension), dtype=np.float16),
        )

    def of(self, row: int, text: str) -> ChunkSentences:
        """The sentences of the chunk in `row`, whose text is `text`."""
        begin, end = int(self.offsets[row]), int(self.offsets[row + 1])
        spans = [Span(int(a), int(b), text[a:b]) for a, b in self.spans[begin:end].tolist()]
        return ChunkSentences(spans, np.asarray(self.vectors[begin:end], dtype=np.float32))

    def save(self, directory: Path) -> None:
        directory.mkdir()
        for name, array in zip(_FILES, (self.offsets, self.spans, self.vectors), strict=True):
            np.save(directory / name, array, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, chunks: int, dimension: int) -> SentenceIndex:
        where = f"the sentence vectors of {directory.parent.name}"
        try:
            offsets = np.load(directory / "offsets.npy", allow_pickle=False)
            spans = np.load(directory / "spans.npy", allow_pickle=False)
            vectors = np.load(directory / "vectors.npy", allow_pickle=False, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"cannot read {where}: {exc}") from exc
        if (
            offsets.shape != (chunks + 1,)
            or int(offsets[-1]) != len(spans)
            or spans.shape[1:] != (2,)
            or vectors.shape != (len(spans), dimension)
        ):
            raise IndexCorruptError(f"{where} do not match the index's chunks")
        return cls(offsets, spans, vectors)


def embed_sentences(
    texts: list[str],
    dimension: int,
    embed: Callable[[list[str]], np.ndarray],
    reused: list[ChunkSentences | None] | None = None,
) -> list[ChunkSentences]:
    """The sentences of each chunk text with their vectors; a chunk with an entry in `reused`
    (an unchanged chunk of the previous version) keeps it, the others' sentences are embedded,
    each distinct sentence once."""
    reused = reused or [None] * len(texts)
    cuts: list[list[Span] | None] = []
    wanted: dict[str, int] = {}
    for text, old in zip(texts, reused, strict=True):
        if old is not None:
            cuts.append(None)
            continue
        cut = sentences(text)
        for span in cut:
            wanted.setdefault(span.text, len(wanted))
        cuts.append(cut)
    fresh = embed(list(wanted)) if wanted else np.zeros((0, dimension), dtype=np.float32)
    return [
        old
        if cut is None
        else ChunkSentences(
            cut,
            np.asarray(fresh[[wanted[s.text] for s in cut]], dtype=np.float32).reshape(
                -1, dimension
            ),
        )
        for cut, old in zip(cuts, reused, strict=True)
    ]
