"""The `llamacpp` backend: a GGUF model run in this process by llama.cpp (`llama-cpp-python`).

An optional extra (`pip install 'sourced[llamacpp]'`, which compiles llama.cpp for a few
minutes). It reads the same GGUF file as the `local` backend, without converting it, and decodes
several times faster; transformers reads long prompts faster. `bench/local_llm.py` measures both
on a RAG-shaped request, so the choice can be made on this machine's numbers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from app.errors import LLMError
from app.llm import chatml
from app.llm.base import CAPABLE_PARAMETERS, Completion, GenerationParams, Message, StreamingLLM
from app.llm.bundled import bundled_model, gguf_file, verify
from app.llm.repetition import repeated_from

INSTALL_HINT = (
    "the llamacpp backend needs llama-cpp-python: `pip install 'sourced[llamacpp]'` "
    "(it compiles llama.cpp, a few minutes), or use SOURCED_LLM_BACKEND=local"
)


class LlamaCppLLM(StreamingLLM):
    name = "llamacpp"

    def __init__(self, model: str, cache_dir: Path, context_tokens: int = 2048, threads: int = 0):
        self._source = model
        self._bundled = bundled_model(model)
        self._cache_dir = cache_dir
        self._context_tokens = context_tokens
        self._threads = threads or (os.cpu_count() or 1)
        self._llama = None
        # One llama.cpp context holds one conversation's cache: calls take turns.
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self._bundled.title if self._bundled else Path(self._source).name

    def load(self) -> None:
        if self._llama is not None:
            return
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError(INSTALL_HINT) from exc
        if self._bundled:
            path = gguf_file(self._bundled, self._cache_dir)
            verify(path, self._bundled)  # llama.cpp reads the file itself on every start
        else:
            path = Path(self._source).expanduser()
        if path.suffix.lower() != ".gguf" or not path.is_file():
            raise LLMError(
                f"the llamacpp backend reads a .gguf file; SOURCED_LLM_MODEL is '{self._source}'"
            )
        try:
            self._llama = Llama(
                model_path=str(path),
                n_ctx=self._context_tokens,
                n_batch=512,
                n_threads=self._threads,
                n_threads_batch=self._threads,
                # Bundled models: their known format, not the template inside the file.
                chat_format="chatml" if self._bundled else None,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"cannot load '{path.name}' with llama.cpp: {exc}") from exc
        trained = self._llama.n_ctx_train() if hasattr(self._llama, "n_ctx_train") else None
        self.context_window = min(self._context_tokens, trained or self._context_tokens)
        self.capable = _parameters(self._llama) >= CAPABLE_PARAMETERS

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(
        self, messages: list[Message], params: GenerationParams
    ) -> Iterator[str | Completion]:
        self.load()
        options = {
            "max_tokens": params.max_tokens,
            "stop": params.stop or [],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "top_k": params.top_k or 0,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
        }
        if params.seed is not None:
            options["seed"] = params.seed
        if self._bundled:
            messages = [{**m, "content": chatml.defang(m["content"])} for m in messages]
        text, finish = "", "stop"
        with self._lock:
            chunks = self._llama.create_chat_completion(messages, stream=True, **options)
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    piece = choice.get("delta", {}).get("content") or ""
                    finish = choice.get("finish_reason") or finish
                    repeated = repeated_from(text + piece) if piece else None
                    if repeated is not None:  # what was already sent stays sent
                        text, finish = (text + piece)[:repeated].rstrip(), "repetition"
                        break
                    if piece:
                        text += piece
                        yield piece
            except (ValueError, RuntimeError) as exc:
                raise LLMError(f"the llamacpp model failed: {exc}") from exc
            finally:
                chunks.close()
            completion_tokens = self.count_tokens(text) if text else 0
            # The context holds the prompt and every written token but the last.
            prompt_tokens = max(self._llama.n_tokens - max(completion_tokens - 1, 0), 0)
        yield Completion(text.strip(), self.model, prompt_tokens, completion_tokens, finish)


def _parameters(llama) -> float:
    try:
        import llama_cpp

        return float(llama_cpp.llama_model_n_params(llama.model))
    except (AttributeError, TypeError):
        return 0.0
