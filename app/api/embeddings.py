"""OpenAI's embeddings endpoint over the model Sourced's indexes are built with, so other tools
(LangChain's OpenAIEmbeddings, the OpenAI SDK, another RAG stack) get the very vectors
Sourced searches with: unit length, the same model, the same window."""

from __future__ import annotations

import base64
from typing import Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.deps import PrincipalDep, ServicesDep
from app.errors import InvalidRequest, NotFound
from app.schemas import ERROR_RESPONSES

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERROR_RESPONSES)


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # user… are accepted and ignored
    model: str
    # Texts only: token arrays belong to OpenAI's tokenizers, not this model's.
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str  # a base64 string of little-endian float32 when asked


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


@router.post("/embeddings", response_model=EmbeddingList)
async def embeddings(
    request: EmbeddingRequest, services: ServicesDep, principal: PrincipalDep
) -> EmbeddingList:
    settings, embedder = services.settings, services.embedder
    model = settings.embedding_model
    if request.model not in (model, model.rsplit("/", 1)[-1]):
        raise NotFound(
            f"no embedding model named '{request.model}': this server embeds with '{model}'",
            field="model",
        )
    texts = [request.input] if isinstance(request.input, str) else request.input
    if not texts:
        raise InvalidRequest("input holds no text", field="input")
    if len(texts) > settings.max_embedding_inputs:
        raise InvalidRequest(
            f"{len(texts)} inputs; at most {settings.max_embedding_inputs} per request "
            "(SOURCED_MAX_EMBEDDING_INPUTS)",
            field="input",
        )
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidRequest(f"input {i} is empty", field="input")
        if len(text) > settings.max_question_chars:
            raise InvalidRequest(
                f"input {i} has {len(text)} characters; at most {settings.max_question_chars} "
                "(SOURCED_MAX_QUESTION_CHARS)",
                field="input",
            )
    if request.dimensions is not None and request.dimensions != embedder.dimension:
        raise InvalidRequest(
            f"'{model}' gives vectors of {embedder.dimension} dimensions, not {request.dimensions}",
            field="dimensions",
        )
    vectors = await run_in_threadpool(embedder.embed, texts)
    # Counted as the model reads them: what exceeds its window is cut off before embedding.
    tokens = sum(
        min(len(ids), embedder.max_tokens)
        for ids in embedder.tokenizer(texts, add_special_tokens=True)["input_ids"]
    )
    return EmbeddingList(
        data=[
            Embedding(index=i, embedding=_encoded(vector, request.encoding_format))
            for i, vector in enumerate(vectors)
        ],
        model=model,
        usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
    )


def _encoded(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]
