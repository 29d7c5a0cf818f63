"""LangChain retrievers over a Sourced index, for chains that bring their own prompt and model.

- `SourcedRetriever` searches in process, over the store (no server): the same hybrid
  retrieval as `POST /search`, with the embedding model loaded here.
- `SourcedHTTPRetriever` asks a running Sourced over HTTP (`POST /search`), with an API key.

Both return one `Document` per passage: its text as `page_content`, and in `metadata` the
document, page, locator, chunk id, score and the sentence that best answers the query (`quote`,
with its offsets into the passage). Install with `pip install 'sourced[langchain]'`.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:  # an extra, not a main dependency
    raise ImportError(
        "Sourced's LangChain retrievers need langchain-core: pip install 'sourced[langchain]'"
    ) from exc

from app.rag.search import PassageSearch
from app.schemas import FiltersIn, SearchRequest, SearchResponse
from app.settings import Settings, get_settings

Mode = Literal["hybrid", "dense", "bm25"]


class SourcedAPIError(Exception):
    """Sourced answered with an error: `status`, `code` and its message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{message} ({status} {code})")
        self.status, self.code, self.message = status, code, message


class SourcedRetriever(BaseRetriever):
    """Passages of a Sourced index, searched in this process."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    search: PassageSearch = Field(exclude=True, repr=False)
    index: str | None = None  # None: SOURCED_DEFAULT_INDEX
    top_k: int = Field(5, ge=1)
    retrieval_mode: Mode = "hybrid"
    documents: list[str] = Field(default_factory=list)  # path globs: only these documents

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **fields: Any) -> SourcedRetriever:
        """Open the store and load the embedding model SOURCED_* settings name."""
        from app.services import build_search
        from ingest.embedder import Embedder
        from ingest.stores import open_store

        settings = settings or get_settings()
        search = build_search(settings, Embedder.from_settings(settings), open_store(settings))
        return cls(search=search, **fields)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        request = SearchRequest(
            query=query,
            index=self.index,
            top_k=self.top_k,
            retrieval_mode=self.retrieval_mode,
            filters=FiltersIn(documents=self.documents),
        )
        return documents_of(self.search.search(request))


class SourcedHTTPRetriever(BaseRetriever):
    """Passages of a Sourced index, searched by a running Sourced over HTTP."""

    url: str = "http://127.0.0.1:8000"
    api_key: SecretStr | None = None
    index: str | None = None  # None: the server's default index
    top_k: int = Field(5, ge=1)
    retrieval_mode: Mode = "hybrid"
    documents: list[str] = Field(default_factory=list)
    timeout_s: float = 60.0
    # One client for the retriever's life: making one costs more than a search.
    _client: httpx.Client | None = PrivateAttr(None)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_s)
        response = self._client.post(**self._request(query))
        return documents_of(self._found(response))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            response = await client.post(**self._request(query))
        return documents_of(self._found(response))

    def _request(self, query: str) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, "top_k": self.top_k}
        body["retrieval_mode"] = self.retrieval_mode
        if self.index:
            body["index"] = self.index
        if self.documents:
            body["filters"] = {"documents": self.documents}
        headers = {}
        if self.api_key is not None:
            headers["authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return {"url": f"{self.url.rstrip('/')}/search", "json": body, "headers": headers}

    @staticmethod
    def _found(response: httpx.Response) -> SearchResponse:
        if response.is_success:
            return SearchResponse.model_validate(response.json())
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            raise SourcedAPIError(response.status_code, "http_error", response.text[:200]) from None
        raise SourcedAPIError(error["status"], error["code"], error["message"])


def documents_of(found: SearchResponse) -> list[Document]:
    """A search's passages as LangChain documents, best first."""
    documents = []
    for passage in found.passages:
        quote = passage.quote
        metadata = {
            "index": found.index,
            "index_version": found.index_version,
            "rank": passage.rank,
            "document": passage.document,
            "page": passage.page,
            "locator": passage.locator,
            "chunk_id": passage.chunk_id,
            "score": passage.score,
            "similarity": passage.similarity,
            "quote": quote.text if quote else None,
            "quote_start": quote.start if quote else None,
            "quote_end": quote.end if quote else None,
            "evidence": passage.evidence,
        }
        document = Document(page_content=passage.text, metadata=metadata, id=passage.chunk_id)
        documents.append(document)
    return documents
