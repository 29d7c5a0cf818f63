"""Service settings: the ingest settings plus the server's and the LLM's, from SOURCED_* variables.

Every field is documented in the README's configuration table; a test keeps the two in step.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field

from ingest.settings import IngestSettings


class Settings(IngestSettings):
    # The server
    host: str = Field("127.0.0.1", description="Address `sourced serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `sourced serve` listens on.")
    public_url: str = Field(
        "", description="The page's address as users reach it (behind a proxy), for the links "
        "in sources given to other clients; empty: the address each request came to.",
    )  # fmt: skip
    default_index: str = Field("default", description="Index used when a request names none.")
    top_k: int = Field(5, ge=1, le=50, description="Chunks retrieved per question by default.")
    max_top_k: int = Field(20, ge=1, le=200, description="Largest top_k a request may ask for.")
    max_body_kb: int = Field(256, ge=1, description="Largest request body, in KiB.")
    max_question_chars: int = Field(4000, ge=1, description="Longest question accepted.")
    max_history_turns: int = Field(20, ge=0, description="Most prior turns a request may send.")
    max_embedding_inputs: int = Field(
        256, ge=1, description="Most texts one `/v1/embeddings` request may send."
    )
    snippet_chars: int = Field(300, ge=40, description="Length of each source's snippet.")
    max_upload_mb: float = Field(20.0, gt=0, description="Largest file accepted by upload.")
    memory_trim_s: float = Field(
        0.25, ge=0, description="Seconds between returns of freed memory while busy; 0: never."
    )
    api_keys: str = Field(
        "",
        description="Comma-separated API keys, each `KEY` (every index) or `KEY:INDEX|INDEX`; "
        "empty: no keys (then the server only binds to a loopback address).",
    )
    api_keys_file: Path | None = Field(
        None, description="File of hashed keys written by `sourced keys add`."
    )
    rate_limit_per_minute: int = Field(
        120, ge=0, description="Requests a minute per API key (no limit without keys); 0: off."
    )

    # Retrieval and answers
    retrieval_mode: Literal["hybrid", "dense", "bm25"] = Field(
        "hybrid", description="hybrid (BM25 and embeddings fused), dense or bm25."
    )
    retrieval_candidates: int = Field(
        100, ge=1, le=10_000, description="Candidates taken from each ranking before fusion."
    )
    duplicate_similarity: float = Field(
        0.95, gt=0, le=1.01, description="Chunks this similar to a better one are left out."
    )
    reranker_model: str = Field(
        "", description="Cross-encoder folder or name that reorders candidates; empty: off."
    )
    answer_mode: Literal["", "auto", "short", "generative", "extractive"] = Field(
        "",
        description="auto (short answers to questions of fact, generated ones otherwise, "
        "quotes when unsupported), short, generative or extractive (the best source "
        "sentences, no LLM); empty: auto with a capable LLM, extractive with a small one.",
    )
    answerable_threshold: float = Field(
        0.40, ge=0, le=1, description="Least evidence (0–1) for an answer; below: not answered."
    )
    citation_min_support: float = Field(
        0.5, ge=0, le=1, description="Least support (0–1) for a citation to count as verified."
    )
    min_grounded: float = Field(
        0.75, ge=0, le=1, description="auto mode: below this grounded score, quote instead."
    )
    extractive_sentences: int = Field(
        2, ge=1, le=10, description="Most sentences in an extractive answer."
    )
    reader_chunks: int = Field(
        1,
        ge=1,
        le=10,
        description="Chunks a short answer is read from: those of the best sentences.",
    )
    query_rewrite: Literal["auto", "llm", "heuristic", "off"] = Field(
        "auto",
        description="How follow-ups become standalone queries; auto: the LLM when capable.",
    )
    table_answers: bool = Field(
        True,
        description="Answer questions asking for a count, a sum, an extreme… over a table "
        "by a query the LLM writes (not in extractive mode).",
    )
    table_query_timeout_s: float = Field(
        5.0, gt=0, description="Time limit for one query over a table."
    )
    table_query_max_rows: int = Field(
        200, ge=1, le=10_000, description="Most rows a query over a table returns."
    )
    table_candidates: int = Field(
        1,
        ge=1,
        le=9,
        description="Queries the LLM writes for a question over a table; above 1, the answer "
        "is the one whose values most of them support.",
    )
    llm_capable: bool | None = Field(
        None,
        description="Trust the LLM to rewrite queries and to say when documents are silent; "
        "empty: decided from the model (no for models under 1B parameters).",
    )

    # The LLM
    llm_backend: str = Field(
        "local", description="local, llamacpp (optional extra), openai, ollama or fake."
    )
    llm_model: str = Field(
        "",
        description="local, llamacpp: a bundled model (qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, "
        "smollm2-135m), a .gguf file or (local) a model folder or hub name; openai, ollama: the "
        "server's model name. Empty: the bundled qwen2.5-coder-0.5b.",
    )
    llm_base_url: str = Field(
        "", description="Server URL (openai: …/v1; ollama: http://127.0.0.1:11434)."
    )
    llm_api_key: str = Field("", description="API key sent to the openai backend.")
    llm_timeout_s: float = Field(120.0, gt=0, description="Time limit for one LLM call.")
    llm_retries: int = Field(2, ge=0, le=10, description="Retries on 429 and 5xx answers.")
    llm_concurrency: int = Field(1, ge=1, description="LLM calls run at once; others wait.")
    llm_queue_size: int = Field(
        8, ge=0, description="LLM calls that may wait for a turn; past it requests get 503."
    )
    llm_context_tokens: int = Field(
        2048, ge=256, description="Prompt plus answer budget, in LLM tokens."
    )
    llm_max_tokens: int = Field(200, ge=1, description="Longest answer, in tokens, by default.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="0 answers greedily.")
    llm_dtype: str = Field("bfloat16", description="Local model dtype: bfloat16 or float32.")
    llm_quantize: Literal["int8", "int8-only", "int8-weight-only", "none"] = Field(
        "int8",
        description="local backend in bfloat16: int8 weight copies for writing tokens (faster); "
        "int8-only reads prompts in int8 too and lets the bfloat16 weights go once loaded; "
        "int8-weight-only keeps activations in bfloat16 (torch's weight-only kernel).",
    )
    llm_threads: int = Field(
        0, ge=0, description="CPU threads for the local and llamacpp backends; 0: all cores."
    )
    model_cache_dir: Path = Field(
        Path("~/.cache/sourced"),
        description="Where the local model converted from GGUF is cached.",
    )
    system_prompt: str = Field("", description="Replaces the built-in system prompt when set.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
