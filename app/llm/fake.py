"""A deterministic LLM for tests and evaluation: it answers with the one sentence of the numbered
sources that shares the most words with the question, verbatim, and cites it. Every part of the
pipeline around the model can be checked with it, and on a dataset it is an upper bound of
what copying the best quote can score. Asked for a query over a table, it counts the table's
rows, so a computed answer can be followed through every interface."""

from __future__ import annotations

import re
from collections.abc import Iterator

from app.llm.base import LLM, Completion, GenerationParams, Message
from ingest.lexical import terms

_BLOCK = re.compile(r"^\[(\d+)\] \(.*?\)\n(.+?)(?=\n\n\[\d+\] \(|\n<<<|\Z)", re.M | re.S)
_QUESTION = re.compile(r"\nQuestion: (.*)\Z", re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TABLE = re.compile(r"^Table (\S+) \(", re.M)


class FakeLLM(LLM):
    name = "fake"
    capable = False

    def __init__(self) -> None:
        self.calls: list[list[Message]] = []

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        self.calls.append(messages)
        prompt = messages[-1]["content"]
        table = _TABLE.search(prompt)
        if "SQL SELECT" in messages[0]["content"] and table:
            text = f"```sql\nSELECT count(*) FROM {table.group(1)}\n```"
            return Completion(text, self.name, self.count_tokens(prompt), len(text.split()))
        question = _QUESTION.search(prompt)
        wanted = set(terms(question.group(1))) if question else set()
        best: tuple[int, str, str] | None = None
        for block in _BLOCK.finditer(prompt):
            for sentence in _sentences(block.group(2)):
                overlap = len(wanted & set(terms(sentence)))
                if best is None or overlap > best[0]:
                    best = (overlap, sentence, block.group(1))
        if best is None:
            text = "The documents do not contain the answer."
        else:
            text = f"{best[1].rstrip('.!?')} [{best[2]}]."
        words = text.split()[: params.max_tokens]
        return Completion(" ".join(words), self.name, self.count_tokens(prompt), len(words))

    def stream(
        self, messages: list[Message], params: GenerationParams
    ) -> Iterator[str | Completion]:
        completion = self.complete(messages, params)
        for index, word in enumerate(completion.text.split(" ")):
            yield word if index == 0 else f" {word}"
        yield completion


def _sentences(text: str) -> list[str]:
    """Sentences of at least four words (headings and numbers are passed over)."""
    found = [s for s in _SENTENCE_END.split(" ".join(text.split())) if len(s.split()) >= 4]
    return found or [" ".join(text.split())]
