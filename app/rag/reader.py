"""Short answers: the LLM reads only the few sentences that best answer the question and replies
with a phrase, which is then found in those sentences before it is shown.

A question with a short answer ("Who…", "When…", "How many…", "What is…") is answered as:

    Python 3.11 or newer [1]

    "Sourced needs Python 3.11 or newer, about 2 GB of disk…" [1]

The phrase comes first, then the verbatim sentence it was found in, cited. A phrase that none
of the sentences contains (its words, its numbers) is not shown as an answer: the caller
returns the sentences themselves instead, saying why. A reply that the text does not answer
the question is the model's verdict that the documents are silent.

Reading one passage rather than every retrieved chunk keeps the prompt near 300 tokens, so a
short answer costs about a second on a laptop CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.llm.base import Message
from app.rag.evidence import Scored
from app.rag.retriever import Hit
from ingest.lexical import terms
from ingest.sentences import Span, sentences

READER_PROMPT = (
    "You answer questions using only the given text. Reply with the shortest phrase from the "
    "text that answers the question, copied exactly, and nothing else. If the text does not "
    "answer the question, reply: NOT FOUND"
)
NOT_FOUND_REPLY = re.compile(
    r"^\W*(not found|none|unknown|n/?a)\W*$|\bnot (found|mentioned|stated)"
    r"|\b(does|do) not (say|mention|contain|answer|provide)",
    re.I,
)

# Questions that want an explanation, steps or a comparison get a longer generated answer.
_EXPLAIN = re.compile(
    r"^\s*(how (do|does|did|can|could|should|would|to)\b|why\b|explain|describe|list|compare|"
    r"summari[sz]e|tell me|what are the (steps|differences|ways|reasons|advantages)|"
    r"what (happens|should))|\b(step by step|difference between|pros and cons)\b",
    re.IGNORECASE,
)
_ASKS_FOR_FACT = re.compile(
    r"\b(who|whom|whose|when|where|which|what|how (many|much|long|old|far|big|large|often|"
    r"fast|tall|high|wide))\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_QUOTES = "\"'“”‘’`"


def wants_short_answer(question: str) -> bool:
    """Whether a question asks for a fact (a name, date, number, thing) rather than an
    explanation."""
    return not _EXPLAIN.search(question) and bool(_ASKS_FOR_FACT.search(question))


@dataclass(frozen=True)
class Passage:
    """A source (or a piece of one) that the reader is given."""

    hit_number: int
    span: Span  # offsets into the chunk's text


@dataclass(frozen=True)
class ShortAnswer:
    text: str  # the phrase, as the source writes it where it was found there
    hit_number: int
    quote: Span  # the sentence of the chunk that contains it


def passages(best: list[Scored], hits: list[Hit], chunks: int) -> list[Passage]:
    """The reader's text: the whole chunks that hold the best sentences, best first. (Measured
    on SQuAD: the best sentence's chunk holds the answer more often than the top-ranked chunk,
    88% vs 83%, and a second chunk confuses a small model more than it helps.)"""
    numbers = list(dict.fromkeys(scored.hit_number for scored in best))[:chunks]
    return [
        Passage(n, Span(0, len(hits[n - 1].chunk.text), hits[n - 1].chunk.text)) for n in numbers
    ]


def reader_messages(question: str, given: list[Passage]) -> list[Message]:
    # Spaces are tidied; line breaks stay (they part a record's fields and a table's rows).
    text = "\n\n".join(
        "\n".join(" ".join(line.split()) for line in p.span.text.splitlines() if line.strip())
        for p in given
    )
    return [
        {"role": "system", "content": READER_PROMPT},
        {"role": "user", "content": f"Text:\n{text}\n\nQuestion: {question}"},
    ]


def says_not_found(reply: str) -> bool:
    return bool(NOT_FOUND_REPLY.search(reply.strip()))


def clean(reply: str) -> str:
    """The phrase of a reply: its first line, without citation marks, quotes or a full stop."""
    line = next((ln for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"\[\d+(?:,\s*\d+)*\]", "", line)
    line = re.sub(r"^(answer|the answer is)\s*:?\s*", "", line.strip(), flags=re.IGNORECASE)
    return line.strip().strip(_QUOTES).rstrip(".").strip().strip(_QUOTES).strip()


def locate(reply: str, given: list[Passage], hits: list[Hit]) -> ShortAnswer | None:
    """The phrase found in one of the given passages, verbatim (ignoring case, spacing and how
    a number is written) or by all of its words and numbers, with the sentence of the chunk
    that holds it; None when no passage holds it."""
    phrase = clean(reply)
    if not phrase:
        return None
    wanted = _loose(phrase)
    for passage in given:
        text = hits[passage.hit_number - 1].chunk.text
        found = _find_loose(text, wanted, passage.span.start, passage.span.end)
        if found is not None:
            start, end = found
            quote = _sentence_at(text, start, end) or passage.span
            return ShortAnswer(" ".join(text[start:end].split()), passage.hit_number, quote)
    phrase_terms, numbers = set(terms(phrase)), _numbers(phrase)
    if not phrase_terms and not numbers:
        return None
    for passage in given:
        text = hits[passage.hit_number - 1].chunk.text
        for span in sentences(text[: passage.span.end]):
            if span.start < passage.span.start:
                continue
            if phrase_terms <= set(terms(span.text)) and numbers <= _numbers(span.text):
                return ShortAnswer(phrase, passage.hit_number, span)
    return None


def _sentence_at(text: str, start: int, end: int) -> Span | None:
    """The sentence that holds text[start:end]; for a phrase across sentences, all of them."""
    inside = [s for s in sentences(text) if s.end > start and s.start < end]
    if not inside:
        return None
    return Span(inside[0].start, inside[-1].end, text[inside[0].start : inside[-1].end])


_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()  # noqa: SIM905
    )
}


def _word_form(word: str) -> str:
    """How a word is compared: lower case, number words as digits ("Six" = "6")."""
    word = word.lower()
    return _NUMBER_WORDS.get(word, word.replace(",", ""))


def _numbers(text: str) -> set[str]:
    found = {n.replace(",", "") for n in _NUMBER.findall(text)}
    return found | {_NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower())
                    if w in _NUMBER_WORDS}  # fmt: skip


def _loose(text: str) -> list[str]:
    return [_word_form(w) for w in _WORDS.findall(text)]


_WORDS = re.compile(r"[\w%$€£]+(?:,\d{3})*")


def _find_loose(text: str, wanted: list[str], start: int, end: int) -> tuple[int, int] | None:
    """Where the words `wanted` occur in text[start:end], in a row, as offsets into `text`."""
    if not wanted:
        return None
    words = [(m.start(), m.end(), _word_form(m.group())) for m in _WORDS.finditer(text, start, end)]
    for i in range(len(words) - len(wanted) + 1):
        if all(words[i + j][2] == wanted[j] for j in range(len(wanted))):
            return words[i][0], words[i + len(wanted) - 1][1]
    return None
