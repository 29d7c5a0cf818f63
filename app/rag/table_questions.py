"""Questions a table answers by computing: telling them apart, and asking the LLM for the query.

"How many tickets did Berlin close in May?" is a count, "which supplier had the highest price?"
a ranking: no sentence of the table holds the answer, a query over it does. The LLM is shown
the table's schema (names and types) and a few of its rows, and asked for one SELECT; what it
writes is taken from its reply (`extract_sql`) and checked before it runs (table_sql.py).
"""

from __future__ import annotations

import re

from app.rag.table_repairs import column_types, is_summary_cell
from app.rag.table_sql import (
    ROW_COLUMN,
    column_identifiers,
    plain_identifier,
    quote_identifier,
    quote_text,
)
from ingest.table_types import TypedColumn

# Words that ask for a count, a sum, an average, an extreme, a ranking, a comparison or a
# filter over rows, rather than for a passage.
_COMPUTED = re.compile(
    r"\b(how (many|much)|number of|count|total|sum|average|mean|median|"
    r"(high|low|larg|small|bigg|great|long|short|old|young|fast|slow|late|earli|cheap)est|"
    r"most|least|fewest|max(imum)?|min(imum)?|top \d+|rank(ed|ing)?|"
    r"more|less|fewer|than|difference|compare|between|"
    r"first|last|before|after|previous|next|"
    r"which|list (all|every)|all the|every)\b",
    re.IGNORECASE,
)
SAMPLE_ROWS = 5
FEW_VALUES = 6  # a text column with at most this many values has them listed
_NUMERIC = ("integer", "number")

SYSTEM_PROMPT = (
    "You write one DuckDB SQL SELECT statement that answers the question from the table "
    "described. Use only that table and its columns, by the names given. Text compares "
    "without regard to case. Select the answer's value(s), and the row column as well when the "
    "answer comes from particular rows. The row column numbers the rows in the file's order: "
    '"next", "after" or "below" a row is a greater row; "previous", "before" or "above" a '
    "smaller one. Reply with the SQL only, in a ```sql block."
)
# Words that ask for a count, which a table of text answers as well as one of numbers.
_COUNT = re.compile(r"\b(how many|number of|count)\b", re.IGNORECASE)
# "the most number of", "the largest number of": a ranking by a number, not a count.
_RANKED_BY = re.compile(r"\b(most|least|fewest|\w+est) number of$", re.IGNORECASE)


def asks_for_computation(question: str) -> bool:
    """Whether the question asks for something computed over rows (a count, an extreme…)."""
    return bool(_COMPUTED.search(question))


def asks_for_count(question: str) -> bool:
    """Whether the question asks how many rows there are of something ("which schools have
    the largest number of titles?" asks for schools)."""
    return any(not _RANKED_BY.search(question[: m.end()]) for m in _COUNT.finditer(question))


def entity_column(columns: list[TypedColumn]) -> str | None:
    """The identifier of the table's first text column: what its rows are, usually."""
    names = column_identifiers(columns)
    return next((n for n, c in zip(names, columns, strict=True) if c.type == "text"), None)


def table_description(
    name: str, columns: list[TypedColumn], row_numbers: list[int], sample: int = SAMPLE_ROWS
) -> str:
    """The table as the LLM sees it: its name, its columns (identifiers, with the file's
    name where it differs, types, units, and the values of a column that has few), and a
    few rows."""
    names = column_identifiers(columns)
    sums = sum_columns(columns)
    lines = [f"Table {name} ({len(row_numbers)} rows). Columns:", f"- {ROW_COLUMN} (integer)"]
    for identifier, column in zip(names, columns, strict=True):
        notes = [column.type]
        if identifier in sums:
            notes.append(" + ".join(sums[identifier]) + " in each row")
        if column.unit:
            notes.append(f"written with {column.unit}")
        if " ".join(column.name.split()).lower() != identifier.replace("_", " "):
            notes.append(f'"{" ".join(column.name.split())}" in the file')
        values = sorted({v for v in column.values if v is not None}, key=str)
        if column.type == "text" and len(values) <= FEW_VALUES < len(row_numbers):
            notes.append("one of: " + ", ".join(_cell(v) for v in values))
        lines.append(f"- {identifier} ({'; '.join(notes)})")
    summaries = [
        number
        for i, number in enumerate(row_numbers)
        if any(is_summary_cell(column.values[i]) for column in columns)
    ]
    if summaries:
        listed = ", ".join(str(n) for n in summaries)
        lines.append(f"Row {listed} totals the others: queries leave it out unless they name it.")
    lines.append("First rows:")
    lines.append(" | ".join([ROW_COLUMN, *names]))
    for i, number in enumerate(row_numbers[:sample]):
        cells = [str(number), *(_cell(column.values[i]) for column in columns)]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def sum_columns(columns: list[TypedColumn], longest: int = 6) -> dict[str, list[str]]:
    """The numeric columns that are the sum of the numeric columns just before them in every
    row, by identifier ("total": gold, silver, bronze): a question's "medals" is the total,
    which the names alone do not say."""
    names = column_identifiers(columns)
    found: dict[str, list[str]] = {}
    for i, column in enumerate(columns):
        if column.type not in _NUMERIC:
            continue
        for width in range(2, min(longest, i) + 1):
            parts = list(range(i - width, i))
            if any(columns[j].type not in _NUMERIC for j in parts):
                break
            rows = [
                r
                for r, total in enumerate(column.values)
                if total is not None and all(columns[j].values[r] is not None for j in parts)
            ]
            if len(rows) >= 3 and all(
                abs(sum(columns[j].values[r] for j in parts) - column.values[r]) < 1e-6
                for r in rows
            ):
                found[names[i]] = [names[j] for j in parts]
                break
    return found


def sql_messages(
    question: str,
    description: str,
    error: tuple[str, str] | None = None,
    named: list[tuple[str, str]] | None = None,
) -> list[dict[str, str]]:
    """The chat asking for the query, with the cells the question names (column, value:
    `named_cells`); after a failed one, its SQL and the database's error are shown, for one
    more try."""
    cells = ""
    if named:
        cells = "\nCells the question names: " + "; ".join(
            f"{c} = {quote_text(v)}" for c, v in named
        )
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"{description}\n{cells}\nQuestion: {question}"},
    ]
    if error is not None:
        sql, message = error
        messages += [
            {"role": "assistant", "content": f"```sql\n{sql}\n```"},
            {"role": "user", "content": f"That query failed: {message}\nWrite a corrected one."},
        ]
    return messages


def named_cells(connection, table: str, question: str, limit: int = 5) -> list[tuple[str, str]]:
    """The text cells the question names, as (column, value), longest first: a question
    says "crettyard", the table has the team "Crettyard" (and no county of that name)."""
    types = column_types(connection, table)
    text_columns = [name for name, kind in types.items() if kind == "VARCHAR"]
    asked = " " + re.sub(r"[^\w]+", " ", question.lower()) + " "
    found: list[tuple[str, str]] = []
    for column in text_columns:
        quoted = quote_identifier(column)
        values = connection.execute(
            f"SELECT DISTINCT {quoted} FROM {quote_identifier(table)} "
            f"WHERE length({quoted}) BETWEEN 3 AND 80"
        ).fetchall()
        for (value,) in values:
            # "Jamaica (JAM)" is named by "jamaica": a bracketed part is a note on the name.
            for form in (value, re.sub(r"\([^)]*\)|\[[^]]*\]", " ", value)):
                words = " " + re.sub(r"[^\w]+", " ", form.lower()).strip() + " "
                if len(words.strip()) >= 3 and words in asked:
                    found.append((column, value))
                    break
    # "the total number of gold medals": "total" is the column, not the row "Total".
    names = set(types)
    found = [(c, v) for c, v in found if plain_identifier(v) not in names]
    found.sort(key=lambda cell: -len(cell[1]))
    # A value inside a longer one found is the same words named once: "Coleraine" within
    # "Coleraine Academical Institution".
    kept: list[tuple[str, str]] = []
    for column, value in found:
        if not any(value.lower() in longer.lower() for _, longer in kept):
            kept.append((column, value))
    return kept[:limit]


def extract_sql(reply: str) -> str:
    """The SQL of an LLM's reply: the first ```sql block, else the first SELECT or WITH
    statement in it, else the reply (the check then says what is wrong with it)."""
    fenced = re.search(r"```(?:sql|duckdb)?\s*\n?(.*?)```", reply, re.DOTALL | re.IGNORECASE)
    if fenced:
        return fenced.group(1).strip().rstrip(";").strip()
    bare = re.search(r"\b(WITH|SELECT)\b.*", reply, re.DOTALL | re.IGNORECASE)
    text = bare.group(0) if bare else reply
    return text.strip().split(";")[0].strip()


def _cell(value) -> str:
    return "" if value is None else " ".join(str(value).split())
