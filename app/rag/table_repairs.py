"""A query's comparisons mended to its columns' types, before it is checked and run.

A small model writes SQL as if every cell were text: `introduced = '2010'` for a DATE column
(which the database reads as 2010-01-01, so the other days of 2010 are missed), `date LIKE
'%2010%'` (no LIKE for dates at all), `CAST(x AS REAL)` (a 4-byte float in DuckDB, so 24.2
comes back as 24.200000762939453). Each is rewritten to what it meant: the year of the date,
the cell as text, a double. Cells are compared as the table writes them: `result = 'W'` where
the cells read "W 21–3" finds the cells holding the word. A summary row ("Total") is left
out of what a query computes over, unless the query names it. Questions about rows are
mended to the rows they mean: the row after or before a named one (in time, through a table
listing the latest first), "what other …" without the named cell, "list two …" two of
them. Everything else is left as written.
"""

from __future__ import annotations

import re
from datetime import date

from sqlglot import exp, parse_one

from app.rag.table_sql import ROW_COLUMN, lowered_words, parsed, quote_identifier, quote_text

_YEAR = re.compile(r"^\s*(1[0-9]{3}|20[0-9]{2})\s*$")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def column_types(connection, table: str) -> dict[str, str]:
    """The table's columns and their DuckDB types (`DATE`, `BIGINT`, `VARCHAR`…)."""
    found = connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
        [table],
    ).fetchall()
    return {name: kind.split()[0].upper() for name, kind in found}


def repair_types(sql: str, types: dict[str, str], question: str = "") -> str:
    """The query with a year compared to a date column made the date's year (also a whole
    date whose year the question names, but not its month: "launched in 1944" written as
    `launched = '1944-04-21'`), LIKE on a date or a number made LIKE on its text, and REAL
    casts made DOUBLE; as it was when it does not parse."""
    tree = parsed(sql)
    if tree is None:
        return sql
    mended = False
    for comparison in list(tree.find_all(*_COMPARISONS)):
        mended |= _year_of_date(comparison, types, question.lower())
    if re.search(r"\bsame year\b", question.lower()):
        for comparison in list(tree.find_all(exp.EQ)):
            mended |= _same_year(comparison, types)
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


def either_value(sql: str) -> str:
    """A filter keeping rows whose cell is two values at once (`seat = 'Hindmarsh' AND seat =
    'Hinkler'`, which no row is) made to keep the rows of either (`seat IN ('Hindmarsh',
    'Hinkler')`): the query compares those rows. As it was otherwise."""
    tree = parsed(sql)
    if tree is None:
        return sql
    mended = False
    for conjunction in list(tree.find_all(exp.And)):
        if isinstance(conjunction.parent, exp.And):
            continue  # a link of a longer chain, which is mended whole from its top
        terms = list(conjunction.flatten())
        by_column: dict[str, list[exp.EQ]] = {}
        for term in terms:
            compared = isinstance(term, exp.EQ) and isinstance(term.this, exp.Column)
            if compared and isinstance(term.expression, exp.Literal):
                by_column.setdefault(term.this.sql(), []).append(term)
        apart = [eqs for eqs in by_column.values() if len({_value(e) for e in eqs}) > 1]
        if not apart:
            continue
        merged = {id(e) for eqs in apart for e in eqs}
        kept = [t for t in terms if id(t) not in merged]
        kept += [
            exp.In(this=eqs[0].this.copy(), expressions=[e.expression.copy() for e in eqs])
            for eqs in apart
        ]
        conjunction.replace(exp.and_(*kept, copy=False) if len(kept) > 1 else kept[0])
        mended = True
    return tree.sql(dialect="duckdb") if mended else sql


def _value(comparison: exp.EQ) -> str:
    return comparison.expression.this.lower()


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
    Trish Worth?") or as the cells after it in the alphabet (`WHERE member > 'Trish Worth'`),
    made the row that follows it in the file (or precedes it). As it was when the question
    asks for no neighbour of a cell it names, or the query does not filter on that cell."""
    asked = lowered_words(question)
    tree = parsed(sql)
    where = tree.args.get("where") if isinstance(tree, exp.Select) else None
    if where is None:
        return sql
    for column, value in named:
        words = lowered_words(value)
        after = re.search(rf"\b({_AFTER})\b( \w+){{0,2}} {re.escape(words)}\b", asked)
        before = re.search(rf"\b({_BEFORE})\b( \w+){{0,2}} {re.escape(words)}\b", asked)
        if not (after or before) or not _filters_on(where, column, value):
            continue
        step = "+ 1" if after else "- 1"
        row, source = quote_identifier(ROW_COLUMN), quote_identifier(table)
        neighbour = parse_one(
            f"SELECT 1 FROM {source} WHERE {row} IN (SELECT {row} {step} FROM {source} "
            f"WHERE {quote_identifier(column)} = {quote_text(value)})",
            read="duckdb",
        ).args["where"]
        tree.set("where", neighbour)
        tree.set("order", None)
        return tree.sql(dialect="duckdb")
    return sql


# Words placing a row in time ("previous to", "won after"), not on the page ("listed after").
_IN_TIME = re.compile(r"\b(before|previous|preceding|prior|earlier|after|following|later)\b")
_ON_PAGE = re.compile(r"\b(list|listed|comes?|above|below|row|table|chart)\b")


def newest_first(sql: str, question: str, connection, table: str, types: dict[str, str]) -> str:
    """A query stepping through the rows for a question about time ("which team won previous
    to Crettyard?") over a table that lists the latest year first, made to step the other
    way: a smaller row there is a later time. As it was when the table runs oldest first, the
    question is about the page, or the query does not step through rows."""
    asked = question.lower()
    if not _IN_TIME.search(asked) or _ON_PAGE.search(asked):
        return sql
    tree = parsed(sql)
    rows = [c for c in tree.find_all(exp.Column) if c.name == ROW_COLUMN] if tree else []
    if not rows or not _runs_backwards(connection, table, types):
        return sql
    mended = False
    for column in rows:
        column.this.set("quoted", True)  # `row < (…)` unquoted reads as a ROW type
        step = column.parent
        if isinstance(step, (exp.Add, exp.Sub)) and isinstance(step.expression, exp.Literal):
            flipped = exp.Sub if isinstance(step, exp.Add) else exp.Add
            step.replace(flipped(this=step.this.copy(), expression=step.expression.copy()))
            mended = True
        elif isinstance(step, tuple(_FLIPPED)):
            step.replace(
                _FLIPPED[type(step)](this=step.this.copy(), expression=step.expression.copy())
            )
            mended = True
    if not mended:
        # An order by row alone ("WHERE year < 2005 ORDER BY row LIMIT 1") is as meant.
        return sql
    for ordered in tree.find_all(exp.Ordered):
        if isinstance(ordered.this, exp.Column) and ordered.this.name == ROW_COLUMN:
            ordered.set("desc", not ordered.args.get("desc"))
    return tree.sql(dialect="duckdb")


_FLIPPED = {exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE}


def _runs_backwards(connection, table: str, types: dict[str, str]) -> bool:
    """Whether a date or year column only ever falls from one row to the next (it falls at
    least twice): the table lists the latest first."""
    timed = [
        name
        for name, kind in types.items()
        if kind == "DATE" or (kind == "BIGINT" and re.search(r"year|season", name))
    ]
    row = quote_identifier(ROW_COLUMN)
    for name in timed:
        column = quote_identifier(name)
        rises, falls = connection.execute(
            f"SELECT count(*) FILTER (WHERE now > before), count(*) FILTER (WHERE now < before) "
            f"FROM (SELECT {column} AS now, lag({column}) OVER (ORDER BY {row}) AS before "
            f"FROM {quote_identifier(table)} WHERE {column} IS NOT NULL)"
        ).fetchone()
        if rises == 0 and falls >= 2:
            return True
    return False


def _filters_on(where: exp.Where, column: str, value: str) -> bool:
    """Whether the WHERE compares the column with the value (`=`, or `<`, `>` as text)."""
    return any(
        isinstance(eq.this, exp.Column)
        and eq.this.name == column
        and isinstance(eq.expression, exp.Literal)
        and eq.expression.this.lower() == value.lower()
        for eq in where.find_all(*_COMPARISONS)
    )


def _year_of_date(comparison: exp.Expression, types: dict[str, str], asked: str) -> bool:
    """`d = '2010'` over a DATE column d is `year(d) = 2010` (either side); so is `d =
    '2010-05-01'` when the question names 2010 but not May."""
    left, right = comparison.this, comparison.expression
    for column, value in ((left, right), (right, left)):
        if not isinstance(column, exp.Column) or types.get(column.name) != "DATE":
            continue
        if not isinstance(value, exp.Literal):
            continue
        year = value.this if _YEAR.match(value.this) else _year_asked_alone(value.this, asked)
        if year is not None:
            column.replace(exp.func("year", column.copy()))
            value.replace(exp.Literal.number(int(year)))
            return True
    return False


def _same_year(comparison: exp.EQ, types: dict[str, str]) -> bool:
    """`d = (SELECT d FROM … WHERE name = 'X')` over a DATE column d, for a question about
    "the same year as X", is `year(d) = (SELECT year(d) …)`."""
    column, other = comparison.this, comparison.expression
    if not isinstance(column, exp.Column) or types.get(column.name) != "DATE":
        return False
    inner = other.this if isinstance(other, exp.Subquery) else None
    if not isinstance(inner, exp.Select) or len(inner.expressions) != 1:
        return False
    selected = inner.expressions[0]
    if not isinstance(selected, exp.Column) or types.get(selected.name) != "DATE":
        return False
    column.replace(exp.func("year", column.copy()))
    selected.replace(exp.func("year", selected.copy()))
    return True


_RANKS = re.compile(r"\b(\w+est|most|least|fewest|top|first|last|best|worst)\b")
_HOW_MANY_ASKED = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
# "name a country …", "list two pylons …"; not "give a list of …", "name the number of …".
_ASKED_FOR_N = re.compile(
    r"\b(list|name|give|identify|what are|which are)( any| the| only)? "
    r"(a|an|one|two|three|four|five|[1-5])\b(?! (list|number|total|count|summary)\b)"
)


def as_many_as_asked(sql: str, question: str) -> str:
    """A query for "list two pylons that …" ("name a …": one) that would return them all,
    limited to the two first in the file's order (in its own order when the question ranks
    them: "name two of the tallest"); as it was when the question asks for no number of
    them, or the query limits itself."""
    asked = _ASKED_FOR_N.search(question.lower())
    tree = parsed(sql)
    if asked is None or not isinstance(tree, exp.Select) or tree.args.get("limit"):
        return sql
    if _aggregates_rows(tree):
        return sql
    word = asked.group(3)
    count = int(word) if word.isdigit() else _HOW_MANY_ASKED[word]
    if not _RANKS.search(re.sub(r"\bat (most|least)\b", " ", question.lower())):
        tree.set("order", None)
        tree = tree.order_by(exp.column(ROW_COLUMN, quoted=True), copy=False)
    return tree.limit(count, copy=False).sql(dialect="duckdb")


def _aggregates_rows(tree: exp.Select) -> bool:
    return bool(tree.args.get("group") or tree.find(exp.AggFunc))


def grouped_for_order(sql: str) -> str:
    """A query ranking the values it selects by an aggregate with no GROUP BY ("SELECT team
    FROM t ORDER BY count(*) DESC LIMIT 1" for the team listed most often) made to group by
    them, as it means; as it was otherwise."""
    tree = parsed(sql)
    if not isinstance(tree, exp.Select) or tree.args.get("group"):
        return sql
    order = tree.args.get("order")
    if order is None or not order.find(exp.AggFunc):
        return sql
    selected = [e.unalias() for e in tree.expressions]
    if not selected or any(isinstance(e, exp.Star) or e.find(exp.AggFunc) for e in selected):
        return sql
    tree.set("group", exp.Group(expressions=[e.copy() for e in selected]))
    return tree.sql(dialect="duckdb")


def other_than_named(sql: str, question: str, named: list[tuple[str, str]]) -> str:
    """A query for "what other competition …" kept to the competition the question names
    (`WHERE competition = 'Central American Championships'`) made to leave it out: the
    answer is another one of the column it selects. As it was otherwise."""
    tree = parsed(sql)
    if not isinstance(tree, exp.Select) or not re.search(r"\bother\b", question.lower()):
        return sql
    where = tree.args.get("where")
    selected = {_unaliased_name(e) for e in tree.expressions}
    cells = {(c, v.lower()) for c, v in named}
    mended = False
    for eq in list(where.find_all(exp.EQ)) if where is not None else []:
        column, value = eq.this, eq.expression
        if not (isinstance(column, exp.Column) and isinstance(value, exp.Literal)):
            continue
        if eq.find_ancestor(exp.Select) is not tree or column.name not in selected:
            continue
        if (column.name, value.this.lower()) in cells:
            eq.replace(exp.NEQ(this=column.copy(), expression=value.copy()))
            mended = True
    return tree.sql(dialect="duckdb") if mended else sql


def _unaliased_name(expression: exp.Expression) -> str:
    inner = expression.this if isinstance(expression, exp.Alias) else expression
    return inner.name if isinstance(inner, exp.Column) else ""


def _year_asked_alone(text: str, asked: str) -> str | None:
    """The year of an ISO date the question names by its year only ("in 1944"), else None."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    month = day.strftime("%B").lower()
    if not re.search(rf"\b{day.year}\b", asked) or re.search(rf"\b{month[:3]}", asked):
        return None
    return str(day.year)


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
    as a word (`result = 'W'`, the cells "W 21–3"; `introduced = 2010`, the cells "May 2010";
    `city IN ('Los Angeles', 'Toronto')`, the cells "United States, Los Angeles"…), made to
    find the cells holding it; a year also finds them where some cells are the year alone. As
    it was otherwise."""
    tree = parsed(sql)
    if tree is None:
        return sql
    mended = False
    for comparison in list(tree.find_all(exp.EQ, exp.In)):
        column, values = comparison.this, comparison.expressions
        if isinstance(comparison, exp.EQ):
            column, value = comparison.this, comparison.expression
            if isinstance(value, exp.Column) and isinstance(column, exp.Literal):
                column, value = value, column
            values = [value]
        if not isinstance(column, exp.Column) or types.get(column.name) != "VARCHAR":
            continue
        if not values or not all(isinstance(v, exp.Literal) and v.this.strip() for v in values):
            continue
        words = [_held_as_word(connection, table, column.name, v.this) for v in values]
        if not any(words):
            continue
        found = [
            exp.func("regexp_matches", column.copy(), exp.Literal.string(word))
            if word
            else exp.EQ(this=column.copy(), expression=value.copy())
            for word, value in zip(words, values, strict=True)
        ]
        either = found[0] if len(found) == 1 else exp.paren(exp.or_(*found, copy=False))
        comparison.replace(either)
        mended = True
    return tree.sql(dialect="duckdb") if mended else sql


def _held_as_word(connection, table: str, column: str, value: str) -> str | None:
    """The pattern finding the value as a word of the column's cells, when the cells are to
    be found so: no cell is the value (or it is a year) and some hold it; else None."""
    word = _word_pattern(value)
    quoted = quote_identifier(column)
    equal, holding = connection.execute(
        f"SELECT count(*) FILTER (WHERE {quoted} = ?), "
        f"count(*) FILTER (WHERE regexp_matches({quoted}, ?) AND {quoted} <> ?) "
        f"FROM {quote_identifier(table)}",
        [value, word, value],
    ).fetchone()
    if holding == 0 or (equal > 0 and not _YEAR.match(value)):
        return None
    return word


def _word_pattern(text: str) -> str:
    """A regular expression (RE2) finding `text` as a word of a cell, without regard to case."""
    escaped = re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text.strip())
    return f"(?i)(^|[^[:alnum:]]){escaped}([^[:alnum:]]|$)"
