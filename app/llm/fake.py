"""A deterministic LLM for tests and benchmarks: it answers with the first sentence of the first
numbered source and cites it, so every part of the pipeline around the model can be checked."""

from __future__ import annotations

import re
from collections.abc import Iterator

from app.llm.base import LLM, Completion, GenerationParams, Message

_BLOCK = re.compile(r"^\[(\d+)\] .*?\n(.+?)(?:\n|$)", re.MULTILINE)


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
            sentence = match.group(2).split(". ")[0].strip().rstrip(".")
            text = f"{sentence} [{match.group(1)}]."
        words = text.split()[: params.max_tokens]
        text = " ".join(words)
        return Completion(text, self.name, self.count_tokens(prompt), len(words))

    def stream(
        self, messages: list[Message], params: GenerationParams
    ) -> Iterator[str | Completion]:
        completion = self.complete(messages, params)
        for index, word in enumerate(completion.text.split(" ")):
            yield word if index == 0 else f" {word}"
        yield completion
