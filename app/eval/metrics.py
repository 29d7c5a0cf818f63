"""The metrics, as the datasets' own evaluation scripts define them.

Retrieval (BEIR, as in pytrec_eval): nDCG@k with graded relevance and the linear gain
(rel / log2(rank + 1)), Recall@k as the share of relevant documents found, MRR@k as the
reciprocal rank of the first relevant one. Answers (SQuAD's official script): exact match and
token F1 after lower-casing and removing punctuation, articles and extra whitespace, each the
best over the gold answers.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter


def ndcg_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    gains = [relevant.get(doc, 0) for doc in ranked[:k]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    wanted = {doc for doc, g in relevant.items() if g > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def mrr_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    for rank, doc in enumerate(ranked[:k], 1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def hit_at_k(ranked: list[str], gold: str, k: int) -> float:
    return 1.0 if gold in ranked[:k] else 0.0


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: list[str]) -> float:
    predicted = normalize_answer(prediction)
    return max((float(predicted == normalize_answer(g)) for g in golds), default=0.0)


def f1_score(prediction: str, golds: list[str]) -> float:
    return max((_f1(prediction, g) for g in golds), default=0.0)


def _f1(prediction: str, gold: str) -> float:
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def contains_answer(text: str, golds: list[str]) -> bool:
    """Whether the text holds one of the gold answers (both normalized)."""
    haystack = f" {normalize_answer(text)} "
    return any(f" {normalize_answer(g)} " in haystack for g in golds if normalize_answer(g))


def wtq_values(field: str) -> list[str]:
    """A WikiTableQuestions answer field as its values: `|` separates them, and `\\n`,
    `\\p` and `\\\\` stand for a line break, `|` and a backslash."""
    values, current, escaped = [], "", False
    for ch in field:
        if escaped:
            current += {"n": "\n", "p": "|", "\\": "\\"}.get(ch, "\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            values.append(current)
            current = ""
        else:
            current += ch
    values.append(current + ("\\" if escaped else ""))
    return values


def denotation_match(predicted: list[str], target: list[str]) -> bool:
    """WikiTableQuestions' scoring: the same set of values, numbers compared as numbers
    (2 equals 2.0, 12,467 equals 12467) and strings after normalization (Unicode form, case,
    surrounding white space and punctuation)."""
    return {_denotation(v) for v in predicted} == {_denotation(v) for v in target}


def _denotation(value: str) -> str | float:
    text = unicodedata.normalize("NFKC", value).strip().lower()
    text = text.strip(string.punctuation.replace("-", "").replace("%", "") + " ")
    number = text.replace(",", "")
    try:
        return float(number)
    except ValueError:
        return " ".join(text.split())
