"""Questions a table answers by computing: telling them apart, and asking the LLM for the query.

"How many tickets did Berlin close in May?" is a count, "which supplier had the highest price?"
a ranking: no sentence of the table holds the answer, a query over it does. The LLM is shown
the table's schema (names and types) and a few of its rows, and asked for one SELECT; what it
writes is taken from its reply (`extract_sql`) and checked before it runs (table_sql.py).
"""

from __future__ import annotations

import re

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

SYSTEM_PROMPT = (
    "You write one DuckDB SQL SELECT statement that answers the question from the table "
    "described. Use only that table and its columns, quoting column names in double quotes "
    "exactly as given. Select the answer's value(s), and the row column as well when the "
    "answer comes from particular rows. Reply with the SQL only, in a ```sql block."
)


def asks_for_computation(question: str) -> bool:
    """Whether the question asks for something computed over rows (a count, an extreme…)."""
    return bool(_COMPUTED.search(question))


def table_description(
    name: str, columns: list[TypedColumn], row_numbers: list[int], sample: int = SAMPLE_ROWS
) -> str:
    """The table as the LLM sees it: its name, its columns with their types, a few rows."""
    lines = [f'Table "{name}" ({len(row_numbers)} rows). Columns:', '- "row" (integer)']
    for column in columns:
        unit = f", written with {column.unit}" if column.unit else ""
        lines.append(f'- "{column.name}" ({column.type}{unit})')
    lines.append("First rows:")
    header = ["row", *(column.name for column in columns)]
    lines.append(" | ".join(header))
    for i, number in enumerate(row_numbers[:sample]):
        cells = [str(number), *(_cell(column.values[i]) for column in columns)]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def sql_messages(
    question: str, description: str, error: tuple[str, str] | None = None
) -> list[dict[str, str]]:
    """The chat asking for the query; after a failed one, its SQL and the database's error
    are shown, for one more try."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"{description}\n\nQuestion: {question}"},
    ]
    if error is not None:
        sql, message = error
        messages += [
            {"role": "assistant", "content": f"```sql\n{sql}\n```"},
            {"role": "user", "content": f"That query failed: {message}\nWrite a corrected one."},
        ]
    return messages


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
