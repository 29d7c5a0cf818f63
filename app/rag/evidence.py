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

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from app.rag.retriever import Hit
from ingest.embedder import Embedder
from ingest.lexical import terms
from ingest.sentences import Span, is_question, is_statement, sentences

# The share of a source's own question's score that the answer after it inherits.
INHERITED = 0.98


@dataclass(frozen=True)
class Scored:
    hit_number: int  # the source's number, from 1
    span: Span
    score: float


@lru_cache(maxsize=50_000)
def term_set(text: str) -> frozenset[str]:
    """A text's distinct terms; kept, since the same source sentences are weighed again and
    again."""
    return frozenset(terms(text))


def term_recall(claim: str, sentence: str) -> float:
    """Share of the claim's distinct terms that the sentence contains."""
    wanted = term_set(claim)
    if not wanted:
        return 0.0
    return len(wanted & term_set(sentence)) / len(wanted)


class EvidenceScorer:
    def __init__(self, embedder: Embedder, cache_size: int = 20_000):
        self.embedder = embedder
        # Source sentences come back again and again (the same chunks answer many questions):
        # their vectors are kept, the oldest dropped first.
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def support(
        self,
        claims: list[str],
        candidates: list[str],
        claim_vectors: np.ndarray | None = None,
        candidate_vectors: np.ndarray | None = None,
    ) -> np.ndarray:
        """support[i, j]: how well candidate j supports claim i, in [0, 1]."""
        if not claims or not candidates:
            return np.zeros((len(claims), len(candidates)), dtype=np.float32)
        if claim_vectors is None:
            claim_vectors = self.embedder.embed(claims)
        if candidate_vectors is None:
            candidate_vectors = self._sentence_vectors(candidates)
        cosine = np.clip(claim_vectors @ candidate_vectors.T, 0.0, 1.0)
        lexical = np.array(
            [[term_recall(c, s) for s in candidates] for c in claims], dtype=np.float32
        )
        return (cosine + lexical) / 2

    def sentences_of(self, hits: list[Hit]) -> tuple[list[tuple[int, Span]], np.ndarray]:
        """Every sentence of the hits, as (source number from 1, span), with its vector: the
        one stored at ingest, or for an index without them, embedded now (and kept)."""
        found: list[tuple[int, Span]] = []
        vectors: list[np.ndarray] = []
        for n, hit in enumerate(hits, 1):
            if hit.sentences is not None:
                spans, chunk_vectors = hit.sentences.spans, hit.sentences.vectors
            else:
                spans = sentences(hit.chunk.text)
                chunk_vectors = self._sentence_vectors([s.text for s in spans])
            found.extend((n, span) for span in spans)
            vectors.append(chunk_vectors)
        dimension = self.embedder.dimension
        return found, np.concatenate(vectors) if found else np.zeros((0, dimension), np.float32)

    def _sentence_vectors(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
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
        """The sentences of the hits that best answer the question, best first. A source's
        own question (a FAQ entry's) counts as evidence that it covers the question, but is
        never quoted as an answer (`is_statement`)."""
        every, vectors = self.sentences_of(hits)
        keep = [i for i, (_, s) in enumerate(every) if is_statement(s.text) or is_question(s.text)]
        if not keep:
            return []
        found = [every[i] for i in keep]
        question_vector = self.embedder.embed_query(question)[None, :]  # kept from retrieval
        candidates = [span.text for _, span in found]
        scores = self.support([question], candidates, question_vector, vectors[keep])[0]
        # A source's answer to its own question (a FAQ entry) answers what that question asks:
        # the statements after a question, up to the next one, score at least nearly as high.
        asked = None
        for i, (n, span) in enumerate(found):
            if is_question(span.text):
                asked = (n, scores[i])
            elif asked and asked[0] == n:
                scores[i] = max(scores[i], INHERITED * asked[1])
            else:
                asked = None
        order = np.argsort(-scores, kind="stable")[:limit]
        return [Scored(found[i][0], found[i][1], float(scores[i])) for i in order]
