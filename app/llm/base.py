"""The one interface every LLM backend implements: turn chat messages into a completion."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.0  # 0: greedy, the best default for grounded answers
    top_p: float = 1.0
    top_k: int | None = None
    max_tokens: int = 200
    stop: list[str] = field(default_factory=list)
    # With temperature > 0: the same seed samples the same text (where the backend allows).
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"
    # The log-probability of each written token, where the backend gives it (local): how
    # sure the model was of its reply.
    token_logprobs: tuple[float, ...] | None = None


# Models this large follow instructions well enough to be trusted with rewriting follow-ups and
# with saying the sources are silent: measured on SQuAD, Qwen2.5-0.5B (494M parameters) does,
# SmolLM2-135M does not.
CAPABLE_PARAMETERS = 400_000_000

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "…"}


class LLM(ABC):
    """A backend implements `complete`; counting tokens may be approximate for remote models."""

    name: str = "llm"
    # Tokens the model can attend to, when known; the prompt budget never exceeds it.
    context_window: int | None = None
    # Whether the model follows instructions well enough to rewrite follow-up questions and to
    # be believed when it says the documents are silent. Tiny local models do not
    # (CAPABLE_PARAMETERS).
    capable: bool = True

    @property
    def model(self) -> str:
        return self.name

    def load(self) -> None:  # noqa: B027 - most backends have nothing to load
        """Make the model ready (download nothing: load weights, open connections)."""

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # a fair estimate for English with BPE vocabularies

    @abstractmethod
    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        """Blocking; the service runs it off the event loop."""

    def stream(
        self, messages: list[Message], params: GenerationParams
    ) -> Iterator[str | Completion]:
        """Text pieces as they are written, then the whole Completion as the last item.

        Backends that cannot stream inherit this: the whole answer as one piece."""
        completion = self.complete(messages, params)
        yield completion.text
        yield completion


class StreamingLLM(LLM):
    """A backend that writes its answer piece by piece implements `stream`; `complete` drains
    it."""

    @abstractmethod
    def stream(
        self, messages: list[Message], params: GenerationParams
    ) -> Iterator[str | Completion]: ...

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        *_, completion = self.stream(messages, params)
        return completion
