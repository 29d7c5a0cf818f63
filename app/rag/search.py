"""Search without an answer: the passages of an index that match a query, each with the sentence
in it that best answers the query. Serves `POST /search`, the MCP `search` tool and the
LangChain retriever; the pipeline (pipeline.py) answers from the same retrieval.

Reading a passage in place (`passage_in_context`) serves the page's citations, the MCP `fetch`
tool and `GET /indexes/{name}/chunks/{id}`.
"""

from __future__ import annotations

import time
from pathlib import Path

from app.errors import InvalidRequest, NotFound
from app.rag.evidence import EvidenceScorer
from app.rag.indexes import IndexLibrary
from app.rag.originals import is_viewable, original_file
from app.rag.retriever import Filters, Retriever
from app.schemas import (
    ChunkContext,
    ChunkOut,
    FiltersIn,
    PassageOut,
    QuoteOut,
    SearchRequest,
    SearchResponse,
)
from app.settings import Settings
from ingest.sentences import is_statement


class PassageSearch:
    def __init__(
        self,
        settings: Settings,
        library: IndexLibrary,
        retriever: Retriever,
        scorer: EvidenceScorer,
    ):
        self.settings = settings
        self.library = library
        self.retriever = retriever
        self.scorer = scorer

    def search(self, request: SearchRequest) -> SearchResponse:
        settings = self.settings
        top_k = checked_top_k(settings, request.query, "query", request.top_k)
        filters = retrieval_filters(request.filters)
        name = request.index or settings.default_index
        mode = request.retrieval_mode or settings.retrieval_mode
        started = time.perf_counter()
        index = self.library.get(name)
        hits = self.retriever.retrieve(index, request.query, top_k, mode, filters)
        # Every sentence, scored; each passage keeps its best statement as its quote.
        scored = self.scorer.best_sentences(request.query, hits, limit=1 << 30)
        best: dict[int, tuple[QuoteOut, float]] = {}
        for s in scored:
            if s.hit_number not in best and is_statement(s.span.text):
                quote = QuoteOut(text=s.span.text, start=s.span.start, end=s.span.end)
                best[s.hit_number] = (quote, round(s.score, 4))
        evidence = scored[0].score if scored else 0.0
        passages = []
        for rank, hit in enumerate(hits, 1):
            chunk = hit.chunk
            quote, quote_score = best.get(rank, (None, None))
            passages.append(
                PassageOut(
                    rank=rank,
                    document=chunk.document,
                    page=chunk.source.page,
                    locator=chunk.source.locator(),
                    chunk_id=chunk.id,
                    score=round(hit.score, 4),
                    similarity=round(hit.similarity, 4),
                    text=chunk.text,
                    quote=quote,
                    evidence=quote_score,
                )
            )
        return SearchResponse(
            query=request.query,
            index=name,
            index_version=index.version,
            retrieval_mode=mode,
            passages=passages,
            evidence=round(evidence, 4),
            answerable=bool(hits) and evidence >= settings.answerable_threshold,
            took_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    def passage_in_context(self, name: str, chunk_id: str, around: int = 1) -> ChunkContext:
        """A passage with up to `around` neighbours each side, in document order."""
        version = self.library.get(name)
        found = version.chunk_in_context(chunk_id, around)
        if found is None:
            raise NotFound(
                f"no chunk '{chunk_id}' in index '{name}' ({version.version})", "chunk_id"
            )
        chunks, position = found
        return ChunkContext(
            index=name,
            version=version.version,
            position=position,
            chunks=[
                ChunkOut(
                    chunk_id=c.id,
                    document=c.document,
                    page=c.source.page,
                    locator=c.source.locator(),
                    text=c.text,
                    boxes=list(c.source.boxes),
                    viewable=is_viewable(c.document),
                )
                for c in chunks
            ],
        )

    def original(self, name: str, document: str) -> tuple[Path, str]:
        """The original file of a document (a PDF or an image) and its media type."""
        return original_file(self.library.get(name), name, document)


def checked_top_k(settings: Settings, text: str, field: str, top_k: int | None) -> int:
    """The passages to retrieve, once the question (or query) and top_k are within limits."""
    if len(text) > settings.max_question_chars:
        raise InvalidRequest(
            f"{field} is longer than {settings.max_question_chars} characters", field
        )
    top_k = top_k or settings.top_k
    if top_k > settings.max_top_k:
        raise InvalidRequest(f"top_k may be at most {settings.max_top_k}", "top_k")
    return top_k


def retrieval_filters(given: FiltersIn) -> Filters | None:
    """The store's filters for the request's, or None when nothing is filtered."""
    pages = None
    if given.page_from is not None or given.page_to is not None:
        pages = (given.page_from or 1, given.page_to or 1 << 31)
        if pages[0] > pages[1]:
            raise InvalidRequest("filters.page_from is after filters.page_to", "filters.page_to")
    filters = Filters(list(given.documents), list(given.file_types), pages)
    return filters or None
