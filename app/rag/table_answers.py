"""Answering a question over one table by a query the LLM writes: checked, run bounded, retried
once with the database's error, and answered with the rows it was computed from.

The rows cited are those the answer rests on: the rows the query returns (a ranking, a lookup:
the query is run again with the row column added, when it did not select it), else the rows
its WHERE keeps (a count or a sum of some rows), else every row (an aggregate over the whole
table). A person can check each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp, parse_one

from app.llm.base import LLM, GenerationParams
from app.rag.table_questions import extract_sql, sql_messages
from app.rag.table_sql import ROW_COLUMN, QueryFailed, QueryResult, UnsafeQuery, run_select

MAX_CITED_ROWS = 20


class NotComputed(RuntimeError):
    """The question could not be answered by a query (the reason is for the notice); the
    caller answers from the text instead."""


@dataclass(frozen=True)
class ComputedAnswer:
    sql: str  # the query that ran
    result: QueryResult
    rows: list[int]  # the file's row numbers the answer rests on (at most MAX_CITED_ROWS)
    row_count: int  # how many rows it rests on in all
    attempts: int  # 1, or 2 when the first query failed

    @property
    def values(self) -> list[str]:
        """The answer's values: the result's cells, the row column aside."""
        keep = [i for i, name in enumerate(self.result.columns) if name != ROW_COLUMN]
        return [_text(row[i]) for row in self.result.rows for i in keep]


class TableAnswerer:
    def __init__(self, llm: LLM, max_rows: int = 200, timeout_s: float = 5.0):
        self.llm = llm
        self.max_rows = max_rows
        self.timeout_s = timeout_s

    def answer(self, question: str, connection, table: str, description: str) -> ComputedAnswer:
        error: tuple[str, str] | None = None
        for attempt in (1, 2):
            reply = self.llm.complete(
                sql_messages(question, description, error), GenerationParams(max_tokens=200)
            )
            sql = extract_sql(reply.text)
            try:
                result = run_select(connection, sql, table, self.max_rows, self.timeout_s)
            except (UnsafeQuery, QueryFailed) as exc:
                error = (sql, str(exc))
                continue
            rows, count = self._cited_rows(connection, sql, table, result)
            return ComputedAnswer(sql, result, rows, count, attempt)
        assert error is not None
        raise NotComputed(f"the query written for the table failed twice ({error[1]})")

    def _cited_rows(
        self, connection, sql: str, table: str, result: QueryResult
    ) -> tuple[list[int], int]:
        if ROW_COLUMN in result.columns:
            at = result.columns.index(ROW_COLUMN)
            rows = sorted({int(row[at]) for row in result.rows if row[at] is not None})
            return rows[:MAX_CITED_ROWS], len(rows)
        tree = _direct_select(sql, table)
        if tree is not None and not _aggregates(tree):
            with_rows = tree.copy().select(exp.column(ROW_COLUMN, quoted=True), copy=False)
            found = run_select(
                connection, with_rows.sql(dialect="duckdb"), table, self.max_rows, self.timeout_s
            )
            rows = sorted({int(row[-1]) for row in found.rows if row[-1] is not None})
            return rows[:MAX_CITED_ROWS], len(rows)
        where = tree.args.get("where") if tree is not None else None
        where = where.this.sql(dialect="duckdb") if where is not None else None
        condition = f" WHERE {where}" if where else ""
        numbers = run_select(
            connection,
            f'SELECT "{ROW_COLUMN}" FROM "{table}"{condition} ORDER BY 1',
            table,
            MAX_CITED_ROWS,
            self.timeout_s,
        )
        total = run_select(connection, f'SELECT count(*) FROM "{table}"{condition}', table)
        return [int(r[0]) for r in numbers.rows], int(total.rows[0][0])


def _direct_select(sql: str, table: str) -> exp.Select | None:
    """The query, when it is a plain SELECT that reads the table directly (no CTE, join, set
    operation or subquery in its FROM); else None."""
    tree = parse_one(sql, read="duckdb")
    if not isinstance(tree, exp.Select) or tree.args.get("with") or tree.args.get("joins"):
        return None
    source = tree.args.get("from_") or tree.args.get("from")
    if source is None or not isinstance(source.this, exp.Table) or source.this.name != table:
        return None
    return tree


def _aggregates(tree: exp.Select) -> bool:
    """Whether the query computes over groups of rows (then no one row is its answer)."""
    return bool(tree.args.get("group") or tree.args.get("distinct") or tree.find(exp.AggFunc))


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)
