"""Text columns of numbers, read as numbers where a query uses them as numbers.

A column whose cells mostly show numbers but not all ("1974 (downgraded in 1994)", "792
(241)", "26,277 killed", a "Totals" or "n/d" among them) stays text, each cell as written: a
query selecting it shows the cells. A small model still writes it as the number it looks
like: `killed BETWEEN 3000 AND 4200`, `CAST(height AS INT)`, `ORDER BY qual DESC`, `car - 1`,
which fail on the text or order "99" after "142". Such a use is made a use of the column's
companion holding the numbers its cells show (table_sql.NUMBERS); selecting the column, or
comparing it with a text value as equal, stays as written.
"""

from __future__ import annotations

from sqlglot import exp

from app.rag.table_sql import NUMBERS, parsed
from ingest.table_types import read_number

_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg)
_AGGREGATES = (exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Median, exp.Stddev, exp.Variance)
_ORDERING = (exp.GT, exp.GTE, exp.LT, exp.LTE)
_NUMBER_TYPES = ("BIGINT", "DOUBLE", "INTEGER", "DECIMAL", "HUGEINT")


def number_columns(types: dict[str, str]) -> dict[str, str]:
    """The text columns that have a companion of numbers, each with its companion's name."""
    return {
        name[: -len(NUMBERS)]: name
        for name in types
        if name.endswith(NUMBERS) and types.get(name[: -len(NUMBERS)]) == "VARCHAR"
    }


def read_as(name: str) -> str:
    """The column a name stands for: a companion of numbers stands for its text column."""
    return name[: -len(NUMBERS)] if name.endswith(NUMBERS) else name


def as_numbers(sql: str, types: dict[str, str]) -> str:
    """The query with each use of a text column as a number (ordered, compared with a number
    or in order with text that reads as one, computed with, summed, averaged, ranked by, cast
    to a number) made a use of its companion of numbers; as it was when it makes none."""
    companions = number_columns(types)
    tree = parsed(sql) if companions else None
    if tree is None:
        return sql
    mended = False
    for column in list(tree.find_all(exp.Column)):
        companion = companions.get(column.name)
        if companion is None:
            continue
        used_as = _number_use(column, types, companions)
        if used_as is None:
            continue
        numbered = exp.column(companion, table=column.table or None, quoted=True)
        if isinstance(used_as, exp.Cast):
            used_as.replace(numbered)
        else:
            column.replace(numbered)
        mended = True
    return tree.sql(dialect="duckdb") if mended else sql


def _number_use(
    column: exp.Column, types: dict[str, str], companions: dict[str, str]
) -> exp.Expression | None:
    """The node to replace when the column is used as a number (the column, or a cast of it to
    a number), a text value it is put in order with made the number it reads as; None when it
    is not used as a number."""
    parent = column.parent
    if isinstance(parent, (exp.Ordered, *_ARITHMETIC, *_AGGREGATES)):
        return column
    if isinstance(parent, exp.Cast) and parent.to.sql(dialect="duckdb") in _NUMERIC_CASTS:
        return parent
    if isinstance(parent, exp.Between) and parent.this is column:
        bounds = [parent.args.get("low"), parent.args.get("high")]
        if not all(_numeric(b, types, companions, text=True) for b in bounds):
            return None
        for bound in bounds:
            _as_number(bound, companions)
        return column
    if isinstance(parent, (*_ORDERING, exp.EQ, exp.NEQ)):
        other = parent.expression if parent.this is column else parent.this
        # Equal to a text value is a cell as written; in order with one, with its number.
        text = isinstance(parent, _ORDERING)
        if not _numeric(other, types, companions, text=text):
            return None
        _as_number(other, companions)
        return column
    return None


_NUMERIC_CASTS = {"INT", "INTEGER", "BIGINT", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC"}


def _numeric(
    node: exp.Expression | None,
    types: dict[str, str],
    companions: dict[str, str],
    text: bool = False,
) -> bool:
    """Whether the node is a number: a number (or, with `text`, a text value that reads as
    one), arithmetic, an aggregate, a number column, a text column of numbers, or a subquery
    selecting one of these."""
    if isinstance(node, exp.Literal):
        return not node.is_string or (text and read_number(node.this) is not None)
    if isinstance(node, exp.Neg | exp.Paren):
        return _numeric(node.this, types, companions, text)
    if isinstance(node, _ARITHMETIC + _AGGREGATES):
        return True
    if isinstance(node, exp.Column):
        # A text column of numbers is one when put in order with, not when equal to.
        return types.get(node.name) in _NUMBER_TYPES or (text and node.name in companions)
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select):
        selected = node.this.expressions
        return len(selected) == 1 and _numeric(selected[0].unalias(), types, companions, text)
    return False


def _as_number(node: exp.Expression, companions: dict[str, str]) -> None:
    """A text value made the number it reads as, a text column of numbers (or a subquery
    selecting one) its companion; anything else is a number already."""
    if isinstance(node, exp.Literal) and node.is_string:
        node.replace(exp.Literal.number(read_number(node.this)[0]))
    elif isinstance(node, exp.Column) and node.name in companions:
        node.replace(exp.column(companions[node.name], table=node.table or None, quoted=True))
    elif isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select):
        _as_number(node.this.expressions[0].unalias(), companions)
