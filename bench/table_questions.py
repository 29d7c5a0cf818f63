"""Questions computed over a table, with the table given: WikiTableQuestions (the shared
sample) answered by the configured LLM writing one checked SELECT per question.

Each question's own table is read as the product reads a CSV file and its cells
(ingest/loaders/csv.py, ingest/table_types.py), loaded into a locked DuckDB connection, and
handed with the question to TableAnswerer; the answer's values are scored as the dataset's
authors score them (app/eval/metrics.denotation_match).

    python bench/table_questions.py [--skip 60] [--limit 100] [--candidates 5] [--details out.json]

Each question's outcome is printed to stderr as it is answered.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import ROOT, machine, print_table, write_result

from app.eval.datasets import load_wtq
from app.eval.metrics import denotation_match
from app.llm import create_llm
from app.rag.table_answers import NotComputed, TableAnswerer
from app.rag.table_questions import entity_column, sum_columns, table_description
from app.rag.table_sql import create_table, restricted_connection
from app.settings import Settings
from ingest.loaders.csv import numbered_records
from ingest.table_types import dates_written, infer_column

WTQ = ROOT.parent / "shared" / "datasets" / "wtq-sample"


def load_table(connection, name: str, text: str):
    records = numbered_records(text)
    header = list(dict.fromkeys(key for _, record in records for key in record))
    columns = [infer_column(key, [record.get(key, "") for _, record in records]) for key in header]
    numbers = [number for number, _ in records]
    identifiers = create_table(connection, name, columns, numbers)
    description = table_description(name, columns, numbers)
    return (
        description,
        identifiers,
        entity_column(columns),
        sum_columns(columns),
        dates_written(columns),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    parser.add_argument("--skip", type=int, default=0, help="start after the first N questions")
    parser.add_argument(
        "--candidates", type=int, default=None, help="queries per question (default: setting)"
    )
    parser.add_argument("--details", type=Path, help="write each question's query and answer")
    args = parser.parse_args()
    dataset = load_wtq(WTQ)
    end = None if args.limit is None else args.skip + args.limit
    questions = dataset.questions[args.skip : end]
    settings = Settings(_env_file=None)
    llm = create_llm(settings)
    llm.load()
    candidates = args.candidates or settings.table_candidates
    answerer = TableAnswerer(llm, candidates=candidates)
    connection = restricted_connection()
    tables: dict[str, tuple] = {}
    right = failed = retried = 0
    seconds, details = [], []
    for question in questions:
        if question.gold_document not in tables:
            name = f"t{len(tables)}"
            text = dataset.documents[question.gold_document]
            tables[question.gold_document] = (name, *load_table(connection, name, text))
        name, description, identifiers, entity, sums, dates = tables[question.gold_document]
        started = time.perf_counter()
        try:
            answer = answerer.answer(
                question.text,
                connection,
                name,
                description,
                identifiers,
                entity,
                sums=sums,
                dates=dates,
            )
            correct = denotation_match(answer.values, question.answers)
            right += correct
            retried += answer.attempts > 1
            found = {"sql": answer.sql, "values": answer.values[:10], "right": correct}
        except NotComputed as exc:
            failed += 1
            found = {"failed": str(exc)}
        seconds.append(time.perf_counter() - started)
        details.append({"question": question.text, "gold": question.answers, **found})
        mark = "right" if found.get("right") else ("not computed" if "failed" in found else "wrong")
        print(
            f"{len(seconds)}/{len(questions)} {mark:12} {seconds[-1]:5.1f} s  "
            f"{right}/{len(seconds)} so far  {question.text}",
            file=sys.stderr,
            flush=True,
        )
    count = len(questions)
    result = {
        "machine": machine(),
        "model": llm.model,
        "questions": count,
        "skipped": args.skip,
        "candidates": candidates,
        "accuracy": round(right / count, 4),
        "not_computed": failed,
        "retried": retried,
        "seconds_per_question": round(sum(seconds) / count, 2),
    }
    print_table(
        "WikiTableQuestions sample, table given",
        ["model", "candidates", "questions", "accuracy", "not computed", "retried", "s/question"],
        [
            [
                llm.model,
                candidates,
                count,
                f"{right / count:.1%}",
                failed,
                retried,
                result["seconds_per_question"],
            ]
        ],
    )
    if args.details:
        args.details.write_text(json.dumps(details, indent=1, ensure_ascii=False))
    out = write_result("table_questions", result)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
