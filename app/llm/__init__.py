"""LLM backends, chosen by SOURCED_LLM_BACKEND. A backend registers a factory under its name;
tests and plugins register theirs the same way."""

from __future__ import annotations

from collections.abc import Callable

from app.errors import LLMError
from app.llm.base import LLM, Completion, GenerationParams, Message
from app.settings import Settings

BackendFactory = Callable[[Settings], LLM]
BACKENDS: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    BACKENDS[name] = factory


def create_llm(settings: Settings) -> LLM:
    factory = BACKENDS.get(settings.llm_backend)
    if factory is None:
        known = ", ".join(sorted(BACKENDS))
        raise LLMError(f"unknown SOURCED_LLM_BACKEND '{settings.llm_backend}': use one of {known}")
    return factory(settings)


def _local(settings: Settings) -> LLM:
    from app.llm.local import LocalLLM

    return LocalLLM(
        settings.llm_model,
        settings.model_cache_dir,
        settings.llm_dtype,
        settings.llm_threads,
        settings.llm_quantize,
    )


def _llamacpp(settings: Settings) -> LLM:
    from app.llm.llamacpp import LlamaCppLLM

    return LlamaCppLLM(
        settings.llm_model,
        settings.model_cache_dir,
        settings.llm_context_tokens,
        settings.llm_threads,
    )


def _openai(settings: Settings) -> LLM:
    from app.llm.remote import OpenAICompatibleLLM

    return OpenAICompatibleLLM(
        settings.llm_base_url,
        settings.llm_model,
        settings.llm_timeout_s,
        settings.llm_retries,
        settings.llm_api_key,
    )


def _ollama(settings: Settings) -> LLM:
    from app.llm.remote import OllamaLLM

    return OllamaLLM(
        settings.llm_base_url or "http://127.0.0.1:11434",
        settings.llm_model,
        settings.llm_timeout_s,
        settings.llm_retries,
        settings.llm_api_key,
    )


def _fake(_: Settings) -> LLM:
    from app.llm.fake import FakeLLM

    return FakeLLM()


register_backend("local", _local)
register_backend("llamacpp", _llamacpp)
register_backend("openai", _openai)
register_backend("ollama", _ollama)
register_backend("fake", _fake)

__all__ = ["LLM", "BACKENDS", "Completion", "GenerationParams", "Message", "create_llm"]
