"""Question → answer with sources.

1. Check the request; rewrite a follow-up into a standalone query (followup.py).
2. Retrieve (retriever.py) and weigh the evidence: how well the best source sentence answers
   the query (evidence.py). Below SOURCED_ANSWERABLE_THRESHOLD the answer is "not in the
   documents", with the nearest sources, and no model is asked.
3. Answer by the mode asked for:
   - extractive: the sentences of the sources that best answer the query, verbatim, cited;
   - short: the LLM reads the chunk holding the best sentences and replies with a phrase,
     which must be found in it; it is shown with the sentence it was found in, and with the
     best-answering sentence when that is another one (reader.py);
   - generative: the LLM writes the answer from a prompt of numbered sources (prompt.py);
   - auto: short for a question that asks for a fact, generative for one that asks for an
     explanation; then checked (citations.py). An answer its sources do not support is
     replaced by the extractive one, and the response says why.
   Whatever the mode but extractive, a question asking for a count, a sum, an extreme… whose
   best source is a table's row is first computed by a query over that table
   (computation.py); when no query works, it is answered as above, with a notice.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

from app.errors import InvalidRequest
from app.llm.base import LLM, Completion, GenerationParams
from app.llm.queue import LLMQueue
from app.rag.citations import CitationCheck, Quote, SourceCheck, check_citations, resolve_citations
from app.rag.computation import (
    Computed,
    NotComputed,
    TableComputation,
    TableTarget,
    computation_out,
    computed_text,
)
from app.rag.evidence import EvidenceScorer, Scored
from app.rag.followup import Rewrite, standalone_query, uses_llm
from app.rag.indexes import IndexLibrary
from app.rag.prompt import Prompt, build_prompt
from app.rag.reader import (
    locate,
    passages,
    reader_messages,
    says_not_found,
    wants_short_answer,
)
from app.rag.retriever import Hit, Retriever
from app.rag.search import checked_top_k, retrieval_filters
from app.schemas import AskRequest, AskResponse, QuoteOut, SourceOut, Timings, Usage
from app.settings import Settings
from ingest.sentences import Span, is_statement, sentences
from ingest.stores import IndexReader

# A reply saying the sources are silent.
_SILENT = re.compile(
    r"\b(documents?|sources?|context)\b[^.]*\b(do(es)? not|don't|doesn't) (say|contain|mention|"
    r"answer|provide)",
    re.IGNORECASE,
)
NOT_FOUND = "The documents do not answer this question."
NO_MATCH = "No documents match the filters."
# Most sentences a short answer may run to (a FAQ's answer field, say) before it is cut to
# the one that best answers.
_SHORT_SENTENCES = 3
# Best sentences kept beyond the extractive answer's: enough to find the reader's chunks when
# a source's own questions (evidence, never quoted) take some of the places.
_SPARE_SENTENCES = 4
# A sentence scoring at least this share of the best one's evidence is as good an answer.
_NEAR_BEST = 0.85

StreamEvent = tuple[str, Any]


@dataclass(frozen=True)
class Prepared:
    """A checked request with its sources retrieved, its evidence weighed and, when the LLM
    is to answer, its prompt built."""

    index: str
    version: str
    requested_mode: str
    plan: str  # "read" (a short answer), "generate", "extract" or "refuse"
    query: str
    rewrite: Rewrite
    retrieval_mode: str
    hits: list[Hit]
    best: list[Scored]  # the sentences that best answer the query, best first
    evidence: float
    params: GenerationParams
    prompt: Prompt | None
    started: float
    retrieved: float
    notice: str | None = None
    reader: IndexReader | None = None  # the index version the sources came from
    table: TableTarget | None = None  # the table to compute the answer over first
    not_computed: str | None = None  # why the answer is not the one computed over it


class AnswerPipeline:
    def __init__(
        self,
        settings: Settings,
        library: IndexLibrary,
        retriever: Retriever,
        llm: LLM,
        scorer: EvidenceScorer,
    ):
        self.settings = settings
        self.library = library
        self.retriever = retriever
        self.llm = llm
        self.scorer = scorer
        self.llm_queue = LLMQueue(settings.llm_concurrency, settings.llm_queue_size)
        self.tables = TableComputation(llm, settings)

    @property
    def llm_capable(self) -> bool:
        setting = self.settings.llm_capable
        return self.llm.capable if setting is None else setting

    @property
    def default_answer_mode(self) -> str:
        return "auto" if self.llm_capable else "extractive"

    def answer(self, request: AskRequest) -> AskResponse:
        prepared = self.prepare(request)
        if prepared.prompt is None and prepared.table is None:
            return self.finish(prepared, None)
        with self.llm_queue.admit():
            computed, prepared = self._compute(prepared)
            if computed is not None:
                return self.finish_computed(prepared, computed)
            if prepared.prompt is None:
                return self.finish(prepared, None)
            completion = self.llm.complete(prepared.prompt.messages, prepared.params)
        return self.finish(prepared, completion)

    def answer_stream(self, request: AskRequest) -> Iterator[StreamEvent]:
        """("sources", [SourceOut]), then ("token", text)…, then ("done", AskResponse).

        Validation and retrieval errors raise before the first event; errors while the
        answer is written are raised from the iterator."""
        prepared = self.prepare(request)
        # A place in the LLM queue is taken before the first event, so a full queue is a 503.
        uses_llm = prepared.prompt is not None or prepared.table is not None
        turn = self.llm_queue.admit() if uses_llm else None
        try:
            yield "sources", [self._source(n, h, None) for n, h in enumerate(prepared.hits, 1)]
            if turn is None:
                yield from self._whole(self.finish(prepared, None))
                return
            with turn:
                computed, prepared = self._compute(prepared)
                if computed is not None:
                    yield from self._whole(self.finish_computed(prepared, computed))
                    return
                if prepared.prompt is None:
                    yield from self._whole(self.finish(prepared, None))
                    return
                for item in self.llm.stream(prepared.prompt.messages, prepared.params):
                    if isinstance(item, Completion):
                        yield "done", self.finish(prepared, item)
                    else:
                        yield "token", item
        finally:
            if turn is not None:
                turn.release()  # also when the client left before its turn came

    def _whole(self, response: AskResponse) -> Iterator[StreamEvent]:
        """An answer made at once, as the stream's events."""
        yield "token", response.answer
        yield "done", response

    def prepare(self, request: AskRequest) -> Prepared:
        """Check the request, retrieve, weigh the evidence and build the prompt."""
        settings = self.settings
        top_k = checked_top_k(settings, request.question, "question", request.top_k)
        if len(request.history) > settings.max_history_turns:
            raise InvalidRequest(
                f"history has more than {settings.max_history_turns} turns", "history"
            )
        filters = retrieval_filters(request.filters)
        name = request.index or settings.default_index
        # Unset, the mode follows the model: measured on SQuAD, a small model's answers are
        # less often right and less often supported than the sources' own sentences.
        mode = request.answer_mode or settings.answer_mode or self.default_answer_mode
        retrieval_mode = request.retrieval_mode or settings.retrieval_mode
        params = self._params(request)
        room = self._prompt_room(params) if mode != "extractive" else 0

        started = time.perf_counter()
        index = self.library.get(name)
        history = [turn.model_dump() for turn in request.history]
        rewrite_by_llm = bool(history) and uses_llm(settings.query_rewrite, self.llm_capable)
        with self.llm_queue.admit() if rewrite_by_llm else nullcontext():
            query, rewrite = standalone_query(
                request.question, history, settings.query_rewrite, self.llm, self.llm_capable
            )
        hits = self.retriever.retrieve(index, query, top_k, retrieval_mode, filters)
        found = hits
        limit = settings.extractive_sentences + _SPARE_SENTENCES
        best = self.scorer.best_sentences(query, hits, limit=limit)
        evidence = best[0].score if best else 0.0
        retrieved = time.perf_counter()

        notice, prompt = None, None
        if not hits:
            plan, notice = "refuse", NO_MATCH if filters else "The index has no passages."
        elif evidence < settings.answerable_threshold:
            plan = "refuse"
            notice = (
                f"No passage answers this closely enough (evidence {evidence:.2f}, below the "
                f"threshold {settings.answerable_threshold:.2f}); the nearest sources are listed."
            )
        elif mode == "extractive":
            plan = "extract"
        elif mode == "short" or (
            mode == "auto" and self.llm_capable and wants_short_answer(request.question)
        ):
            plan = "read"
            given = passages(best, hits, settings.reader_chunks)
            prompt = Prompt(reader_messages(query, given), hits, False, 0, given)
            # A phrase, on one line.
            params = replace(params, max_tokens=min(params.max_tokens, 64), stop=["\n"])
        else:
            plan = "generate"
            prompt = build_prompt(
                request.question,
                hits,
                history,
                room,
                self.llm.count_tokens,
                settings.system_prompt,
            )
            hits = prompt.hits
        # Asked of the sources found, before the prompt may drop some.
        table = self.tables.target(index, found, query) if mode != "extractive" else None
        return Prepared(
            name, index.version, mode, plan, query, rewrite, retrieval_mode, hits, best,
            evidence, params, prompt, started, retrieved, notice, index, table,
        )  # fmt: skip

    def _compute(self, prepared: Prepared) -> tuple[Computed | None, Prepared]:
        """The answer computed over the prepared table, or None and the request prepared to
        be answered from the text, its notice saying why. The caller holds an LLM turn."""
        if prepared.table is None:
            return None, prepared
        try:
            return self.tables.compute(prepared.reader, prepared.table, prepared.query), prepared
        except NotComputed as exc:
            where = prepared.table.document
            why = f"Not computed over the table in {where}: {exc}; answered from the text."
            return None, replace(prepared, not_computed=why)

    def finish_computed(self, prepared: Prepared, computed: Computed) -> AskResponse:
        """The response of an answer computed over a table: its value(s) as the short
        answer; the text adds the rows and the query, the computation has them whole."""
        sources = [self._source(n, hit, None) for n, hit in enumerate(prepared.hits, 1)]
        text, model = computed_text(computed), self.llm.model
        usage = Completion(text, model, *computed.answer.tokens)
        return self._response(
            prepared,
            usage,
            answer=text,
            short_answer=", ".join(computed.values),
            sources=sources,
            answerable=True,
            grounded=1.0,
            answer_mode="computed",
            notice=None,
            computation=computation_out(computed),
            model=model,
        )

    def finish(self, prepared: Prepared, completion: Completion | None) -> AskResponse:
        """Check the citations of a finished answer (or make the extractive one) and assemble
        the response."""
        hits, notice = prepared.hits, prepared.notice
        answerable, mode, short = True, "generative", None
        if completion is None and prepared.plan == "refuse":
            answer, answerable, mode = NOT_FOUND, False, "none"
            check = CitationCheck(answer, {}, 0.0, 0)
        elif completion is None:
            check, mode = self._extractive(prepared), "extractive"
        elif prepared.plan == "read":
            check, mode, short, answerable, notice = self._short(prepared, completion.text)
        else:
            answer, _ = resolve_citations(completion.text, len(hits))
            check = check_citations(answer, hits, self.scorer, self.settings.citation_min_support)
            silent = bool(_SILENT.search(answer))
            if silent and (self.llm_capable or prepared.requested_mode == "generative"):
                answerable = False
                notice = "The model found no answer in the sources."
            elif prepared.requested_mode == "auto" and check.grounded < self.settings.min_grounded:
                notice = (
                    f"The generated answer was not supported by its sources (grounded "
                    f"{check.grounded:.2f}); these are the source sentences that best answer "
                    "the question."
                )
                check, mode = self._extractive(prepared), "extractive"
        sources = [self._source(n, hit, check.checks.get(n)) for n, hit in enumerate(hits, 1)]
        if prepared.not_computed:
            notice = " ".join(filter(None, [prepared.not_computed, notice]))
        return self._response(
            prepared,
            completion,
            answer=check.answer,
            short_answer=short,
            sources=sources,
            answerable=answerable,
            grounded=check.grounded,
            answer_mode=mode,
            notice=notice,
            model=completion.model if completion else "none",
            context_truncated=bool(prepared.prompt and prepared.prompt.truncated),
        )

    def _response(
        self, prepared: Prepared, completion: Completion | None, **fields: Any
    ) -> AskResponse:
        """The response: the answer's fields, with what every response tells (the LLM's
        tokens from `completion`)."""
        done = time.perf_counter()
        return AskResponse(
            evidence=round(prepared.evidence, 4),
            query=prepared.query,
            query_rewrite=prepared.rewrite,
            retrieval_mode=prepared.retrieval_mode,
            index=prepared.index,
            index_version=prepared.version,
            context_truncated=fields.pop("context_truncated", False),
            usage=Usage(
                prompt_tokens=completion.prompt_tokens if completion else 0,
                completion_tokens=completion.completion_tokens if completion else 0,
            ),
            timings_ms=Timings(
                retrieve=round((prepared.retrieved - prepared.started) * 1000, 1),
                generate=round((done - prepared.retrieved) * 1000, 1),
                total=round((done - prepared.started) * 1000, 1),
            ),
            **fields,
        )

    def _short(
        self, prepared: Prepared, reply: str
    ) -> tuple[CitationCheck, str, str | None, bool, str | None]:
        """A reader's reply as the response's (check, mode, short answer, answerable, notice):
        the phrase with the sentence it was found in; the model's "not found"; or, for a
        phrase the sentences do not hold, the extractive answer."""
        if says_not_found(reply) and (self.llm_capable or prepared.requested_mode == "short"):
            check = CitationCheck(NOT_FOUND, {}, 0.0, 0)
            return check, "short", None, False, "The model found no answer in the sources."
        found = locate(reply, prepared.prompt.passages, prepared.hits)
        if found is None:
            notice = (
                f"The short answer ({' '.join(reply.split())[:80]!r}) was not found in the "
                "passage it was read from; these are the source sentences that best answer "
                "the question."
            )
            return self._extractive(prepared), "extractive", None, True, notice
        n, quote, phrase = found.hit_number, found.quote, found.text
        within = [
            Span(quote.start + s.start, quote.start + s.end, s.text)
            for s in sentences(quote.text)
            if is_statement(s.text)
        ]
        if len(within) > _SHORT_SENTENCES:
            # A reply that copied a passage: the sentence that best answers is the answer.
            support = self.scorer.support([prepared.query], [s.text for s in within])[0]
            quote = within[int(support.argmax())]
            phrase = " ".join(quote.text.split())
        text = f'{phrase} [{n}]\n\n"{" ".join(quote.text.split())}" [{n}]'
        checks = {n: SourceCheck(Quote(quote.text, quote.start, quote.end), 1.0, True)}
        best = _best_sentences(prepared)
        if best and not any(s.hit_number == n and _overlap(s.span, quote) for s in best):
            # The phrase came from a sentence the evidence does not rank near the best: the
            # best one is shown too, so a reader who doubts the phrase sees the strongest.
            # It is quoted, not cited: the phrase was not read from it, so its source is not
            # claimed to support the answer.
            m, span = best[0].hit_number, best[0].span
            text += f'\n\nAlso in the sources: "{" ".join(span.text.split())}" [{m}]'
            checks.setdefault(m, SourceCheck(Quote(span.text, span.start, span.end), 0.0, None))
        return CitationCheck(text, checks, 1.0, 1), "short", phrase, True, None

    def _extractive(self, prepared: Prepared) -> CitationCheck:
        """The best sentences, verbatim, each cited; a sentence well below the best is left
        out, so a clear answer is not diluted."""
        parts, checks = [], {}
        for scored in _best_sentences(prepared):
            text, n = " ".join(scored.span.text.split()), scored.hit_number
            cut = len(text) - 1 if text[-1] in ".!?" else len(text)
            parts.append(f"{text[:cut]} [{n}]{text[cut:]}")
            if n not in checks:
                quote = Quote(text, scored.span.start, scored.span.end)
                checks[n] = SourceCheck(quote=quote, support=1.0, verified=True)
        return CitationCheck(" ".join(parts), checks, 1.0 if parts else 0.0, len(parts))

    def _prompt_room(self, params: GenerationParams) -> int:
        context = min(self.settings.llm_context_tokens, self.llm.context_window or 1 << 30)
        room = context - params.max_tokens
        if room < 256:
            raise InvalidRequest(
                f"llm.max_tokens leaves no room for sources in the {context}-token context",
                "llm.max_tokens",
            )
        return room

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

    def _source(self, n: int, hit: Hit, check: SourceCheck | None) -> SourceOut:
        chunk = hit.chunk
        snippet = " ".join(chunk.text.split())
        limit = self.settings.snippet_chars
        if len(snippet) > limit:
            snippet = snippet[: limit - 1].rsplit(" ", 1)[0] + "…"
        quote = check.quote if check else None
        return SourceOut(
            n=n,
            document=chunk.document,
            page=chunk.source.page,
            locator=chunk.source.locator(),
            snippet=snippet,
            score=round(hit.score, 4),
            similarity=round(hit.similarity, 4),
            chunk_id=chunk.id,
            cited=check is not None and check.verified is not None,
            verified=check.verified if check else None,
            support=check.support if check and check.verified is not None else None,
            quote=QuoteOut(text=quote.text, start=quote.start, end=quote.end) if quote else None,
        )


def _best_sentences(prepared: Prepared) -> list[Scored]:
    """The sentences that best answer, best first: statements from sources that made it into
    the response (a prompt may have had to drop some); one well below the best is left out,
    so a clear answer is not diluted."""
    pool = [
        s for s in prepared.best if s.hit_number <= len(prepared.hits) and is_statement(s.span.text)
    ]
    return [s for s in pool if s.score >= _NEAR_BEST * pool[0].score] if pool else []


def _overlap(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end
