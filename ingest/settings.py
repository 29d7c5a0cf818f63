"""Ingest settings, read from SOURCED_* environment variables (or a .env file).

Every field is documented in the README's configuration table; a test keeps the two in step.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOURCED_", env_file=".env", extra="ignore")

    store: Literal["local", "postgres"] = Field(
        "local",
        description="Where indexes live: local (versioned folders in SOURCED_INDEX_DIR) or "
        "postgres (PostgreSQL + pgvector at SOURCED_DATABASE_URL, shared by replicas).",
    )
    database_url: str | None = Field(
        None, description="PostgreSQL URL for SOURCED_STORE=postgres (postgresql://…)."
    )
    index_dir: Path = Field(
        Path("indexes"), description="Folder that holds the indexes (local store)."
    )
    embedding_model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="sentence-transformers model name or local path used to embed chunks; "
        "with an embedding server, the model name it is asked for.",
    )
    embedding_batch_size: int = Field(
        32, ge=1, le=4096, description="Chunks embedded per batch (per request to a server)."
    )
    embedding_backend: Literal["local", "openai", "ollama"] = Field(
        "local",
        description="local (the model in this process), openai (a /v1/embeddings server) or "
        "ollama (/api/embed).",
    )
    embedding_base_url: str | None = Field(
        None,
        description="The embedding server: its /v1 URL for openai (http://host:7997/v1), its "
        "root for ollama (http://host:11434).",
    )
    embedding_api_key: str = Field("", description="API key sent to the embedding server.")
    embedding_timeout_s: float = Field(
        60.0, gt=0, description="Time limit for one request to the embedding server."
    )
    embedding_retries: int = Field(
        4, ge=0, le=10, description="Retries of a failed embedding request, with backoff."
    )
    embedding_concurrency: int = Field(
        4, ge=1, le=64, description="Embedding requests in flight at once, per process."
    )
    embedding_runtime: Literal["torch", "onnx-int8"] = Field(
        "torch", description="torch, or onnx-int8 (all-MiniLM-L6-v2 only; optional extra)."
    )
    embedding_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="torch runtime: auto is bfloat16 where the CPU has it natively."
    )
    chunk_size: int = Field(200, ge=16, description="Largest chunk, in embedding-model tokens.")
    chunk_overlap: int = Field(30, ge=0, description="Tokens shared by neighbouring chunks.")
    max_file_mb: float = Field(100.0, gt=0, description="Files larger than this are skipped.")
    parse_timeout_s: float = Field(120.0, gt=0, description="Time limit to parse one file.")
    parse_cpu_s: int = Field(60, ge=1, description="CPU seconds the parser may spend on one file.")
    parse_memory_mb: int = Field(
        2048, ge=256, description="Address space of the parser process, in MB."
    )
    csv_field_limit: int = Field(1_000_000, ge=1024, description="Largest CSV field, in chars.")
    json_max_depth: int = Field(64, ge=2, description="Deepest JSON nesting accepted.")
    csv_max_rows: int = Field(
        1_000_000, ge=1, description="Rows read from one CSV or XLSX file; the rest are left out."
    )
    table_max_rows: int = Field(
        100_000, ge=0, description="Largest table kept as a table (its text is read anyway)."
    )
    pdf_max_pages: int = Field(
        5_000, ge=1, description="Pages read from one PDF file; the rest are left out."
    )
    pdf_max_stream_mb: float = Field(
        75.0, gt=0, description="Largest decompressed PDF stream, in MB; larger ones fail the file."
    )
    ocr: bool = Field(
        True,
        description="Read pages without a text layer (scans) and images (PNG, JPEG, TIFF) by "
        "OCR; pages with a text layer are never OCR'd.",
    )
    ocr_page_s: float = Field(
        60.0,
        gt=0,
        description="Time added to the parser's limits (wall clock and CPU) for each page it "
        "reads by OCR.",
    )
    sentence_vectors: bool = Field(
        True,
        description="Store every chunk sentence's vector, so answering embeds no source "
        "sentence (about twice the vector storage).",
    )
    keep_versions: int = Field(3, ge=1, description="Index versions kept on disk.")
    ann_min_chunks: int = Field(
        50_000, ge=1, description="From this many chunks, vector search is approximate (HNSW)."
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> "IngestSettings":
        if self.chunk_overlap >= self.chunk_size // 2:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be less than half of "
                f"chunk_size ({self.chunk_size})"
            )
        return self

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


@lru_cache
def get_ingest_settings() -> IngestSettings:
    return IngestSettings()
