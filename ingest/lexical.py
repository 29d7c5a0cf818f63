"""The BM25 side of an index: how text becomes search terms, and the term index itself.

Ingest builds the BM25 index over the chunk texts once per index version and stores it beside
the vectors (`bm25/`: numpy arrays and JSON, no pickles); questions are tokenized the same way
and scored against it. Terms are lower-cased words and numbers, English stop words removed, and
stemmed (Snowball), so "indexing" finds "indexes"; codes like "ERR-4012" split into their parts,
which both stay searchable.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np

# Lucene's BM25 variant. k1 and b, and the weight of a chunk's document, were chosen on BEIR
# SciFact through the real chunker (see the README's retrieval figures).
BM25_METHOD = "lucene"
BM25_K1 = 1.2
BM25_B = 0.75
DOCUMENT_WEIGHT = 1.0
LEXICAL_VERSION = "bm25-chunks+documents-1"  # a change makes readers rebuild it in memory

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Lucene's English stop words plus a few question words that carry no topic.
_STOP_WORDS = (
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with what which who whom whose when where why how does do "
    "did can could would should i you he she we me my your our its from has have had been"
)
STOP_WORDS = frozenset(_STOP_WORDS.split())


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """The BM25 terms of a text, in order (repeats kept: they count)."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
    return _stemmer().stemWords(words) if words else []


class LexicalIndex:
    """BM25 over an index version's chunks (document i is chunk row i), plus BM25 over whole
    documents: a chunk's score is its own plus DOCUMENT_WEIGHT times its document's, so a
    passage inherits relevance from the document around it (its title, its topic)."""

    def __init__(self, chunks: bm25s.BM25 | None, documents: bm25s.BM25 | None, owner: np.ndarray):
        self._chunks = chunks
        self._documents = documents
        self._owner = owner  # chunk row → position of its document in `documents`
        self.size = len(owner)

    @classmethod
    def build(cls, texts: list[str], documents: list[str]) -> LexicalIndex:
        """`documents[i]` names the document of chunk i; chunks of a document are in order."""
        if not texts:
            return cls(None, None, np.zeros(0, dtype=np.int32))
        position: dict[str, int] = {}
        owner = np.array([position.setdefault(d, len(position)) for d in documents], np.int32)
        whole: list[list[str]] = [[] for _ in position]
        chunk_terms = []
        for text, doc in zip(texts, owner, strict=True):
            found = terms(text)
            chunk_terms.append(found)
            whole[doc].extend(found)
        return cls(_bm25(chunk_terms), _bm25(whole), owner)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "owner.npy", self._owner, allow_pickle=False)
        if self.size:
            self._chunks.save(str(directory / "chunks"), show_progress=False)
            self._documents.save(str(directory / "documents"), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        owner = np.load(directory / "owner.npy", allow_pickle=False)
        if len(owner) == 0:
            return cls(None, None, owner)
        return cls(_load(directory / "chunks"), _load(directory / "documents"), owner)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every chunk for the query (0 where no term matches)."""
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        wanted = terms(query)
        scores = _scores(self._chunks, wanted)
        if not scores.any():
            return scores  # a chunk sharing no term with the query stays at zero
        matched = scores > 0
        scores += DOCUMENT_WEIGHT * _scores(self._documents, wanted)[self._owner] * matched
        return scores


def _bm25(corpus: list[list[str]]) -> bm25s.BM25:
    model = bm25s.BM25(method=BM25_METHOD, k1=BM25_K1, b=BM25_B)
    model.index(corpus, show_progress=False)
    return model


def _load(directory: Path) -> bm25s.BM25:
    return bm25s.BM25.load(str(directory), allow_pickle=False, show_progress=False)


def _scores(model: bm25s.BM25, wanted: list[str]) -> np.ndarray:
    ids = model.get_tokens_ids(wanted)
    if not ids:
        return np.zeros(model.scores["num_docs"], dtype=np.float32)
    return np.asarray(model.get_scores_from_ids(ids), dtype=np.float32)
