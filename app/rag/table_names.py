"""A query's names mended to the table's, before it is checked and run.

A small model writes the right query with the wrong names often enough: `"Height"` for the
column `height_m`, `Shared Titles` unquoted, a value in double quotes (`"Royal School"`, which
SQL reads as a column), or another table's name for the one table it was shown. Each name that
is not the table's is mapped to the one it most plausibly means: the same name written as an
identifier, the one column it begins, or a close spelling; a double-quoted "column" that
matches none is the text value it was meant to be; a table name that is neither the table nor
one the query defines is the table. Names that already match are left alone, and what cannot
be mapped stays for the database to report.
"""

from __future__ import annotations

import difflib
import re

from sqlglot import exp

from app.rag.table_sql import ROW_COLUMN, parsed

_CLOSE = 0.8  # difflib ratio for a misspelt column name
# Names a query gives the thing a table lists, when it has no column of that name.
_ENTITY_WORDS = {
    "name", "country", "nation", "team", "player", "city", "title", "person", "school", "club",
    "driver", "athlete", "film", "movie", "song", "album", "artist", "winner", "company",
    "state", "district", "province", "location", "place", "member", "item", "entity",
}  # fmt: skip


def resolve_names(sql: str, table: str, columns: list[str], entity: str | None = None) -> str:
    """The query with its table and column names mapped onto `table` and its `columns`
    (identifiers, ROW_COLUMN aside); a generic name for what the table lists ("name",
    "country", "team"…) that matches none is `entity`, the table's first text column. The
    query as it was when it does not parse."""
    tree = parsed(sql)
    if tree is None:
        return sql
    defined = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for reference in tree.find_all(exp.Table):
        named = isinstance(reference.this, exp.Identifier) and not reference.args.get("db")
        if named and reference.name.lower() not in defined and reference.name != table:
            reference.set("this", exp.to_identifier(table))
    known = {ROW_COLUMN, *columns}
    # Names the query gives itself (`count(*) AS total`, CTE columns) are names too.
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias) if a.alias}
    aliases |= {c.name.lower() for cte in tree.find_all(exp.CTE) for c in cte.find_all(exp.Alias)}
    for column in list(tree.find_all(exp.Column)):
        name = column.name
        if not name or name in known or name.lower() in aliases:
            continue
        found = _match(name, columns)
        if found is None and entity and name.lower().rstrip("s") in _ENTITY_WORDS:
            found = entity
        if found is not None:
            column.set("this", exp.to_identifier(found))
        elif column.this.quoted and not column.table and _compared(column):
            column.replace(exp.Literal.string(name))
    return tree.sql(dialect="duckdb")


def _match(name: str, columns: list[str]) -> str | None:
    wanted = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")
    if wanted in columns:
        return wanted
    if wanted == ROW_COLUMN:
        return ROW_COLUMN
    starting = [c for c in columns if c.startswith(wanted + "_") or wanted.startswith(c + "_")]
    if len(starting) == 1:
        return starting[0]
    close = difflib.get_close_matches(wanted, columns, n=1, cutoff=_CLOSE)
    if close:
        return close[0]
    # A word of one column's name: "country" for selected_latin_american_countries, "tot"
    # for total.
    words = [c for c in columns if any(_same_word(wanted, w) for w in c.split("_"))]
    return words[0] if len(words) == 1 else None


def _same_word(wanted: str, word: str) -> bool:
    if wanted in (word, word + "s", word + "es") or word in (wanted + "s", wanted + "es"):
        return True
    if wanted.endswith("y") and word == wanted[:-1] + "ies":
        return True
    return len(wanted) >= 3 and word.startswith(wanted)


def _compared(column: exp.Column) -> bool:
    """Whether the column stands where a value would: compared with something, or listed in
    an IN."""
    parent = column.parent
    return isinstance(parent, (exp.EQ, exp.NEQ, exp.Like, exp.ILike, exp.In, exp.Tuple))
