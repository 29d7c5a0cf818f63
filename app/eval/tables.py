"""WikiTableQuestions through the product: each question asked of the index of all the
dataset's tables, as /ask answers it (computed over a table, or from the text), and scored
as the dataset's authors score it (metrics.denotation_match).

Two settings: with the question's table given (a document filter to that one file), which
measures the computing alone, and with the table retrieved from all of them, which measures
what a user with a folder of spreadsheets gets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app.eval import metrics
from app.eval.datasets import Dataset, Question
from app.eval.runner import (
    EvalContext,
    EvalOptions,
    Log,
    _pipeline,
    _retriever,
    _sample,
    ranked_documents,
)
from app.llm import LLM
from app.rag.pipeline import AnswerPipeline
from app.schemas import AskRequest, AskResponse, FiltersIn

SETTINGS = ("table given", "table retrieved")


def evaluate_wtq(
    dataset: Dataset,
    context: EvalContext,
    options: EvalOptions,
    llm_factory: Callable[[], LLM],
    log: Log,
) -> dict[str, Any]:
    sample = _sample(dataset.questions, options.limit, options.seed)
    retriever = _retriever(context, 10)
    report: dict[str, Any] = {"questions": len(sample), "retrieval": {}, "answers": {}}
    for mode in options.retrieval_modes:
        started = time.perf_counter()
        found = {1: 0, 5: 0}
        for question in sample:
            hits = retriever.retrieve(context.index, question.text, 10, mode)
            ranked = ranked_documents(hits, context.doc_of)
            for k in found:
                found[k] += metrics.hit_at_k(ranked, question.gold_document, k)
        count = max(len(sample), 1)
        row: dict[str, Any] = {f"table_in_top{k}": round(v / count, 4) for k, v in found.items()}
        row["ms_per_query"] = round((time.perf_counter() - started) * 1000 / count, 1)
        report["retrieval"][mode] = row
    pipeline = _pipeline(context, retriever, llm_factory(), 0.0)
    report["answerable_threshold"] = 0.0
    files = {doc: dataset.file_names.get(doc, doc) for doc in dataset.documents}
    for setting in [s for s in SETTINGS if s in options.table_settings]:
        given = setting == "table given"
        started = time.perf_counter()
        right = computed = table_found = 0
        for n, question in enumerate(sample, 1):
            document = files[question.gold_document]
            response = _answer(pipeline, question, document if given else None, options)
            right += metrics.denotation_match(answer_values(response), question.answers)
            computed += response.answer_mode == "computed"
            table_found += bool(response.computation and response.computation.document == document)
            if n % 25 == 0:
                log(f"{setting}: {n}/{len(sample)}, accuracy so far {right / n:.1%}")
        count = max(len(sample), 1)
        report["answers"][setting] = {
            "accuracy": round(right / count, 4),
            "computed": round(computed / count, 4),
            "computed_over_its_table": round(table_found / count, 4),
            "s_per_question": round((time.perf_counter() - started) / count, 2),
        }
        log(f"{setting}: accuracy {right / count:.1%}")
    return report


def _answer(
    pipeline: AnswerPipeline, question: Question, document: str | None, options: EvalOptions
) -> AskResponse:
    filters = FiltersIn(documents=[document] if document else [])
    request = AskRequest(
        question=question.text,
        index=pipeline.settings.default_index,
        top_k=options.top_k,
        filters=filters,
    )
    return pipeline.answer(request)


def answer_values(response: AskResponse) -> list[str]:
    """The values an answer gives: those computed, else its short answer, else its text."""
    if response.computation is not None:
        return response.computation.values
    if not response.answerable:
        return []
    return [response.short_answer or response.answer]
