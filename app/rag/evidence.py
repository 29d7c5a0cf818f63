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

# A sentence ends at . ! ? before a space and a capital, digit or quote, or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n\s*")
# A single line break ends a sentence only where the next line starts a record's field
# ("answer: …", "faq.topic: …") or a list item, or the line before reads as a heading or ends
# a clause. Anywhere else it is a wrapped line of a PDF page, and the sentence goes on.
_LINE_BREAK = re.compile(r"[ \t]*\n[ \t]*")
_FIELD = re.compile(r"[A-Za-z_][\w.\[\]-]*: ")
_ITEM = re.compile(r"(?:[-*•]|\d+[.)])\s")
_CLAUSE_END = ".!?:;"
_HEADING_CHARS = 60
# "Dr. Smith", "e.g. this", "Fig. 3": a full stop after these does not end the sentence.
_ABBREVIATION = re.compile(
    r"\b(Dr|Mr|Mrs|Ms|Prof|St|Sr|Jr|vs|etc|e\.g|i\.e|cf|Fig|Figs|No|Vol|al|approx|Inc|Ltd|Co)\.$",
    re.IGNORECASE,
)
# Pieces of fewer words (headings, labels, numbers) are not claims or quotes.
_MIN_WORDS = 3
# The share of a source's own question's score that the answer after it inherits.
INHERITED = 0.98
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
    """The sentences of a text with their offsets; whitespace around them is left out. A
    record's field (`answer: Files over 100 MB are skipped.`) is quoted as its value."""
    spans: list[Span] = []
    for start, end in _lines(text):
        start = _value_start(text, start, end)
        for boundary in [*_SENTENCE_END.finditer(text, start, end), None]:
            stop = boundary.start() if boundary else end
            if boundary is not None and text[boundary.start()] in "\"')]":
                stop += 1  # a closing quote or bracket belongs to the sentence it ends
            piece = text[start:stop]
            stripped = piece.strip()
            if stripped:
                lead = len(piece) - len(piece.lstrip())
                spans.append(Span(start + lead, start + lead + len(stripped), stripped))
            start = boundary.end() if boundary else end
    merged: list[Span] = []
    for span in spans:
        previous = merged[-1] if merged else None
        if (
            previous
            and _ABBREVIATION.search(previous.text)
            and "\n" not in text[previous.end : span.start]
        ):
            merged[-1] = Span(previous.start, span.end, text[previous.start : span.end])
        else:
            merged.append(span)
    return merged


def _lines(text: str) -> list[tuple[int, int]]:
    """The text cut at the line breaks that end a sentence, as (start, end) offsets."""
    pieces, start = [], 0
    for match in _LINE_BREAK.finditer(text):
        before = text[text.rfind("\n", 0, match.start()) + 1 : match.start()].strip()
        after = text[match.end() : match.end() + 40]
        heading = (
            0 < len(before) <= _HEADING_CHARS
            and before[-1] not in ",(-–"
            and (after[:1].isupper() or after[:1].isdigit())
        )
        if (
            not before
            or not after
            or before[-1] in _CLAUSE_END
            or _FIELD.match(after)
            or _ITEM.match(after)
            or heading
        ):
            pieces.append((start, match.start()))
            start = match.end()
    pieces.append((start, len(text)))
    return [(a, b) for a, b in pieces if b > a]


def _value_start(text: str, start: int, end: int) -> int:
    """Where the value of a one-field line starts, when that value can stand as a quote."""
    field = _FIELD.match(text, start)
    if field is None or _FIELD.search(text, field.end(), end):
        return start
    value = text[field.end() : end]
    return field.end() if is_statement(value) else start


def is_claim(text: str) -> bool:
    return len(_WORD.findall(text)) >= _MIN_WORDS


def is_statement(text: str) -> bool:
    """A sentence that can stand as an answer: a heading ("1. What Sourced is") cannot."""
    words = len(_WORD.findall(text))
    if is_question(text):  # a FAQ's own question answers nothing
        return False
    return words >= 8 or (words >= 4 and text.rstrip()[-1:] in ".!")


def is_question(text: str) -> bool:
    return text.rstrip().endswith("?") and len(_WORD.findall(text)) >= 3


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
        """The sentences of the hits that best answer the question, best first. A source's
        own question (a FAQ entry's) counts as evidence that it covers the question, but is
        never quoted as an answer (`is_statement`)."""
        found = [
            (n, span)
            for n, hit in enumerate(hits, 1)
            for span in sentences(hit.chunk.text)
            if is_statement(span.text) or is_question(span.text)
        ]
        if not found:
            return []
        question_vector = self.embedder.embed_query(question)[None, :]  # kept from retrieval
        scores = self.support([question], [span.text for _, span in found], question_vector)[0]
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
