"""Evidence: which sentences of the sources support a claim or answer a question.

Support between two texts mixes two signals, each in [0, 1]: the share of the claim's terms
(BM25 terms: stemmed, stop words removed) found in the sentence, and the cosine similarity of
their embeddings. Words catch exact names and numbers; embeddings catch paraphrase. The mix is
their mean, so a sentence needs both some shared words and a shared meaning to score high.

The same scoring serves three purposes: quoting the sentence of a cited source that supports a
claim (and marking the citation unverified when none does), answering extractively (the
sentences that best answer the question, verbatim), and deciding whether the sources answer
the question at all.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from app.rag.retriever import Hit
from ingest.embedder import Embedder
from ingest.lexical import terms

# A sentence ends at . ! ? before a space and a capital, digit or quote; at a blank line; or at
# a line break, unless the next line starts in lower case (a wrapped line of a PDF page).
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n\s*|\n(?![ \t]*[a-z])")
# "Dr. Smith", "e.g. this", "Fig. 3": a full stop after these does not end the sentence.
_ABBREVIATION = re.compile(
    r"\b(Dr|Mr|Mrs|Ms|Prof|St|Sr|Jr|vs|etc|e\.g|i\.e|cf|Fig|Figs|No|Vol|al|approx|Inc|Ltd|Co)\.$",
    re.IGNORECASE,
)
# Pieces of fewer words (headings, labels, numbers) are not claims or quotes.
_MIN_WORDS = 3
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Span:
    """A sentence of a text, by character offsets into it."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Scored:
    hit_number: int  # the source's number, from 1
    span: Span
    score: float


def sentences(text: str) -> list[Span]:
    """The sentences of a text with their offsets; whitespace around them is left out."""
    spans, start = [], 0
    for boundary in [*_BOUNDARY.finditer(text), None]:
        end = boundary.start() if boundary else len(text)
        if boundary is not None and text[boundary.start()] in "\"')]":
            end += 1  # a closing quote or bracket belongs to the sentence it ends
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            spans.append(Span(start + lead, start + lead + len(stripped), stripped))
        start = boundary.end() if boundary else len(text)
    merged: list[Span] = []
    for span in spans:
        previous = merged[-1] if merged else None
        if previous and _ABBREVIATION.search(previous.text) and text[previous.end] != "\n":
            merged[-1] = Span(previous.start, span.end, text[previous.start : span.end])
        else:
            merged.append(span)
    return merged


def is_claim(text: str) -> bool:
    return len(_WORD.findall(text)) >= _MIN_WORDS


def is_statement(text: str) -> bool:
    """A sentence that can stand as an answer: a heading ("1. What Sourced is") cannot."""
    words = len(_WORD.findall(text))
    return words >= 8 or (words >= 4 and text.rstrip()[-1:] in ".!?")


def term_recall(claim: str, sentence: str) -> float:
    """Share of the claim's distinct terms that the sentence contains."""
    wanted = set(terms(claim))
    if not wanted:
        return 0.0
    return len(wanted & set(terms(sentence))) / len(wanted)


class EvidenceScorer:
    def __init__(self, embedder: Embedder, cache_size: int = 20_000):
        self.embedder = embedder
        # Source sentences come back again and again (the same chunks answer many questions):
        # their vectors are kept, the oldest dropped first.
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def support(
        self, claims: list[str], candidates: list[str], claim_vectors: np.ndarray | None = None
    ) -> np.ndarray:
        """support[i, j]: how well candidate j supports claim i, in [0, 1]."""
        if not claims or not candidates:
            return np.zeros((len(claims), len(candidates)), dtype=np.float32)
        if claim_vectors is None:
            claim_vectors = self.embedder.embed(claims)
        cosine = np.clip(claim_vectors @ self._sentence_vectors(candidates).T, 0.0, 1.0)
        lexical = np.array(
            [[term_recall(c, s) for s in candidates] for c in claims], dtype=np.float32
        )
        return (cosine + lexical) / 2

    def _sentence_vectors(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            fresh = self.embedder.embed(missing)
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    self._cache[text] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        with self._lock:
            found = {t: self._cache.get(t) for t in texts}
        # A vector evicted by another thread in between is simply computed again.
        gone = [t for t, v in found.items() if v is None]
        if gone:
            found.update(zip(gone, self.embedder.embed(gone), strict=True))
        return np.stack([found[t] for t in texts])

    def best_sentences(self, question: str, hits: list[Hit], limit: int) -> list[Scored]:
        """The sentences of the hits that best answer the question, best first."""
        found = [
            (n, span)
            for n, hit in enumerate(hits, 1)
            for span in sentences(hit.chunk.text)
            if is_statement(span.text)
        ]
        if not found:
            return []
        question_vector = self.embedder.embed_query(question)[None, :]  # kept from retrieval
        scores = self.support([question], [span.text for _, span in found], question_vector)[0]
        order = np.argsort(-scores, kind="stable")[:limit]
        return [Scored(found[i][0], found[i][1], float(scores[i])) for i in order]
