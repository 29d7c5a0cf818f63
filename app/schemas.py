"""Request and response models of the HTTP API (and of `sourced ask --json`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ingest.stores import INDEX_NAME_PATTERN, IndexReader


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


class FiltersIn(BaseModel):
    """Restrict retrieval; every field given must match."""

    model_config = ConfigDict(extra="forbid")
    documents: list[str] = Field(
        default_factory=list,
        max_length=50,
        description='Globs over document paths: "guides/*.pdf"; a glob without "/" also '
        'matches the file name alone: "*.pdf".',
    )
    file_types: list[str] = Field(
        default_factory=list, max_length=20, description='Extensions: "pdf", "md".'
    )
    page_from: int | None = Field(None, ge=1, description="First page (paged documents only).")
    page_to: int | None = Field(None, ge=1, description="Last page, inclusive.")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1)
    index: str | None = Field(None, pattern=INDEX_NAME_PATTERN)
    top_k: int | None = Field(None, ge=1)
    history: list[Turn] = Field(default_factory=list)
    retrieval_mode: Literal["hybrid", "dense", "bm25"] | None = None
    answer_mode: Literal["auto", "short", "generative", "extractive"] | None = None
    filters: FiltersIn = Field(default_factory=FiltersIn)
    llm: LLMOptions = Field(default_factory=LLMOptions)
    stream: bool = False  # answer as Server-Sent Events


class QuoteOut(BaseModel):
    """The sentence(s) of a source that support the answer; offsets index the chunk's text."""

    text: str
    start: int
    end: int


class SourceOut(BaseModel):
    n: int
    document: str
    page: int | None = None
    locator: str
    snippet: str
    score: float
    similarity: float  # cosine similarity between the query and the chunk
    chunk_id: str
    cited: bool
    verified: bool | None = None  # None when not cited; false: the citation's claim is unsupported
    support: float | None = None  # how well the quote supports the claim citing it, 0–1
    quote: QuoteOut | None = None


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1)
    index: str | None = Field(None, pattern=INDEX_NAME_PATTERN)
    top_k: int | None = Field(None, ge=1)
    retrieval_mode: Literal["hybrid", "dense", "bm25"] | None = None
    filters: FiltersIn = Field(default_factory=FiltersIn)


class PassageOut(BaseModel):
    """One passage found by a search, with the sentence in it that best answers the query."""

    rank: int  # from 1
    document: str
    page: int | None = None
    locator: str
    chunk_id: str
    score: float  # the ranking score of the retrieval mode
    similarity: float  # cosine similarity between the query and the passage
    text: str
    quote: QuoteOut | None = None  # offsets index `text`; None when no sentence is a statement
    evidence: float | None = None  # how well the quote answers the query, 0–1


class SearchResponse(BaseModel):
    query: str
    index: str
    index_version: str
    retrieval_mode: Literal["hybrid", "dense", "bm25"]
    passages: list[PassageOut]
    evidence: float  # how well the best sentence found answers the query, 0–1
    answerable: bool  # whether that clears SOURCED_ANSWERABLE_THRESHOLD
    took_ms: float


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class Timings(BaseModel):
    retrieve: float
    generate: float
    total: float


class TableRowOut(BaseModel):
    """One row of a table, as the document has it."""

    row: int  # the row number the document shows (a spreadsheet's; an array's index)
    cells: dict[str, str | int | float | None]  # by the document's column names


class ComputationOut(BaseModel):
    """How a computed answer was made (answer_mode "computed"), for a person to check."""

    document: str
    table: str  # the sheet or JSON array within the document; "" when the file is one table
    label: str  # the two together, as people find them: "sales.xlsx · sheet 2024"
    values: list[str]  # the answer's values (the result's cells, or how many rows it found)
    sql: str  # the query that ran, over the table as `table_name`
    table_name: str
    columns: list[str]  # the query's result
    rows: list[list[str | int | float | None]]
    truncated: bool  # the result had more rows than SOURCED_TABLE_QUERY_MAX_ROWS
    cited_rows: list[TableRowOut]  # the rows the answer was computed from (at most 20)
    cited_row_count: int  # how many rows it was computed from in all
    table_rows: int  # rows in the whole table


class AskResponse(BaseModel):
    answer: str
    # A short answer's phrase alone (answer_mode "short"), or a computed answer's value(s);
    # `answer` adds the quote it rests on, or the query and the rows.
    short_answer: str | None = None
    sources: list[SourceOut]
    answerable: bool
    grounded: float  # share of the answer's claims supported by a source they cite, 0–1
    evidence: float  # how well the best source sentence answers the query, 0–1
    # How it was made; "computed": by a query over a table (see `computation`).
    answer_mode: Literal["short", "generative", "extractive", "computed", "none"]
    notice: str | None = None  # why the answer is extractive, or why there is none
    computation: ComputationOut | None = None
    query: str  # the query used for retrieval (a follow-up is rewritten to stand alone)
    query_rewrite: Literal["none", "heuristic", "llm"]
    retrieval_mode: Literal["hybrid", "dense", "bm25"]
    model: str
    index: str
    index_version: str
    context_truncated: bool
    usage: Usage
    timings_ms: Timings


class DocumentList(BaseModel):
    """The documents of an index (for the page's filters)."""

    index: str
    version: str
    documents: list[str]  # paths relative to the folder ingested, sorted


class IndexOut(BaseModel):
    name: str
    version: str
    documents: int
    chunks: int
    embedding_model: str
    built_at: str
    search: Literal["exact", "approximate"] = Field(
        description="exact vector search, or an HNSW graph (large indexes)"
    )
    search_recall_at_10: float | None = Field(
        None, description="approximate search: share of the exact top 10 found, measured at build"
    )

    @classmethod
    def of(cls, version: IndexReader) -> IndexOut:
        return cls(
            name=version.name,
            version=version.version,
            documents=version.document_count,
            chunks=version.chunk_count,
            embedding_model=version.spec.embedding_model,
            built_at=version.built_at,
            search="approximate" if version.search_info.kind == "hnsw" else "exact",
            search_recall_at_10=version.search_info.recall_at_10,
        )


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
    # Text read by OCR: each word's [start, end, x0, y0, x1, y1], its offsets in `text` and its
    # box as fractions of the page image, to highlight a quote on the page.
    boxes: list[tuple[int, int, float, float, float, float]] = Field(default_factory=list)
    # Whether GET /indexes/{name}/files/{document} can serve the original (a PDF or an image).
    viewable: bool = False


class ChunkContext(BaseModel):
    """A chunk with its neighbours in the document, in document order."""

    index: str
    version: str
    chunks: list[ChunkOut]
    position: int  # which of `chunks` was asked for


class ErrorDetail(BaseModel):
    status: int
    code: str  # stable, for programs: "index_not_found", "invalid_request", "llm_timeout", …
    message: str  # for people: what went wrong and what to do
    field: str | None = None  # the request field at fault, dotted ("filters.page_to")


class ErrorResponse(BaseModel):
    """The one shape of every error response."""

    error: ErrorDetail


# Documented on every route, so clients (and the schema) know the error shape.
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "The request cannot be carried out as asked",
        401: "An API key is needed, or the one sent is not valid",
        403: "The API key does not reach this index",
        404: "Not found (an unknown index, chunk or path)",
        409: "The index cannot be used now (busy, or built with other settings)",
        413: "The request body is too large",
        422: "The request is invalid; `field` names the culprit",
        429: "Too many requests for this key; `Retry-After` says when to retry",
        500: "An internal error (the server log has the details)",
        502: "The language model failed",
        503: "The language model's queue is full; `Retry-After` says when to retry",
        504: "The language model did not answer in time",
    }.items()
}
