"""A query's names mended to the table's, before it is checked and run.

A small model writes the right query with the wrong names often enough: `"Height"` for the
column `height_m`, `Shared Titles` unquoted, a value in double quotes (`"Royal School"`, which
SQL reads as a column), or another table's name for the one table it was shown. Each name that
is not the table's is mapped to the one it most plausibly means: the same name written as an
identifier, the one column it begins, or a close spelling; a double-quoted "column" that
matches none is the text value it was meant to be; a table name that is neither the table nor
one the query defines is the table; the row column written bare where SQL reads a ROW type
(`row < 5`) is quoted. Names that already match are left alone, and what cannot be mapped
stays for the database to report. A text value compared to a column is mended the same way
(`resolve_values`): one that no cell is, spelt closely like one cell ("Crettary" or "2004-05"
for the cells "Crettyard" and "2004–05"), is that cell.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

from sqlglot import exp

from app.rag.table_sql import ROW_COLUMN, parsed, quote_identifier

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
        tree = parsed(_quoted_row_column(sql))
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
    _aliased_copies(tree, table)
    return tree.sql(dialect="duckdb")


def _aliased_copies(tree: exp.Expression, table: str) -> None:
    """A query reading the table twice, naming the two copies by names it does not give
    them (`FROM t JOIN t ON t.school = t2.school`; `FROM t AS a JOIN t AS b …` with `t.x` and
    `t2.x` beside `a` and `b`), given them in the order it uses them."""
    if not isinstance(tree, exp.Select):
        return
    copies = [r for r in tree.find_all(exp.Table) if r.name == table and r.parent_select is tree]
    if len(copies) != 2:
        return
    given = [r.alias for r in copies]
    used = list(dict.fromkeys(c.table for c in tree.find_all(exp.Column) if c.table))
    if all(given):
        unknown = [name for name in used if name not in given]
        if len(unknown) == 2 and given[0] != given[1]:
            renamed = dict(zip(unknown, given, strict=True))
            for column in tree.find_all(exp.Column):
                if column.table in renamed:
                    column.set("table", exp.to_identifier(renamed[column.table]))
    elif not any(given) and len(used) == 2:
        for copy, name in zip(copies, used, strict=True):
            copy.set("alias", exp.TableAlias(this=exp.to_identifier(name)))


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


# The row column bare, outside quotes: not a function (`ROW(…)`), not part of a longer name.
_BARE_ROW = re.compile(rf'(?<![\w"]){ROW_COLUMN}\b(?!\s*\()(?!")', re.IGNORECASE)


def _quoted_row_column(sql: str) -> str:
    """The query with the row column quoted outside its text values: SQL reads `row < 5` as
    the start of a ROW type."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    quoted = f'"{ROW_COLUMN}"'
    return "".join(p if p.startswith("'") else _BARE_ROW.sub(quoted, p) for p in parts)


_MOST_CELLS = 5000  # a column with more distinct cells is not searched for a spelling
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-"))


def resolve_values(sql: str, connection, table: str, types: dict[str, str]) -> str:
    """The query with each text value it compares with a text column (`=`, `<>`, `IN`) that no
    cell of the column is, but one cell spells closely, made that cell: "Crettary" is
    "Crettyard", "Chelsea Williams" the table's "Chelsea Wlliams", "2004-05" its "2004–05".
    As it was otherwise (a value that cells hold as a word is table_repairs'
    `contained_cells`)."""
    tree = parsed(sql)
    if tree is None:
        return sql
    cells: dict[str, dict[str, str]] = {}
    mended = False
    for literal in list(tree.find_all(exp.Literal)):
        column = _compared_column(literal)
        if column is None or types.get(column) != "VARCHAR" or not literal.this.strip():
            continue
        if column not in cells:
            cells[column] = _folded_cells(connection, table, column)
        found = _closest_cell(literal.this, cells[column])
        # The database compares without regard to case or accents already.
        if found is not None and _unaccented(found) != _unaccented(literal.this):
            literal.replace(exp.Literal.string(found))
            mended = True
    return tree.sql(dialect="duckdb") if mended else sql


def _compared_column(literal: exp.Literal) -> str | None:
    """The column a text value is compared with (`c = 'v'`, `'v' <> c`, `c IN ('v', …)`)."""
    if not literal.is_string:
        return None
    parent = literal.parent
    if isinstance(parent, (exp.EQ, exp.NEQ)):
        other = parent.expression if parent.this is literal else parent.this
    elif isinstance(parent, exp.In) and any(e is literal for e in parent.expressions):
        other = parent.this
    else:
        return None
    return other.name if isinstance(other, exp.Column) else None


def _folded_cells(connection, table: str, column: str) -> dict[str, str]:
    """The column's distinct cells by their folded form (`_folded`); none when too many."""
    found = connection.execute(
        f"SELECT DISTINCT {quote_identifier(column)} FROM {quote_identifier(table)} "
        f"WHERE {quote_identifier(column)} IS NOT NULL LIMIT {_MOST_CELLS + 1}"
    ).fetchall()
    if len(found) > _MOST_CELLS:
        return {}
    return {_folded(value): value for (value,) in found}


def _closest_cell(value: str, cells: dict[str, str]) -> str | None:
    """The cell a value means: the one it is but for case, accents, dashes and spaces, else
    the one cell spelt closely (None when none is, or two are about as close)."""
    folded = _folded(value)
    if folded in cells:
        return cells[folded]
    close = difflib.get_close_matches(folded, list(cells), n=2, cutoff=_CLOSE)
    ratios = [difflib.SequenceMatcher(None, folded, c).ratio() for c in close]
    if len(close) == 1 or (len(close) == 2 and ratios[0] > ratios[1] + 0.05):
        return cells[close[0]]
    return None


def _folded(text: str) -> str:
    """Text as spellings are compared: lowercase, without accents, one kind of dash, one
    space between words."""
    return " ".join(_unaccented(text.translate(_DASHES)).split())


def _unaccented(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text)
    return "".join(c for c in plain if not unicodedata.combining(c)).lower()
