"""Citations: map the answer's [n] markers to sources, drop the ones that point at nothing, and
check each against the claim it follows."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.rag.evidence import EvidenceScorer
from app.rag.retriever import Hit
from ingest.sentences import Span, is_claim, sentences

_MARKER = re.compile(r"\[(\s*\d+\s*(?:[,;]\s*\d+\s*)*)\]")


def resolve_citations(answer: str, sources: int) -> tuple[str, list[int]]:
    """The answer with only valid markers left, and the source numbers it cites, in order."""
    cited: list[int] = []

    def keep_valid(match: re.Match) -> str:
        numbers = [int(n) for n in re.split(r"[,;]", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= sources]
        for n in valid:
            if n not in cited:
                cited.append(n)
        return "[" + ", ".join(str(n) for n in valid) + "]" if valid else ""

    text = _MARKER.sub(keep_valid, answer)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)  # "claim [9]." → "claim."
    return re.sub(r"[ \t]{2,}", " ", text).strip(), cited


# Markers written after the full stop ("claim. [1]") belong to the sentence before them.
_TRAILING_MARKERS = re.compile(r"([.!?])((?:\s*\[\d+(?:,\s*\d+)*\])+)")


@dataclass(frozen=True)
class Quote:
    text: str
    start: int  # character offsets into the chunk's text
    end: int


@dataclass
class SourceCheck:
    """What the answer's citations of one source come to."""

    quote: Quote | None = None
    support: float = 0.0
    verified: bool | None = None  # None: not cited


@dataclass
class CitationCheck:
    answer: str  # with citations added where an uncited claim is supported by a source
    checks: dict[int, SourceCheck]  # by source number
    grounded: float  # share of the answer's claims supported by a source they cite
    claims: int


def check_citations(
    answer: str, hits: list[Hit], scorer: EvidenceScorer, threshold: float
) -> CitationCheck:
    """Quote, for each cited source, the sentence that best supports the claim citing it, and
    verify the citation: the support must reach `threshold`. A claim without a citation gets
    one when a source supports it; a claim citing only unsupported sources counts against
    `grounded`."""
    answer = _TRAILING_MARKERS.sub(lambda m: f" {' '.join(m.group(2).split())}{m.group(1)}", answer)
    claims = _distinct([s for s in sentences(answer) if is_claim(_MARKER.sub("", s.text))])
    checks: dict[int, SourceCheck] = {}
    if not claims or not hits:
        return CitationCheck(answer, checks, 0.0, len(claims))

    spans, vectors = scorer.sentences_of(hits)
    texts = [_MARKER.sub("", c.text).strip() for c in claims]
    support = scorer.support(texts, [span.text for _, span in spans], None, vectors)
    supported, additions = 0, []
    for i, claim in enumerate(claims):
        cited = _cited_numbers(claim.text, len(hits))
        best_of = {}
        for j, (n, span) in enumerate(spans):
            if support[i, j] > best_of.get(n, (-1.0, None))[0]:
                best_of[n] = (float(support[i, j]), span)
        if not cited:
            n = max(best_of, key=lambda m: best_of[m][0])
            if best_of[n][0] < threshold:
                continue
            cited = [n]
            additions.append((claim, n))
        claim_ok = False
        for n in cited:
            score, span = best_of.get(n, (0.0, None))
            check = checks.setdefault(n, SourceCheck())
            if span is not None and score > check.support:
                check.support = round(score, 4)
                check.quote = Quote(span.text, span.start, span.end)
            ok = score >= threshold
            check.verified = bool(check.verified) or ok
            claim_ok = claim_ok or ok
        supported += claim_ok

    for claim, n in reversed(additions):  # from the end, so earlier offsets stay valid
        answer = _with_marker(answer, claim, n)
    return CitationCheck(answer, checks, round(supported / len(claims), 4), len(claims))


def _distinct(claims: list[Span]) -> list[Span]:
    """Each claim once: an answer that says the same thing twice is not better grounded."""
    seen: set[str] = set()
    kept = []
    for claim in claims:
        key = " ".join(_MARKER.sub("", claim.text).lower().split()).rstrip(".!?")
        if key not in seen:
            seen.add(key)
            kept.append(claim)
    return kept


def _cited_numbers(text: str, sources: int) -> list[int]:
    found: list[int] = []
    for match in _MARKER.finditer(text):
        for n in (int(x) for x in re.split(r"[,;]", match.group(1))):
            if 1 <= n <= sources and n not in found:
                found.append(n)
    return found


def _with_marker(answer: str, claim: Span, n: int) -> str:
    """The answer with [n] placed at the end of the claim, before its full stop."""
    end = claim.end
    if answer[end - 1] in ".!?":
        end -= 1
    return f"{answer[:end]} [{n}]{answer[end:]}"
