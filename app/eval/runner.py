"""Running an evaluation: build (or reuse) the dataset's index, then measure.

The corpus index lives under `<SOURCED_MODEL_CACHE_DIR>/eval/`, named by dataset and by the
embedding and chunking settings, so a second run re-ingests nothing and takes seconds to
start; changing the chunking builds a separate index rather than spoiling this one.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.eval import metrics
from app.eval.datasets import Dataset, Question, write_corpus
from app.llm import LLM, Completion, GenerationParams, Message
from app.llm.fake import FakeLLM
from app.rag.evidence import EvidenceScorer
from app.rag.indexes import IndexLibrary
from app.rag.pipeline import AnswerPipeline
from app.rag.retriever import Retriever
from app.schemas import AskRequest, AskResponse
from app.services import build_retriever
from app.settings import Settings
from ingest.embedder import Embedder
from ingest.progress import Progress
from ingest.stores import IndexReader, Store, open_store
from ingest.sync import index_spec, run_ingest

THRESHOLDS = [round(0.05 * i, 2) for i in range(21)]
Log = Callable[[str], None]


@dataclass
class EvalOptions:
    retrieval_modes: list[str]
    answer_modes: list[str]  # SQuAD only: extractive, generative, auto
    limit: int | None = 100  # questions sampled for the LLM modes
    top_k: int | None = None  # sources per answer (default: SOURCED_TOP_K)
    index: str | None = None  # an index already built from the corpus, in SOURCED_INDEX_DIR
    seed: int = 13
    # WikiTableQuestions: "table given" (a filter to its file), "table retrieved" (from all)
    table_settings: list[str] = field(default_factory=lambda: ["table given", "table retrieved"])


@dataclass
class EvalContext:
    settings: Settings  # with index_dir pointing at the index evaluated (local store)
    store: Store
    index: IndexReader
    doc_of: dict[str, str]  # document path in the index → dataset document id
    embedder: Embedder
    build_seconds: float


def prepare(dataset: Dataset, settings: Settings, options: EvalOptions, log: Log) -> EvalContext:
    """The index of the dataset's corpus: the one named by --index, or a cached one."""
    embedder = Embedder.from_settings(settings)
    started = time.perf_counter()
    if options.index:
        store = open_store(settings)
        index = store.open_index(options.index)
        doc_of = {d: Path(d).stem for d in index.documents()}
        return EvalContext(settings, store, index, doc_of, embedder, 0.0)

    spec = asdict(index_spec(settings))
    spec_key = hashlib.sha256(repr(sorted(spec.items())).encode()).hexdigest()[:8]
    root = settings.model_cache_dir.expanduser() / "eval"
    corpus = root / "corpora" / f"{dataset.name}-{dataset.fingerprint}"
    name = f"{dataset.name}-{dataset.fingerprint}-{spec_key}"[:64]
    # The local store keeps evaluation indexes beside the model cache, out of the user's.
    eval_settings = settings.model_copy(update={"index_dir": root / "indexes"})
    store = open_store(eval_settings)
    where = root if settings.store == "local" else "the database"
    log(f"corpus: {len(dataset.documents)} documents → index '{name}' in {where}")
    names = write_corpus(dataset, corpus)
    report = run_ingest(
        [corpus],
        name,
        eval_settings,
        progress=Progress(enabled=True),
        embedder=embedder,
        store=store,
    )
    if report.failed:
        log(f"warning: {len(report.failed)} corpus files failed to ingest")
    index = store.open_index(name).load()
    return EvalContext(
        eval_settings, store, index, names, embedder, round(time.perf_counter() - started, 2)
    )


def ranked_documents(hits, doc_of: dict[str, str]) -> list[str]:
    """Chunk hits mapped to documents, each document ranked by its best chunk."""
    ranked: list[str] = []
    for hit in hits:
        doc = doc_of.get(hit.chunk.document, hit.chunk.document)
        if doc not in ranked:
            ranked.append(doc)
    return ranked


def _retriever(context: EvalContext, depth: int) -> Retriever:
    retriever = build_retriever(context.settings, context.embedder)
    retriever.candidates = max(retriever.candidates, depth)
    return retriever


def evaluate_beir(
    dataset: Dataset, context: EvalContext, options: EvalOptions, log: Log
) -> dict[str, Any]:
    # Documents have a few chunks each: 300 chunks give at least 100 documents to rank.
    depth = 300
    retriever = _retriever(context, depth)
    results = {}
    for mode in options.retrieval_modes:
        started = time.perf_counter()
        sums = dict.fromkeys(("ndcg@10", "recall@10", "recall@100", "mrr@10"), 0.0)
        for n, question in enumerate(dataset.questions, 1):
            hits = retriever.retrieve(context.index, question.text, depth, mode)
            ranked = ranked_documents(hits, context.doc_of)
            relevant = dataset.qrels[question.id]
            sums["ndcg@10"] += metrics.ndcg_at_k(ranked, relevant, 10)
            sums["recall@10"] += metrics.recall_at_k(ranked, relevant, 10)
            sums["recall@100"] += metrics.recall_at_k(ranked, relevant, 100)
            sums["mrr@10"] += metrics.mrr_at_k(ranked, relevant, 10)
            if n % 100 == 0:
                log(f"{mode}: {n}/{len(dataset.questions)} queries")
        count = max(len(dataset.questions), 1)
        row = {k: round(v / count, 4) for k, v in sums.items()}
        row["queries"] = len(dataset.questions)
        row["ms_per_query"] = round((time.perf_counter() - started) * 1000 / count, 1)
        results[mode] = row
        log(f"{mode}: nDCG@10 {row['ndcg@10']:.4f}")
    return {"retrieval": results}


def evaluate_squad(
    dataset: Dataset,
    context: EvalContext,
    options: EvalOptions,
    llm_factory: Callable[[], LLM],
    log: Log,
) -> dict[str, Any]:
    answerable = [q for q in dataset.questions if not q.impossible]
    report: dict[str, Any] = {"version": dataset.version, "retrieval": {}}

    retriever = _retriever(context, 10)
    for mode in options.retrieval_modes:
        started = time.perf_counter()
        hits_at = {1: 0.0, 5: 0.0, 10: 0.0}
        for question in answerable:
            ranked = ranked_documents(
                retriever.retrieve(context.index, question.text, 10, mode), context.doc_of
            )
            for k in hits_at:
                hits_at[k] += metrics.hit_at_k(ranked, question.gold_document, k)
        count = max(len(answerable), 1)
        row = {f"gold_in_top{k}": round(v / count, 4) for k, v in hits_at.items()}
        row["questions"] = len(answerable)
        row["ms_per_query"] = round((time.perf_counter() - started) * 1000 / count, 1)
        report["retrieval"][mode] = row
        log(f"{mode}: gold paragraph in top 5 for {row['gold_in_top5']:.1%}")

    settings = context.settings
    chunk_text = {c.id: c.text for c in context.index.chunks()}
    # Every question once without a threshold: the evidence of each, and the extractive answer.
    extractive = _pipeline(context, retriever, None, answerable_threshold=0.0)
    responses = {}
    for n, question in enumerate(dataset.questions, 1):
        responses[question.id] = extractive.answer(
            _ask(question, "extractive", options, context.index.name)
        )
        if n % 200 == 0:
            log(f"evidence: {n}/{len(dataset.questions)} questions")
    if dataset.version.startswith("2"):
        report["threshold_curve"] = _threshold_curve(dataset.questions, responses)
    threshold = settings.answerable_threshold
    report["answerable_threshold"] = threshold

    answers: dict[str, Any] = {}
    answers["extractive"] = _score_answers(
        dataset.questions, responses, chunk_text, threshold, seconds=None
    )
    llm_modes = [m for m in options.answer_modes if m != "extractive"]
    if llm_modes:
        sample = _sample(dataset.questions, options.limit, options.seed)
        log(f"LLM answers for {len(sample)} questions ({', '.join(llm_modes)})…")
        pipeline = _pipeline(context, retriever, llm_factory(), threshold)
        by_mode, seconds = _llm_answers(pipeline, sample, llm_modes, options, log)
        for mode in llm_modes:
            answers[mode] = _score_answers(
                sample, by_mode[mode], chunk_text, threshold, seconds=seconds[mode]
            )
        answers["extractive (same sample)"] = _score_answers(
            sample, responses, chunk_text, threshold, seconds=None
        )
        if dataset.version.startswith("2"):
            # The model's own refusals with stricter evidence thresholds on top (a lower one
            # would need answers the model was never asked for).
            report["llm_threshold_curves"] = {
                mode: _threshold_curve(sample, by_mode[mode], since=threshold) for mode in llm_modes
            }
    report["answers"] = {m: answers[m] for m in answers if _wanted(m, options.answer_modes)}
    return report


def _wanted(mode: str, modes: list[str]) -> bool:
    return mode.split(" ")[0] in modes


def _pipeline(
    context: EvalContext, retriever: Retriever, llm: LLM | None, answerable_threshold: float
) -> AnswerPipeline:
    settings = context.settings.model_copy(
        update={"answerable_threshold": answerable_threshold, "default_index": context.index.name}
    )
    library = IndexLibrary(context.store, settings.embedding_model, context.index.dimension)
    return AnswerPipeline(
        settings, library, retriever, llm or FakeLLM(), EvidenceScorer(context.embedder)
    )


def _ask(question: Question, mode: str, options: EvalOptions, index: str) -> AskRequest:
    return AskRequest(question=question.text, index=index, top_k=options.top_k, answer_mode=mode)


class _Remembering(LLM):
    """The evaluated LLM, answering each distinct prompt once: `auto` asks what `short` or
    `generative` already asked (answers are greedy, so a second call would write the same).
    A remembered answer is charged the seconds it first took, so each mode's time per answer
    is what it would cost alone."""

    def __init__(self, llm: LLM):
        self.llm = llm
        self.name = llm.name
        self.capable = llm.capable
        self.context_window = llm.context_window
        self._answers: dict[str, tuple[Completion, float]] = {}
        self.spent = 0.0  # seconds the model actually took
        self.charged = 0.0  # seconds the answers given would have taken

    @property
    def model(self) -> str:
        return self.llm.model

    def count_tokens(self, text: str) -> int:
        return self.llm.count_tokens(text)

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        key = repr((messages, params))
        if key not in self._answers:
            started = time.perf_counter()
            completion = self.llm.complete(messages, params)
            took = time.perf_counter() - started
            self._answers[key] = (completion, took)
            self.spent += took
        completion, took = self._answers[key]
        self.charged += took
        return completion


def _llm_answers(
    pipeline: AnswerPipeline,
    sample: list[Question],
    modes: list[str],
    options: EvalOptions,
    log: Log,
) -> tuple[dict[str, dict[str, AskResponse]], dict[str, float]]:
    """Every mode's answers, and each mode's seconds per answer (model time included)."""
    llm = pipeline.llm = _Remembering(pipeline.llm)
    by_mode: dict[str, dict[str, AskResponse]] = {m: {} for m in modes}
    seconds = dict.fromkeys(modes, 0.0)
    index = pipeline.settings.default_index
    started = time.perf_counter()
    for n, question in enumerate(sample, 1):
        for mode in modes:
            began, spent, charged = time.perf_counter(), llm.spent, llm.charged
            by_mode[mode][question.id] = pipeline.answer(_ask(question, mode, options, index))
            took = time.perf_counter() - began
            seconds[mode] += took - (llm.spent - spent) + (llm.charged - charged)
        if n % 10 == 0:
            elapsed = time.perf_counter() - started
            log(f"answers: {n}/{len(sample)} ({elapsed / n:.1f} s per question, all modes)")
    pipeline.llm = llm.llm
    count = max(len(sample), 1)
    return by_mode, {m: v / count for m, v in seconds.items()}


def _threshold_curve(
    questions: list[Question], responses: dict[str, AskResponse], since: float = 0.0
) -> list[dict]:
    """Refusals and answers at each evidence threshold from `since` on; a response that is
    not answerable (no passage, or the model's verdict) counts as refused at every one."""

    def refused(response: AskResponse, t: float) -> bool:
        return response.evidence < t or (since > 0 and not response.answerable)

    impossible = [responses[q.id] for q in questions if q.impossible]
    possible = [responses[q.id] for q in questions if not q.impossible]
    curve = []
    for t in (t for t in THRESHOLDS if t >= since):
        refusals = sum(refused(r, t) for r in impossible) / max(len(impossible), 1)
        answered = sum(not refused(r, t) for r in possible) / max(len(possible), 1)
        curve.append(
            {"threshold": t, "refusal_on_unanswerable": round(refusals, 4),
             "answer_rate_on_answerable": round(answered, 4)}
        )  # fmt: skip
    return curve


def _score_answers(
    questions: list[Question],
    responses: dict[str, AskResponse],
    chunk_text: dict[str, str],
    threshold: float,
    seconds: float | None,
) -> dict[str, Any]:
    """Scores with the threshold applied: a refused answerable question scores zero."""
    possible = [q for q in questions if not q.impossible]
    impossible = [q for q in questions if q.impossible]
    em = f1 = contained = answered = cited_ok = with_citation = grounded = short = 0.0
    for q in possible:
        response = responses[q.id]
        if response.evidence < threshold or not response.answerable:
            continue
        answered += 1
        text = _without_markers(response.answer)
        # A short answer is scored by its phrase; what is shown (the phrase and its quote)
        # is what must contain the gold answer.
        phrase = response.short_answer or text
        em += metrics.exact_match(phrase, q.answers)
        f1 += metrics.f1_score(phrase, q.answers)
        contained += metrics.contains_answer(text, q.answers)
        short += response.answer_mode == "short"
        grounded += response.grounded
        cited = [s for s in response.sources if s.cited]
        if cited:
            with_citation += 1
            cited_ok += any(
                metrics.contains_answer(chunk_text.get(s.chunk_id, ""), q.answers) for s in cited
            )
    count = max(len(possible), 1)
    row: dict[str, Any] = {
        "questions": len(questions),
        "answer_rate": round(answered / count, 4),
        "exact_match": round(em / count, 4),
        "f1": round(f1 / count, 4),
        "answer_contained": round(contained / count, 4),
        "citation_accuracy": round(cited_ok / max(answered, 1), 4),
        "grounded": round(grounded / max(answered, 1), 4),
        "short_answers": round(short / max(answered, 1), 4),
    }
    if impossible:
        refused = sum(
            responses[q.id].evidence < threshold or not responses[q.id].answerable
            for q in impossible
        )
        row["refusal_on_unanswerable"] = round(refused / len(impossible), 4)
    if seconds is not None:
        row["s_per_question"] = round(seconds, 2)
    return row


def _without_markers(text: str) -> str:
    return re.sub(r"\s*\[\d+(?:,\s*\d+)*\]", "", text)


def _sample(questions: list[Question], limit: int | None, seed: int) -> list[Question]:
    if limit is None or limit >= len(questions):
        return list(questions)
    return random.Random(seed).sample(questions, limit)
