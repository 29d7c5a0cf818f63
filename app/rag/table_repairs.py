"""A query's comparisons mended to its columns' types, before it is checked and run.

A small model writes SQL as if every cell were text: `introduced = '2010'` for a DATE column
(which the database reads as 2010-01-01, so the other days of 2010 are missed), `date LIKE
'%2010%'` (no LIKE for dates at all), `CAST(x AS REAL)` (a 4-byte float in DuckDB, so 24.2
comes back as 24.200000762939453). Each is rewritten to what it meant: the year of the date,
the cell as text, a double. Cells are compared as the table writes them: `result = 'W'` where
the cells read "W 21–3" finds the cells holding the word. A summary row ("Total") is left
out of what a query computes over, unless the query names it. Everything else is left as
written.
"""

from __future__ import annotations

import re

from sqlglot import exp, parse_one

from app.rag.table_sql import ROW_COLUMN, parsed, quote_identifier, quote_text

_YEAR = re.compile(r"^\s*(1[0-9]{3}|20[0-9]{2})\s*$")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def column_types(connection, table: str) -> dict[str, str]:
    """The table's columns and their DuckDB types (`DATE`, `BIGINT`, `VARCHAR`…)."""
    found = connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
        [table],
    ).fetchall()
    return {name: kind.split()[0].upper() for name, kind in found}


def repair_types(sql: str, types: dict[str, str]) -> str:
    """The query with a year compared to a date column made the date's year, LIKE on a date
    or a number made LIKE on its text, and REAL casts made DOUBLE; as it was when it does
    not parse."""
    tree = parsed(sql)
    if tree is None:
        return sql
    mended = False
    for comparison in list(tree.find_all(*_COMPARISONS)):
        mended |= _year_of_date(comparison, types)
    for like in list(tree.find_all(exp.Like, exp.ILike)):
        column = like.this
        if isinstance(column, exp.Column) and types.get(column.name, "VARCHAR") != "VARCHAR":
            column.replace(exp.cast(column.copy(), "VARCHAR"))
            mended = True
    for kind in list(tree.find_all(exp.DataType)):
        if kind.this == exp.DataType.Type.FLOAT:
            kind.replace(exp.DataType.build("DOUBLE"))
            mended = True
    # Unmended, the query stays as written (sqlglot would rewrite what it half understood).
    return tree.sql(dialect="duckdb") if mended else sql


def widen_to_named(sql: str, named: list[tuple[str, str]]) -> str:
    """The query kept to one of two cells the question names in the same column ("which is
    larger, Angul or Cuttack?" written as `district = 'Angul'`) widened to all of them
    (`district IN ('Angul', 'Cuttack')`); as it was when it names them all, or none."""
    by_column: dict[str, list[str]] = {}
    for column, value in named:
        by_column.setdefault(column, []).append(value)
    tree = parsed(sql)
    if tree is None:
        return sql
    written = {lit.this.lower() for lit in tree.find_all(exp.Literal) if lit.is_string}
    mended = False
    for comparison in list(tree.find_all(exp.EQ)):
        column, value = comparison.this, comparison.expression
        if not (isinstance(column, exp.Column) and isinstance(value, exp.Literal)):
            continue
        values = by_column.get(column.name, [])
        if len(values) < 2 or value.this.lower() not in {v.lower() for v in values}:
            continue
        if sum(v.lower() in written for v in values) == 1:
            comparison.replace(
                exp.In(this=column.copy(), expressions=[exp.Literal.string(v) for v in values])
            )
            mended = True
    return tree.sql(dialect="duckdb") if mended else sql


_AFTER = r"after|next|following|below|behind"
_BEFORE = r"before|previous|preceding|prior|above|ahead of"


def adjacent_rows(sql: str, question: str, named: list[tuple[str, str]], table: str) -> str:
    """A query for the row after (or before) the one a question names, written as that row
    itself (`WHERE member = 'Trish Worth' ORDER BY row LIMIT 1` for "who comes next after
    Trish Worth?"), made the row that follows it in the file (or precedes it). As it was
    when the question asks for no neighbour of a cell it names, or the query does not filter
    on that cell."""
    asked = " ".join(re.sub(r"[^\w]+", " ", question.lower()).split())
    tree = parsed(sql)
    where = tree.args.get("where") if isinstance(tree, exp.Select) else None
    if where is None:
        return sql
    for column, value in named:
        words = " ".join(re.sub(r"[^\w]+", " ", value.lower()).split())
        after = re.search(rf"\b({_AFTER})\b( \w+){{0,2}} {re.escape(words)}\b", asked)
        before = re.search(rf"\b({_BEFORE})\b( \w+){{0,2}} {re.escape(words)}\b", asked)
        if not (after or before) or not _filters_on(where, column, value):
            continue
        step = "+ 1" if after else "- 1"
        row, named = quote_identifier(ROW_COLUMN), quote_identifier(table)
        neighbour = parse_one(
            f"SELECT 1 FROM {named} WHERE {row} IN (SELECT {row} {step} FROM {named} "
            f"WHERE {quote_identifier(column)} = {quote_text(value)})",
            read="duckdb",
        ).args["where"]
        tree.set("where", neighbour)
        tree.set("order", None)
        return tree.sql(dialect="duckdb")
    return sql


def _filters_on(where: exp.Where, column: str, value: str) -> bool:
    return any(
        isinstance(eq.this, exp.Column)
        and eq.this.name == column
        and isinstance(eq.expression, exp.Literal)
        and eq.expression.this.lower() == value.lower()
        for eq in where.find_all(exp.EQ)
    )


def _year_of_date(comparison: exp.Expression, types: dict[str, str]) -> bool:
    """`d = '2010'` over a DATE column d is `year(d) = 2010` (either side)."""
    left, right = comparison.this, comparison.expression
    for column, value in ((left, right), (right, left)):
        if not isinstance(column, exp.Column) or types.get(column.name) != "DATE":
            continue
        if isinstance(value, exp.Literal) and _YEAR.match(value.this):
            column.replace(exp.func("year", column.copy()))
            value.replace(exp.Literal.number(int(value.this)))
            return True
    return False


# A cell that says its row sums the others: "Total", "Totals", "Grand total".
_SUMMARY_CELL = re.compile(r"^\s*(grand |overall )?totals?:?\s*$", re.IGNORECASE)


def is_summary_cell(value) -> bool:
    """Whether a cell marks its row as the total of the others."""
    return isinstance(value, str) and bool(_SUMMARY_CELL.match(value))


def summary_rows(connection, table: str, types: dict[str, str]) -> list[int]:
    """The row numbers of the table's summary rows (a text cell "Total", "Totals"…)."""
    text = [name for name, kind in types.items() if kind == "VARCHAR"]
    if not text:
        return []
    marked = " OR ".join(f"regexp_full_match({quote_identifier(c)}, ?)" for c in text)
    pattern = f"(?i){_SUMMARY_CELL.pattern}"  # the same expression in RE2
    found = connection.execute(
        f"SELECT {quote_identifier(ROW_COLUMN)} FROM {quote_identifier(table)} "
        f"WHERE {marked} ORDER BY 1",
        [pattern] * len(text),
    ).fetchall()
    return [int(number) for (number,) in found]


def without_summary_rows(sql: str, table: str, rows: list[int]) -> str:
    """The query with the table's summary rows left out of every SELECT that reads the table
    (a "Total" row ranks first by gold medals, and doubles a sum); as it was when the query
    names one of them ('Total'), or there are none."""
    tree = parsed(sql)
    if tree is None or not rows:
        return sql
    if any(lit.is_string and is_summary_cell(lit.this) for lit in tree.find_all(exp.Literal)):
        return sql
    mended = False
    for select in list(tree.find_all(exp.Select)):
        source = select.args.get("from_") or select.args.get("from")
        if select.args.get("joins") or source is None:
            continue
        read = source.this
        if not isinstance(read, exp.Table) or read.name != table:
            continue
        number = exp.column(ROW_COLUMN, table=read.alias or None, quoted=True)
        kept = exp.Not(this=exp.In(this=number, expressions=[exp.Literal.number(r) for r in rows]))
        select.where(kept, copy=False)
        mended = True
    return tree.sql(dialect="duckdb") if mended else sql


def contained_cells(sql: str, connection, table: str, types: dict[str, str]) -> str:
    """The query with a text column compared to a value no cell of it is, but some cells hold
    as a word (`result = 'W'`, the cells "W 21–3"; `introduced = 2010`, the cells "May 2010"),
    made to find the cells holding it; a year also finds them where some cells are the year
    alone. As it was otherwise."""
    tree = parsed(sql)
    if tree is None:
        return sql
    mended = False
    for comparison in list(tree.find_all(exp.EQ)):
        column, value = comparison.this, comparison.expression
        if isinstance(value, exp.Column) and isinstance(column, exp.Literal):
            column, value = value, column
        if not isinstance(column, exp.Column) or not isinstance(value, exp.Literal):
            continue
        if types.get(column.name) != "VARCHAR" or not value.this.strip():
            continue
        word = _word_pattern(value.this)
        quoted = quote_identifier(column.name)
        equal, holding = connection.execute(
            f"SELECT count(*) FILTER (WHERE {quoted} = ?), "
            f"count(*) FILTER (WHERE regexp_matches({quoted}, ?) AND {quoted} <> ?) "
            f"FROM {quote_identifier(table)}",
            [value.this, word, value.this],
        ).fetchone()
        if holding == 0 or (equal > 0 and not _YEAR.match(value.this)):
            continue
        comparison.replace(exp.func("regexp_matches", column.copy(), exp.Literal.string(word)))
        mended = True
    return tree.sql(dialect="duckdb") if mended else sql


def _word_pattern(text: str) -> str:
    """A regular expression (RE2) finding `text` as a word of a cell, without regard to case."""
    escaped = re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text.strip())
    return f"(?i)(^|[^[:alnum:]]){escaped}([^[:alnum:]]|$)"
