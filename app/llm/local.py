"""The `local` backend: a Hugging Face causal LM running on this machine's CPU.

By default it is the bundled Qwen2.5-Coder-0.5B-Instruct (bundled.py): its GGUF file is
joined and verified once, transformers converts it to a regular model once (under a minute),
and the result is cached in SOURCED_MODEL_CACHE_DIR, so later starts load in seconds.
SOURCED_LLM_MODEL may name another bundled model, a `.gguf` file (converted once the same
way) or a model folder or hub name.

Bundled models are prompted in their known chat format (chatml.py), never through the
template inside the file. Writing ends at the end of the turn, at a stop string, or when the
answer starts repeating itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from app.errors import LLMError
from app.llm import chatml
from app.llm.base import CAPABLE_PARAMETERS, Completion, GenerationParams, Message, StreamingLLM
from app.llm.bundled import bundled_model, gguf_file
from app.llm.repetition import repeated_from

log = logging.getLogger("sourced")


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
        self._bundled = bundled_model(model)
        self._gguf = Path(model).suffix.lower() == ".gguf"
        # Models from GGUF files are prompted in ChatML written here, not their own template.
        self._chatml = bool(self._bundled) or self._gguf
        self._cache_dir = cache_dir.expanduser()
        self._dtype = dtype
        self._threads = threads
        self._quantize = quantize
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self._bundled.title if self._bundled else Path(self._source).name or self._source

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
        location = self._location(dtype)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(location)
            self._model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
        except OSError as exc:
            raise LLMError(
                f"cannot load the local model '{self.model}': {exc}. Set SOURCED_LLM_MODEL to a "
                "bundled model name, a .gguf file or a local model folder (Sourced runs offline)."
            ) from exc
        self._model.eval()
        if self._quantize.startswith("int8") and dtype == torch.bfloat16:
            from app.llm.int8 import quantize_for_decoding

            fbgemm = self._quantize in ("int8", "int8-only")
            quantize_for_decoding(self._model, fbgemm, only=self._quantize == "int8-only")
        # Options every generation takes. A preallocated (static) cache, where the model
        # supports one: no growing copies of every layer's keys and values per token.
        ends = [self._tokenizer.eos_token_id]
        ends += [self._tokenizer.convert_tokens_to_ids(t) for t in self._end_tokens()]
        ends = [t for t in dict.fromkeys(ends) if isinstance(t, int) and t >= 0]
        self._generate_options = {"pad_token_id": ends[0], "eos_token_id": ends}
        if getattr(self._model, "_can_compile_fullgraph", False):
            self._generate_options["cache_implementation"] = "static"
        window = getattr(self._model.config, "max_position_embeddings", None)
        self.context_window = int(window) if window else None
        self.capable = self._model.num_parameters() >= CAPABLE_PARAMETERS
        self._warm_up()

    def _end_tokens(self) -> list[str]:
        vocabulary = self._tokenizer.get_vocab()
        return [t for t in (chatml.END_OF_TURN, chatml.END_OF_TEXT) if t in vocabulary]

    def _location(self, dtype) -> str:
        if self._bundled:
            path = gguf_file(self._bundled, self._cache_dir)
            return str(self._converted(path, self._bundled.sha256[:16] or "bundled", dtype))
        path = Path(self._source).expanduser()
        if self._gguf:
            if not path.is_file():
                raise LLMError(f"SOURCED_LLM_MODEL names a .gguf file that is not there: {path}")
            stat = path.stat()
            key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
            return str(self._converted(path, key.hexdigest()[:16], dtype))
        return self._source

    def _converted(self, gguf: Path, key: str, dtype) -> Path:
        """A GGUF model converted once and cached as a regular model folder."""
        target = self._cache_dir / f"{gguf.stem}-{key}-{self._dtype}"
        if (target / "config.json").exists():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        log.info("converting %s to %s once (under a minute)", gguf.name, target)
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

    def _warm_up(self) -> None:
        """Write two tokens now: the first generation sets up kernels and caches, and the
        first user should not wait for that."""
        import torch

        inputs = self._encode([{"role": "user", "content": "Hello"}])
        with self._lock, torch.inference_mode():
            self._model.generate(
                **inputs, max_new_tokens=2, do_sample=False, **self._generate_options
            )

    def _encode(self, messages: list[Message]) -> dict:
        if self._chatml:
            prompt = chatml.render(messages)
            return self._tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        return self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(
        self, messages: list[Message], params: GenerationParams
    ) -> Iterator[str | Completion]:
        self.load()
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self._encode(messages)
        sampling = params.temperature > 0
        options = {
            "max_new_tokens": params.max_tokens,
            "do_sample": sampling,
            "output_scores": True,
            "return_dict_in_generate": True,
        }
        if sampling:
            options.update(temperature=params.temperature, top_p=params.top_p)
            if params.top_k:
                options["top_k"] = params.top_k
            if params.seed is not None:
                torch.manual_seed(params.seed)
        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        halt = threading.Event()  # set by the reader below: a stop string, a loop, a lost client

        class Halt(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), halt.is_set(), dtype=torch.bool)

        result: dict = {}

        def generate() -> None:
            try:
                with self._lock, torch.inference_mode():
                    result["output"] = self._model.generate(
                        **inputs,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([Halt()]),
                        **options,
                        **self._generate_options,
                    )
            except Exception as exc:  # surfaced to the caller below
                result["error"] = exc
                streamer.end()

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        text, finish = "", None
        try:
            for piece in streamer:  # drain it all, so the generating thread always finishes
                if finish or not piece:
                    continue
                cut, finish = _cut(text + piece, params.stop)
                if finish:
                    halt.set()
                # What was already sent stays sent; the Completion holds the text as cut.
                fresh = cut[len(text) :]
                text = cut
                if fresh:
                    yield fresh
        finally:
            halt.set()  # also when the caller stops reading
            worker.join()
        if "error" in result:
            raise LLMError(f"the local model failed: {result['error']}")
        output = result["output"]
        prompt_tokens = inputs["input_ids"].shape[1]
        new_tokens = output.sequences.shape[1] - prompt_tokens
        if finish is None:
            finish = "length" if new_tokens >= params.max_tokens else "stop"
        logprobs = _token_logprobs(output.scores, output.sequences[0, prompt_tokens:])
        yield Completion(text.strip(), self.model, prompt_tokens, new_tokens, finish, logprobs)


def _token_logprobs(scores, tokens) -> tuple[float, ...]:
    """The log-probability of each written token under the scores it was chosen from."""
    import torch

    return tuple(
        float(torch.log_softmax(step[0].float(), dim=-1)[token])
        for step, token in zip(scores, tokens, strict=False)
    )


def _cut(text: str, stops: list[str]) -> tuple[str, str | None]:
    """The text up to the first stop string or the start of a repetition, and why it ends
    there (None: it goes on)."""
    cuts = [text.index(stop) for stop in stops if stop in text]
    if cuts:
        return text[: min(cuts)], "stop"
    repeated = repeated_from(text)
    if repeated is not None:
        return text[:repeated].rstrip(), "repetition"
    return text, None
