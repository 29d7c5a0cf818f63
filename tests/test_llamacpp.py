"""The llamacpp backend, for real: llama.cpp runs the smallest bundled GGUF file in this
process."""

import sys

import pytest

from app.errors import LLMError
from app.llm import GenerationParams, create_llm
from app.llm.llamacpp import LlamaCppLLM
from app.settings import Settings

MESSAGES = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What colour is the sky on a clear day?"},
]


@pytest.fixture(scope="module")
def llm() -> LlamaCppLLM:
    settings = Settings(llm_backend="llamacpp", llm_model="smollm2-135m", llm_context_tokens=1024)
    backend = create_llm(settings)
    backend.load()
    return backend


def test_streams_pieces_then_the_whole_completion(llm):
    items = list(llm.stream(MESSAGES, GenerationParams(max_tokens=12)))
    *pieces, completion = items
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert completion.text == "".join(pieces).strip()
    assert completion.model == "SmolLM2-135M-Instruct"
    assert 0 < completion.completion_tokens <= 13
    assert completion.prompt_tokens > 10
    assert completion.finish_reason in ("stop", "length")


def test_greedy_answers_repeat_and_stop_strings_cut(llm):
    params = GenerationParams(max_tokens=16)
    first = llm.complete(MESSAGES, params).text
    assert llm.complete(MESSAGES, params).text == first
    word = first.split()[1]
    cut = llm.complete(MESSAGES, GenerationParams(max_tokens=16, stop=[word])).text
    assert word not in cut and first.startswith(cut.strip())


def test_knows_its_window_and_counts_tokens(llm):
    assert llm.context_window == 1024
    assert llm.count_tokens("hello world") in (2, 3)
    assert llm.capable is False  # 135M parameters: too small to trust with instructions


def test_refuses_a_model_that_is_not_gguf(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(LLMError, match="reads a .gguf file"):
        LlamaCppLLM(str(folder), tmp_path).load()


def test_without_llama_cpp_installed_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(LLMError, match=r"sourced\[llamacpp\]"):
        LlamaCppLLM("", Settings().model_cache_dir).load()
