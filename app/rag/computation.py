"""Answers computed over a table, inside an answer (pipeline.py).

A question is computed when its best source is a row of a table the index keeps
(ingest/tables.py) and it asks for something computed (a count, an extreme, a comparison…:
table_questions.asks_for_computation) or, over a table with numbers or dates, looks a row up
by a cell it names ("what competition did Japan play in 2013?": a filter). A table of text
alone (an FAQ, a list of settings) is computed over only for a count: what else is asked of
it, its text answers. The table is loaded into
a locked in-memory DuckDB connection (table_sql.py) and kept for the next question, and the
LLM's query is run on it (table_answers.py). The answer is its value(s), the query, and the
rows it was computed from, with their cells, so a person can check it; when no query works,
the caller answers from the text and says why.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import PurePosixPath

from app.llm.base import LLM
from app.rag.retriever import Hit
from app.rag.table_answers import MAX_CITED_ROWS, ComputedAnswer, NotComputed, TableAnswerer
from app.rag.table_questions import (
    asks_for_computation,
    asks_for_count,
    entity_column,
    named_cells,
    sum_columns,
    table_description,
)
from app.rag.table_sql import create_table, plain_identifier, restricted_connection
from app.schemas import ComputationOut, TableRowOut
from app.settings import Settings
from ingest.stores import IndexReader
from ingest.table_types import dates_written
from ingest.tables import Table
from ingest.units import Source

_LOADED_TABLES = 8  # tables kept loaded for the next question about them
_SHOWN_VALUES = 20  # values written out in the answer's text


@dataclass(frozen=True)
class TableTarget:
    """The table a question is to be computed over."""

    document: str
    name: str
    # The cells the question names, when routing had to find them (else the answerer does).
    named: list[tuple[str, str]] | None = None


@dataclass
class _Loaded:
    table: Table
    sql_name: str
    identifiers: list[str]
    entity: str | None
    description: str
    sums: dict[str, list[str]]  # the columns totalling others (sum_columns)
    dates: str | None  # how the table writes its dates (table_types.dates_written)
    connection: object
    lock: threading.Lock


@dataclass(frozen=True)
class Computed:
    """A computed answer and the table it was computed over."""

    answer: ComputedAnswer
    table: Table
    sql_name: str

    @property
    def values(self) -> list[str]:
        return self.answer.values


class TableComputation:
    def __init__(self, llm: LLM, settings: Settings):
        self.enabled = settings.table_answers
        self.answerer = TableAnswerer(
            llm,
            settings.table_query_max_rows,
            settings.table_query_timeout_s,
            settings.table_candidates,
        )
        self._loaded: OrderedDict[tuple[str, str, str, str], _Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def target(self, index: IndexReader, hits: list[Hit], question: str) -> TableTarget | None:
        """The table to compute the question over: that of its best source, when that is a
        table's row and the question asks for a computation (or, over a table with numbers or
        dates, looks up what one of its cells names: a filter); else None."""
        if not (self.enabled and hits):
            return None
        chunk = hits[0].chunk
        name = table_of(chunk.source, index.table_names().get(chunk.document) or [])
        if name is None:
            return None
        target = TableTarget(chunk.document, name)
        try:
            loaded = self._load(index, target)
        except NotComputed:
            return None
        typed = any(column.type != "text" for column in loaded.table.columns)
        if asks_for_computation(question):
            return target if typed or asks_for_count(question) else None
        if not typed:
            return None
        with loaded.lock:
            named = named_cells(loaded.connection, loaded.sql_name, question)
        return TableTarget(target.document, target.name, named) if named else None

    def compute(self, index: IndexReader, target: TableTarget, question: str) -> Computed:
        """The question answered by a query over the table; NotComputed with the reason."""
        loaded = self._load(index, target)
        with loaded.lock:
            answer = self.answerer.answer(
                question,
                loaded.connection,
                loaded.sql_name,
                loaded.description,
                loaded.identifiers,
                loaded.entity,
                target.named,
                loaded.sums,
                loaded.dates,
            )
        computed = Computed(answer, loaded.table, loaded.sql_name)
        if not computed.values:
            raise NotComputed("the query over the table found nothing")
        return computed

    def _load(self, index: IndexReader, target: TableTarget) -> _Loaded:
        key = (index.name, index.version, target.document, target.name)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        table = index.table(target.document, target.name)
        if table is None:
            raise NotComputed(f"the index keeps no table {target.name!r} of {target.document}")
        sql_name = table_sql_name(table)
        connection = restricted_connection()
        identifiers = create_table(connection, sql_name, table.columns, table.row_numbers)
        description = table_description(sql_name, table.columns, table.row_numbers)
        entity = entity_column(table.columns)
        sums = sum_columns(table.columns)
        dates = dates_written(table.columns)
        loaded = _Loaded(
            table,
            sql_name,
            identifiers,
            entity,
            description,
            sums,
            dates,
            connection,
            threading.Lock(),
        )
        with self._lock:
            self._loaded[key] = loaded
            while len(self._loaded) > _LOADED_TABLES:
                _, dropped = self._loaded.popitem(last=False)
                dropped.connection.close()
        return loaded


def table_of(source: Source, names: list[str]) -> str | None:
    """The name of the table a chunk is rows of, among its document's tables."""
    if source.sheet is not None:
        return source.sheet if source.sheet in names else None
    if source.json_path is not None:
        within = [n for n in names if source.json_path.startswith(n + "[")]
        return max(within, key=len) if within else None
    return "" if source.rows is not None and "" in names else None


def table_sql_name(table: Table) -> str:
    """The table's name in queries: the file's (and the sheet's) as an identifier."""
    stem = PurePosixPath(table.document).stem
    where = table.name.lstrip("$.") if table.name.startswith("$") else table.name
    name = plain_identifier(f"{stem} {where}") or "data"
    return f"t_{name}" if name[0].isdigit() else name


def computed_text(computed: Computed) -> str:
    """The answer as text: the value(s), then the rows and the query, for any client."""
    values = computed.values
    shown = ", ".join(values[:_SHOWN_VALUES]) + (" …" if len(values) > _SHOWN_VALUES else "")
    answer = computed.answer
    rows = ", ".join(str(r) for r in answer.rows)
    if answer.row_count > len(answer.rows):
        rows += f" … ({answer.row_count} rows in all)"
    plural = "row" if answer.row_count == 1 else "rows"
    return (
        f"{shown}\n\nComputed from {answer.row_count} {plural} of {computed.table.label} "
        f"({plural} {rows}) by the query:\n{answer.sql}"
    )


def computation_out(computed: Computed) -> ComputationOut:
    table, answer = computed.table, computed.answer
    names = _unique([column.name for column in table.columns])
    at = {number: i for i, number in enumerate(table.row_numbers)}
    cited = [
        TableRowOut(
            row=number,
            cells={
                n: _json(c.values[at[number]]) for n, c in zip(names, table.columns, strict=True)
            },
        )
        for number in answer.rows[:MAX_CITED_ROWS]
        if number in at
    ]
    return ComputationOut(
        document=table.document,
        table=table.name,
        label=table.label,
        values=computed.values,
        sql=answer.sql,
        table_name=computed.sql_name,
        columns=answer.result.columns,
        rows=[[_json(v) for v in row] for row in answer.result.rows],
        truncated=answer.result.truncated,
        cited_rows=cited,
        cited_row_count=answer.row_count,
        table_rows=table.row_count,
    )


def _unique(names: list[str]) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(names, 1):
        name = " ".join(name.split()) or f"column {i}"
        out.append(name if name not in out else f"{name} ({i})")
    return out


def _json(value) -> str | int | float | None:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if value is None or isinstance(value, int | float | str):
        return value
    return str(value)


__all__ = ["Computed", "NotComputed", "TableComputation", "TableTarget"]
