"""Question → answer with sources: retrieve, build the prompt, generate, resolve citations."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.errors import InvalidRequest
from app.llm.base import LLM, Completion, GenerationParams
from app.rag.citations import resolve_citations
from app.rag.indexes import IndexLibrary
from app.rag.prompt import Prompt, build_prompt
from app.rag.retriever import Hit, Retriever
from app.schemas import AskRequest, AskResponse, SourceOut, Timings, Usage
from app.settings import Settings

# A reply that says the sources are silent (the quality work replaces this with evidence).
_SILENT = re.compile(
    r"\b(documents?|sources?|context)\b[^.]*\b(do(es)? not|don't|doesn't) (say|contain|mention)",
    re.IGNORECASE,
)


StreamEvent = tuple[str, Any]


@dataclass(frozen=True)
class Prepared:
    """A checked request with its sources retrieved and its prompt built."""

    index: str
    version: str
    params: GenerationParams
    prompt: Prompt
    started: float
    retrieved: float


class AnswerPipeline:
    def __init__(self, settings: Settings, library: IndexLibrary, retriever: Retriever, llm: LLM):
        self.settings = settings
        self.library = library
        self.retriever = retriever
        self.llm = llm
        self._slots = threading.BoundedSemaphore(settings.llm_concurrency)

    def answer(self, request: AskRequest) -> AskResponse:
        prepared = self.prepare(request)
        with self._slots:
            completion = self.llm.complete(prepared.prompt.messages, prepared.params)
        return self.finish(prepared, completion)

    def answer_stream(self, request: AskRequest) -> Iterator[StreamEvent]:
        """("sources", [SourceOut]), then ("token", text)…, then ("done", AskResponse).

        Validation and retrieval errors raise before the first event; errors while the
        answer is written are raised from the iterator."""
        prepared = self.prepare(request)
        yield "sources", [self._source(n, h, False) for n, h in enumerate(prepared.prompt.hits, 1)]
        with self._slots:
            for item in self.llm.stream(prepared.prompt.messages, prepared.params):
                if isinstance(item, Completion):
                    yield "done", self.finish(prepared, item)
                else:
                    yield "token", item

    def prepare(self, request: AskRequest) -> Prepared:
        """Check the request, retrieve, and build the prompt."""
        settings = self.settings
        if len(request.question) > settings.max_question_chars:
            raise InvalidRequest(
                f"question is longer than {settings.max_question_chars} characters", "question"
            )
        if len(request.history) > settings.max_history_turns:
            raise InvalidRequest(
                f"history has more than {settings.max_history_turns} turns", "history"
            )
        top_k = request.top_k or settings.top_k
        if top_k > settings.max_top_k:
            raise InvalidRequest(f"top_k may be at most {settings.max_top_k}", "top_k")
        name = request.index or settings.default_index
        params = self._params(request)
        context = min(settings.llm_context_tokens, self.llm.context_window or 1 << 30)
        room = context - params.max_tokens
        if room < 256:
            raise InvalidRequest(
                f"llm.max_tokens leaves no room for sources in the {context}-token context",
                "llm.max_tokens",
            )

        started = time.perf_counter()
        index = self.library.get(name)
        hits = self.retriever.retrieve(index, request.question, top_k)
        retrieved = time.perf_counter()
        prompt = build_prompt(
            request.question,
            hits,
            [turn.model_dump() for turn in request.history],
            room,
            self.llm.count_tokens,
            settings.system_prompt,
        )
        return Prepared(name, index.version, params, prompt, started, retrieved)

    def finish(self, prepared: Prepared, completion: Completion) -> AskResponse:
        """Resolve the citations of a finished answer and assemble the response."""
        generated = time.perf_counter()
        hits = prepared.prompt.hits
        answer, cited = resolve_citations(completion.text, len(hits))
        sources = [self._source(n, hit, n in cited) for n, hit in enumerate(hits, 1)]
        answerable = bool(hits) and bool(answer) and not _SILENT.search(answer)
        return AskResponse(
            answer=answer,
            sources=sources,
            answerable=answerable,
            model=completion.model,
            index=prepared.index,
            index_version=prepared.version,
            context_truncated=prepared.prompt.truncated,
            usage=Usage(
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
            ),
            timings_ms=Timings(
                retrieve=round((prepared.retrieved - prepared.started) * 1000, 1),
                generate=round((generated - prepared.retrieved) * 1000, 1),
                total=round((generated - prepared.started) * 1000, 1),
            ),
        )

    def _params(self, request: AskRequest) -> GenerationParams:
        options = request.llm
        return GenerationParams(
            temperature=(
                options.temperature
                if options.temperature is not None
                else self.settings.llm_temperature
            ),
            top_p=options.top_p if options.top_p is not None else 1.0,
            top_k=options.top_k,
            max_tokens=options.max_tokens or self.settings.llm_max_tokens,
            stop=options.stop or [],
        )

    def _source(self, n: int, hit: Hit, cited: bool) -> SourceOut:
        chunk = hit.chunk
        snippet = " ".join(chunk.text.split())
        limit = self.settings.snippet_chars
        if len(snippet) > limit:
            snippet = snippet[: limit - 1].rsplit(" ", 1)[0] + "…"
        return SourceOut(
            n=n,
            document=chunk.document,
            page=chunk.source.page,
            locator=chunk.source.locator(),
            snippet=snippet,
            score=round(hit.score, 4),
            chunk_id=chunk.id,
            cited=cited,
        )
