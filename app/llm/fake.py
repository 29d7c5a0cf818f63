"""A deterministic LLM for tests and benchmarks: it answers with the first full sentence of the
first numbered source and cites it, so every part of the pipeline around the model can be
checked."""

from __future__ import annotations

import re
from collections.abc import Iterator

from app.llm.base import LLM, Completion, GenerationParams, Message

_BLOCK = re.compile(r"^\[(\d+)\] \(.*?\)\n(.+?)(?:\n\n|\n<<<|\Z)", re.MULTILINE | re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class FakeLLM(LLM):
    name = "fake"

    def __init__(self) -> None:
        self.calls: list[list[Message]] = []

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        self.calls.append(messages)
        prompt = messages[-1]["content"]
        match = _BLOCK.search(prompt)
        if match is None:
            text = "The documents do not contain the answer."
        else:
            text = f"{_first_sentence(match.group(2))} [{match.group(1)}]."
        words = text.split()[: params.max_tokens]
        return Completion(" ".join(words), self.name, self.count_tokens(prompt), len(words))

    def stream(
        self, messages: list[Message], params: GenerationParams
    ) -> Iterator[str | Completion]:
        completion = self.complete(messages, params)
        for index, word in enumerate(completion.text.split(" ")):
            yield word if index == 0 else f" {word}"
        yield completion


def _first_sentence(text: str) -> str:
    """The first sentence of at least four words (headings and numbers are passed over)."""
    sentences = _SENTENCE_END.split(" ".join(text.split()))
    chosen = next((s for s in sentences if len(s.split()) >= 4), sentences[0])
    return chosen.rstrip(".!?")
