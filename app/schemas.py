"""Request and response models of the HTTP API (and of `sourced ask --json`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class LLMOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1, le=1000)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    stop: list[str] | None = Field(None, max_length=8)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1)
    index: str | None = None
    top_k: int | None = Field(None, ge=1)
    history: list[Turn] = Field(default_factory=list)
    llm: LLMOptions = Field(default_factory=LLMOptions)
    stream: bool = False  # answer as Server-Sent Events


class SourceOut(BaseModel):
    n: int
    document: str
    page: int | None = None
    locator: str
    snippet: str
    score: float
    chunk_id: str
    cited: bool


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class Timings(BaseModel):
    retrieve: float
    generate: float
    total: float


class AskResponse(BaseModel):
    answer: str
    sources: list[SourceOut]
    answerable: bool
    model: str
    index: str
    index_version: str
    context_truncated: bool
    usage: Usage
    timings_ms: Timings


class IndexOut(BaseModel):
    name: str
    version: str
    documents: int
    chunks: int
    embedding_model: str
    built_at: str


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    llm: str
    embedding_model: str
    indexes: list[str]


class ChunkOut(BaseModel):
    chunk_id: str
    document: str
    page: int | None = None
    locator: str
    text: str


class ChunkContext(BaseModel):
    """A chunk with its neighbours in the document, in document order."""

    index: str
    version: str
    chunks: list[ChunkOut]
    position: int  # which of `chunks` was asked for
