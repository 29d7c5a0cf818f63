"""Answering a question over one table by a query the LLM writes: checked, run bounded, retried
once with the database's error, and answered with the rows it was computed from.

The rows cited are those the answer rests on: the rows the query returns (a ranking, a lookup:
the query is run again with the row column added, when it did not select it), else the rows
its WHERE keeps (a count or a sum of some rows), else every row (an aggregate over the whole
table). A person can check each one.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date

from sqlglot import exp

from app.llm.base import LLM, GenerationParams
from app.rag.table_names import resolve_names, resolve_values
from app.rag.table_numbers import as_numbers, number_columns, read_as
from app.rag.table_questions import asks_for_count, extract_sql, named_cells, sql_messages
from app.rag.table_repairs import (
    adjacent_rows,
    as_many_as_asked,
    column_types,
    contained_cells,
    either_value,
    grouped_for_order,
    newest_first,
    other_than_named,
    repair_types,
    summary_rows,
    widen_to_named,
    without_summary_rows,
)
from app.rag.table_sql import (
    ROW_COLUMN,
    QueryFailed,
    QueryResult,
    UnsafeQuery,
    lowered_words,
    parsed,
    quote_identifier,
    run_select,
)
from ingest.table_types import write_date

MAX_CITED_ROWS = 20
_FOUND_NOTHING = "it found nothing: compare with the cells as the table has them"
_COUNTED_NOTHING = "it counted nothing: compare with the cells as the table has them"
_NUMBER_TYPES = ("BIGINT", "DOUBLE", "INTEGER", "DECIMAL", "HUGEINT")
_DIFFERENCE = re.compile(r"\b(difference|how (many|much) (more|less|fewer))\b", re.IGNORECASE)


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
    # "How many …?" answered with the rows themselves: the answer is how many there are.
    counted: int | None = None
    tokens: tuple[int, int] = (0, 0)  # the LLM's prompt and completion tokens, all attempts
    # The result's columns that are the answer, when others only show what it was ranked or
    # filtered by ("name, height … ORDER BY height": the name); None: all of them.
    answer_columns: tuple[int, ...] | None = None
    dates: str | None = None  # how the table writes its dates (table_types.date_pattern)

    @property
    def values(self) -> list[str]:
        """The answer's values: the result's cells, the row column and blank cells aside; for
        a count answered with rows, their number."""
        if self.counted is not None:
            return [str(self.counted)]
        keep = self.answer_columns
        if keep is None:
            keep = _value_columns(self.result)
        cells = [_text(row[i], self.dates) for row in self.result.rows for i in keep]
        return [cell for cell in cells if cell != ""]


class TableAnswerer:
    """Asks the LLM for queries over one table and answers with what they compute.

    The first query is written greedily. One that fails (or finds nothing) is written again
    with the database's error, sampled, since the greedy retry repeats the same query almost
    always. With `candidates` above 1, that many more queries are sampled as well and the
    answer is the one most of those that ran agree on (the first written wins a tie): a
    small model writes the right query often enough, but not first."""

    def __init__(self, llm: LLM, max_rows: int = 200, timeout_s: float = 5.0, candidates: int = 1):
        self.llm = llm
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        self.candidates = candidates

    def answer(
        self,
        question: str,
        connection,
        table: str,
        description: str,
        columns: list[str] | None = None,
        entity: str | None = None,
        named: list[tuple[str, str]] | None = None,
        sums: dict[str, list[str]] | None = None,
        dates: str | None = None,
    ) -> ComputedAnswer:
        """The answer computed by the LLM's queries over `table` (described to it as
        `description`); with the table's column identifiers in `columns` (and its first text
        column, `entity`), each query's names are first mended to them (table_names.py);
        `named` is the cells the question names, when the caller has found them already;
        `sums` the columns that total others (table_questions.sum_columns); `dates` how the
        table writes dates, for the values (table_types.date_pattern). NotComputed when no
        query works."""
        asking = _Asking(question, connection, table, description, columns, entity)
        asking.named = named if named is not None else named_cells(connection, table, question)
        asking.types = column_types(connection, table)
        asking.summaries = summary_rows(connection, table, asking.types)
        asking.sums = sums or {}
        asking.dates = dates
        found = [self._attempt(asking, None, 0)]
        if found[0].error is not None:
            found.append(self._attempt(asking, (found[0].sql, found[0].error), 1))
        elif found[0].doubt is not None:
            found.append(self._attempt(asking, (found[0].sql, found[0].doubt), 1))
        for n in range(1, self.candidates):
            found.append(self._attempt(asking, None, 1 + n))
        ran = [f for f in found if f.result is not None and f.doubt is None]
        # A doubtful result is the answer when no query found a better one: a true zero.
        ran = ran or [f for f in found if f.result is not None]
        tokens = (sum(f.tokens[0] for f in found), sum(f.tokens[1] for f in found))
        if not ran:
            failed = next(f for f in reversed(found) if f.error is not None)
            raise NotComputed(f"no query written for the table worked ({failed.error})")
        # Each query's answer as it will be given, then the one most of them support.
        answers = [self._finished(asking, f.sql, f.result, len(found), tokens) for f in ran]
        chosen = _most_supported(answers)
        try:
            rows, count = self._cited_rows(connection, parsed(chosen.sql), table, chosen.result)
        except (UnsafeQuery, QueryFailed):
            # A query too tangled to find its rows in (aliases, correlated subqueries):
            # it read the table, so the table is what it rests on.
            rows, count = self._every_row(connection, table)
        return replace(chosen, rows=rows, row_count=count)

    def _finished(
        self, asking: _Asking, sql: str, result: QueryResult, attempts: int, tokens: tuple
    ) -> ComputedAnswer:
        """The answer a query that ran gives, read as the question means it (`_reread`), its
        rows not yet found."""
        sql, result = self._reread(asking, sql, result)
        tree = parsed(sql)  # it ran, so it parses
        listed = asks_for_count(asking.question) and _listed(result) and not result.truncated
        listed = listed and not _measured_in(asking.question, result)
        counted = len(result.rows) if listed else None
        asked = _offered_columns(asking.question, result) or _asked_columns(
            tree, result, asking.question
        )
        return ComputedAnswer(sql, result, [], 0, attempts, counted, tokens, asked, asking.dates)

    def _attempt(self, asking: _Asking, error: tuple[str, str] | None, n: int) -> _Attempt:
        """One query written (greedily for the first, else sampled with seed n) and run."""
        params = GenerationParams(max_tokens=200)
        if n > 0:
            params = GenerationParams(max_tokens=200, temperature=0.7, top_p=0.95, seed=n)
        messages = sql_messages(asking.question, asking.description, error, asking.named)
        reply = self.llm.complete(messages, params)
        tokens = (reply.prompt_tokens, reply.completion_tokens)
        sql = extract_sql(reply.text)
        if asking.columns is not None:
            sql = resolve_names(sql, asking.table, asking.columns, asking.entity)
        sql = resolve_values(sql, asking.connection, asking.table, asking.types)
        sql = repair_types(sql, asking.types, asking.question)
        sql = either_value(sql)
        sql = grouped_for_order(sql)
        sql = contained_cells(sql, asking.connection, asking.table, asking.types)
        sql = as_numbers(sql, asking.types)
        sql = widen_to_named(sql, asking.named)
        sql = other_than_named(sql, asking.question, asking.named)
        sql = as_many_as_asked(sql, asking.question)
        sql = adjacent_rows(sql, asking.question, asking.named, asking.table)
        sql = newest_first(sql, asking.question, asking.connection, asking.table, asking.types)
        sql = without_summary_rows(sql, asking.table, asking.summaries)
        try:
            result = run_select(asking.connection, sql, asking.table, self.max_rows, self.timeout_s)
        except (UnsafeQuery, QueryFailed) as exc:
            return _Attempt(sql, None, str(exc), tokens)
        if not any(v is not None and v != "" for row in result.rows for v in row):
            # Nothing found is a wrong filter far more often than a true answer.
            return _Attempt(sql, None, _FOUND_NOTHING, tokens)
        if _counted_nothing(sql, result):
            # "How many ships were launched in 1944?" counted as 0: a filter that matches no
            # cell as the table writes it, far more often than a true zero.
            return _Attempt(sql, result, None, tokens, _COUNTED_NOTHING)
        return _Attempt(sql, result, None, tokens)

    def _reread(self, asking: _Asking, sql: str, result: QueryResult) -> tuple[str, QueryResult]:
        """The query read as the question means it, when the query or its result says it was
        written otherwise (`_compared_rows`, `_other_number`, `_meant`); the query shown is
        the one that computed the value."""
        tree = parsed(sql)
        if tree is None:
            return sql, result
        meant = (
            _compared_rows(asking, tree)
            or _other_number(asking, tree)
            or _meant(asking.question, tree, asking.table, result)
        )
        if meant is None:
            return sql, result
        try:
            instead = meant.sql(dialect="duckdb")
            found = run_select(
                asking.connection, instead, asking.table, self.max_rows, self.timeout_s
            )
        except (UnsafeQuery, QueryFailed):
            return sql, result
        return instead, found

    def _cited_rows(
        self, connection, tree: exp.Expression, table: str, result: QueryResult
    ) -> tuple[list[int], int]:
        if ROW_COLUMN in result.columns:
            at = result.columns.index(ROW_COLUMN)
            rows = sorted({int(row[at]) for row in result.rows if row[at] is not None})
            return rows[:MAX_CITED_ROWS], len(rows)
        tree = _direct_select(tree, table)
        if tree is not None and not _aggregates(tree):
            with_rows = tree.copy().select(exp.column(ROW_COLUMN, quoted=True), copy=False)
            found = run_select(
                connection, with_rows.sql(dialect="duckdb"), table, self.max_rows, self.timeout_s
            )
            rows = sorted({int(row[-1]) for row in found.rows if row[-1] is not None})
            return rows[:MAX_CITED_ROWS], len(rows)
        where = tree.args.get("where") if tree is not None else None
        where = where.this.sql(dialect="duckdb") if where is not None else None
        return self._every_row(connection, table, where, tree)

    def _every_row(
        self, connection, table: str, where: str | None = None, tree: exp.Select | None = None
    ) -> tuple[list[int], int]:
        """The rows `where` keeps (every row without one), with the query's alias for the
        table kept, as its WHERE may use it."""
        source = (tree.args.get("from_") or tree.args.get("from")) if tree is not None else None
        alias = source.this.alias if source is not None else ""
        named = quote_identifier(table) + (f" AS {quote_identifier(alias)}" if alias else "")
        condition = f" WHERE {where}" if where else ""
        numbers = run_select(
            connection,
            f"SELECT {quote_identifier(ROW_COLUMN)} FROM {named}{condition} ORDER BY 1",
            table,
            MAX_CITED_ROWS,
            self.timeout_s,
        )
        total = run_select(connection, f"SELECT count(*) FROM {named}{condition}", table)
        return [int(r[0]) for r in numbers.rows], int(total.rows[0][0])


@dataclass
class _Asking:
    """One question put to one table: what every query written for it is made from."""

    question: str
    connection: object
    table: str
    description: str
    columns: list[str] | None
    entity: str | None
    named: list[tuple[str, str]] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    summaries: list[int] = field(default_factory=list)  # its "Total" rows (table_repairs.py)
    sums: dict[str, list[str]] = field(default_factory=dict)  # columns totalling others
    dates: str | None = None  # how the table writes its dates


@dataclass(frozen=True)
class _Attempt:
    sql: str
    result: QueryResult | None  # None when it failed
    error: str | None
    tokens: tuple[int, int]
    doubt: str | None = None  # why a result that ran is likely wrong (then tried once more)


def _most_supported(answers: list[ComputedAnswer]) -> ComputedAnswer:
    """The answer whose values the others support most: each value counts the answers giving
    it, an answer scores the mean of its values' counts (so one adding a value no other gives
    scores less than one without it); the earliest of a tie."""
    given = [frozenset(v.strip().lower() for v in a.values if v.strip()) for a in answers]
    support = Counter(value for values in given for value in values)

    def score(values: frozenset[str]) -> float:
        return sum(support[v] for v in values) / len(values) if values else 0.0

    best = max(range(len(answers)), key=lambda i: (score(given[i]), -i))
    return answers[best]


def _meant(
    question: str, tree: exp.Expression, table: str, result: QueryResult
) -> exp.Select | None:
    """The query the question meant, when the result shows it was written otherwise; else
    None. "How many tickets did Berlin close?" answered with the numbers of each of Berlin's
    rows is their sum; "the difference between A and B" answered with the two numbers
    compared is the size of theirs, and answered with a negative number, its size."""
    direct = _direct_select(tree, table)
    plain = direct is not None and not _aggregates(direct) and len(direct.expressions) == 1
    if plain and _DIFFERENCE.search(question) and _numbers_listed(result) and len(result.rows) == 2:
        number = _unaliased(direct.expressions[0])
        if isinstance(number, exp.Sub) and number.this == number.expression:
            number = number.this  # "runners_up - runners_up" over the two rows
        apart = exp.Sub(this=exp.func("max", number), expression=exp.func("min", number.copy()))
        return _over_all_rows(direct, exp.func("abs", apart))
    if plain and asks_for_count(question) and _numbers_listed(result):
        return _over_all_rows(direct, exp.func("sum", direct.expressions[0].copy()))
    one = isinstance(tree, exp.Select) and len(tree.expressions) == 1
    if one and _DIFFERENCE.search(question) and _one_negative_number(result):
        sized = tree.copy()
        sized.set("expressions", [exp.func("abs", _unaliased(tree.expressions[0]))])
        return sized
    return None


def _compared_rows(asking: _Asking, tree: exp.Expression) -> exp.Select | None:
    """ "How many more medals did Egypt win than Ivory Coast?" asked of a query that keeps
    those two rows (whatever it computes of them: `gold - silver`, one CASE per row) is the
    difference between the two rows of the number the question names ("gold medals": gold),
    or, naming none, of the column totalling those the query used ("medals": total); None
    when the query keeps other rows, or no one number is meant."""
    direct = _direct_select(tree, asking.table)
    where = direct.args.get("where") if direct is not None else None
    if where is None or direct.args.get("group") or not _DIFFERENCE.search(asking.question):
        return None
    kept_columns = {c.name for c in where.find_all(exp.Column)}
    kept_values = {lit.this.lower() for lit in where.find_all(exp.Literal) if lit.is_string}
    compared = Counter(c for c, v in asking.named if c in kept_columns and v.lower() in kept_values)
    if not any(n == 2 for n in compared.values()) or len(compared) != 1:
        return None
    number = _number_meant(asking, direct)
    if number is None:
        return None
    column = exp.column(number, quoted=True)
    apart = exp.Sub(this=exp.func("max", column), expression=exp.func("min", column.copy()))
    return _over_all_rows(direct, exp.func("abs", apart))


def _number_meant(asking: _Asking, tree: exp.Select) -> str | None:
    """The one number column the question names (by its identifier's words), else the one
    column totalling a number column the query selects; None when not one."""
    named = _named_numbers(asking)
    if len(named) == 1:
        return named[0]
    if named:
        return None
    used = {c.name for e in tree.expressions for c in e.find_all(exp.Column)}
    totals = [total for total, parts in asking.sums.items() if used & {total, *parts}]
    return totals[0] if len(totals) == 1 else None


def _named_numbers(asking: _Asking) -> list[str]:
    """The number columns the question names by their identifiers' words ("gold medals":
    gold); "the total number of gold medals" names gold, not a column total."""
    companions = set(number_columns(asking.types).values())
    numeric = [
        n
        for n, kind in asking.types.items()
        if kind in _NUMBER_TYPES and n != ROW_COLUMN and n not in companions
    ]
    asked = lowered_words(asking.question)
    asked = re.sub(r"\btotal (number|amount) of\b", " ", asked)
    return [n for n in numeric if re.search(rf"\b{n.replace('_', ' ')}s?\b", asked)]


def _other_number(asking: _Asking, tree: exp.Expression) -> exp.Select | None:
    """A lookup of one number column the question does not name ("SELECT total … WHERE
    nation = 'Jamaica'" for "the total number of gold medals won by Jamaica") made a lookup
    of the one it names and the query does not filter by (gold); None otherwise."""
    direct = _direct_select(tree, asking.table)
    if direct is None or _aggregates(direct) or len(direct.expressions) != 1:
        return None
    selected = _unaliased(direct.expressions[0])
    if not isinstance(selected, exp.Column) or asking.types.get(selected.name) not in _NUMBER_TYPES:
        return None
    named = _named_numbers(asking)
    where = direct.args.get("where")
    filtered = {c.name for c in where.find_all(exp.Column)} if where is not None else set()
    if len(named) != 1 or named[0] == selected.name or named[0] in filtered:
        return None
    looked_up = direct.copy()
    looked_up.set("expressions", [exp.column(named[0], quoted=True)])
    return looked_up


def _over_all_rows(tree: exp.Select, expression: exp.Expression) -> exp.Select:
    """The query computing `expression` over every row its WHERE keeps (no order or limit)."""
    computed = tree.copy()
    computed.set("expressions", [expression])
    computed.set("order", None)
    computed.set("limit", None)
    return computed


def _counted_nothing(sql: str, result: QueryResult) -> bool:
    """Whether the result is a lone zero computed over a filter (a WHERE or a CASE)."""
    cells = [v for row in result.rows for v in row]
    if len(cells) != 1 or isinstance(cells[0], bool) or cells[0] != 0:
        return False
    tree = parsed(sql)
    return tree is not None and (tree.find(exp.Where) or tree.find(exp.Case)) is not None


def _offered_columns(question: str, result: QueryResult) -> tuple[int, ...] | None:
    """The result's columns whose every value is one of those a question offers ("which
    finished faster, the male or the female?"), when others are not; None otherwise."""
    if " or " not in question.lower():
        return None
    asked = f" {lowered_words(question)} "
    offered, other = [], False
    for i, name in enumerate(result.columns):
        if name == ROW_COLUMN:
            continue
        values = [_text(row[i]) for row in result.rows]
        words = [f" {lowered_words(v)} " for v in values]
        if values and all(w.strip() and w in asked for w in words):
            offered.append(i)
        else:
            other = True
    return tuple(offered) if offered and other else None


def _asked_columns(
    tree: exp.Expression, result: QueryResult, question: str = ""
) -> tuple[int, ...] | None:
    """The result's columns that answer the question, when some of the others are columns
    the query only ranks or filters by: "SELECT name, height … ORDER BY height LIMIT 1" asks
    for the name, and so does "SELECT name, count(*) AS n … ORDER BY n DESC" unless the
    question asks how many. None when every column is the answer."""
    if not isinstance(tree, exp.Select) or len(tree.expressions) != len(result.columns):
        return None
    clauses = [tree.args.get("where"), tree.args.get("order")]
    used = {
        read_as(c.name)
        for clause in clauses
        if clause is not None
        for c in clause.find_all(exp.Column)
    }
    order = tree.args.get("order")
    ranked = {o.this.sql() for o in order.expressions} if order is not None else set()
    counting = asks_for_count(question) or bool(_HOW_MUCH.search(question))
    answer, shown = [], []
    for i, expression in enumerate(tree.expressions):
        if result.columns[i] == ROW_COLUMN:
            continue
        column = _unaliased(expression)
        by = isinstance(column, exp.Column) and read_as(column.name) in used
        if column.find(exp.AggFunc) and not counting:
            by = expression.alias in used or column.sql() in ranked
        (shown if by else answer).append(i)
    return tuple(answer) if answer and shown else None


_HOW_MUCH = re.compile(r"\b(how much|total|amount|sum|average)\b", re.IGNORECASE)


def _measured_in(question: str, result: QueryResult) -> bool:
    """Whether each value the result lists is a measure in what the question counts ("how
    many months" answered with "12 months"): then the values are the answer, not rows to
    count."""
    unit = re.search(r"\bhow many (\w+?)(?:e?s)?\b", question.lower())
    if unit is None:
        return False
    keep = _value_columns(result)
    pattern = re.compile(rf"\b{re.escape(unit.group(1))}(e?s)?\b")
    cells = [_text(row[i]).lower() for row in result.rows for i in keep]
    return bool(cells) and all(pattern.search(cell) for cell in cells)


def _numbers_listed(result: QueryResult) -> bool:
    """Several rows of one number each (years aside): amounts, not a count."""
    keep = _value_columns(result)
    if len(result.rows) < 2 or len(keep) != 1 or result.truncated:
        return False
    values = [row[keep[0]] for row in result.rows]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return numbers and not _listed(result)


def _one_negative_number(result: QueryResult) -> bool:
    cells = [v for row in result.rows for v in row]
    return (
        len(result.rows) == 1
        and len(cells) == 1
        and isinstance(cells[0], (int, float))
        and (cells[0] < 0)
    )


def _value_columns(result: QueryResult) -> list[int]:
    """The result's columns that hold values: all but the row column."""
    return [i for i, name in enumerate(result.columns) if name != ROW_COLUMN]


def _unaliased(expression: exp.Expression) -> exp.Expression:
    return expression.this.copy() if isinstance(expression, exp.Alias) else expression.copy()


def _listed(result: QueryResult) -> bool:
    """Whether the result lists things rather than giving a number: several rows of one
    value each, that value text or a year (a count, asked for and answered with the rows
    counted, is their number)."""
    keep = _value_columns(result)
    if len(result.rows) < 2 or len(keep) != 1:
        return False
    values = [row[keep[0]] for row in result.rows if row[keep[0]] is not None]
    name = result.columns[keep[0]].lower()
    years = all(isinstance(v, int) and 1000 <= v <= 2100 for v in values) and (
        "year" in name or "season" in name
    )
    return bool(values) and (all(isinstance(v, str) for v in values) or years)


def _direct_select(tree: exp.Expression, table: str) -> exp.Select | None:
    """The query, when it is a plain SELECT that reads the table directly (no CTE, join, set
    operation or subquery in its FROM); else None."""
    if not isinstance(tree, exp.Select) or tree.args.get("with") or tree.args.get("joins"):
        return None
    source = tree.args.get("from_") or tree.args.get("from")
    if source is None or not isinstance(source.this, exp.Table) or source.this.name != table:
        return None
    return tree


def _aggregates(tree: exp.Select) -> bool:
    """Whether the query computes over groups of rows (then no one row is its answer)."""
    return bool(tree.args.get("group") or tree.args.get("distinct") or tree.find(exp.AggFunc))


def _text(value, dates: str | None = None) -> str:
    if isinstance(value, date):
        return write_date(value, dates)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)
