"""Read-only SQL over one table, as an LLM may write it: checked before it runs, bounded when
it runs.

A query is accepted only when it is one SELECT (set operations and WITH included) that reads
the one table named, or the common table expressions it defines itself: no other statement
(INSERT, COPY, ATTACH, PRAGMA, SET…), no other table or schema, no table function and no
function that reaches files, the network or the environment. It then runs on a DuckDB
connection that cannot reach files or the network at all (`restricted_connection`), under a
time limit and a row limit. Two locks, so that a query the checker misjudges still reads
nothing but the table.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ingest.table_types import TypedColumn, numbers_within

# Functions that read files or the network, or report on the machine, by DuckDB's names.
_FORBIDDEN_FUNCTION = re.compile(
    r"^(read_\w*|\w*_scan|scan_\w*|glob|sniff_csv|parquet_\w*|iceberg_\w*|delta_\w*|"
    r"getenv|current_setting|duckdb_\w*|pragma_\w*|query|query_table|load\w*|install\w*|"
    r"copy\w*|export\w*|import\w*|http\w*|s3\w*|system\w*|shell\w*|which_secret|"
    r"list_files|file\w*|json_execute_serialized_sql)$",
    re.IGNORECASE,
)
_STATEMENTS = (exp.Select, exp.SetOperation)


class UnsafeQuery(ValueError):
    """A query that is not one read-only SELECT over the allowed table; says why."""


class QueryFailed(RuntimeError):
    """A checked query that the database could not run (a wrong column, a type error, too
    slow); the message is the database's, to hand back to the LLM for one more try."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows than the limit: only the first are here


def check_select(sql: str, table: str) -> str:
    """The query, normalized, when it is one SELECT that reads only `table`; else UnsafeQuery."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except SqlglotError as exc:  # a parse or a tokenizing error
        raise UnsafeQuery(f"not valid SQL: {_first_line(str(exc))}") from exc
    if len(statements) != 1:
        raise UnsafeQuery(f"one SELECT statement is allowed, not {len(statements)} statements")
    (statement,) = statements
    if not isinstance(statement, _STATEMENTS):
        kind = statement.key.upper()
        raise UnsafeQuery(f"only SELECT is allowed, not {kind}")
    for node in statement.walk():
        if isinstance(node, (exp.Command, exp.DDL, exp.DML, exp.Pragma, exp.Set, exp.Copy)):
            raise UnsafeQuery(f"only SELECT is allowed, not {node.key.upper()} inside it")
        if isinstance(node, exp.Func):
            _check_function(node)
    defined = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    for reference in statement.find_all(exp.Table):
        _check_table(reference, table, defined)
    return statement.sql(dialect="duckdb")


def _check_function(node: exp.Func) -> None:
    name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
    if type(node).__name__.startswith("Read") or _FORBIDDEN_FUNCTION.match(name or ""):
        raise UnsafeQuery(f"the function {name.lower()}() is not allowed")


def _check_table(reference: exp.Table, table: str, defined: set[str]) -> None:
    if not isinstance(reference.this, exp.Identifier):
        raise UnsafeQuery("reading from a function, a file or a subquery as a table is not allowed")
    if reference.args.get("db") or reference.args.get("catalog"):
        raise UnsafeQuery(f"only the table {table} is allowed, not {reference.sql()}")
    name = reference.name
    if name.lower() not in defined and name != table:
        raise UnsafeQuery(f"only the table {table} is allowed, not {name}")


def parsed(sql: str) -> exp.Expression | None:
    """The query's syntax tree, or None when it does not parse (the check reports why)."""
    try:
        return sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError:
        return None


def restricted_connection():
    """An in-memory DuckDB connection that can reach no file and no network, for good: its
    settings are locked, so no query can undo them."""
    import duckdb

    connection = duckdb.connect(":memory:")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET autoinstall_known_extensions = false")
    connection.execute("SET autoload_known_extensions = false")
    connection.execute("SET lock_configuration = true")
    return connection


_SQL_TYPES = {
    "integer": "BIGINT",
    "number": "DOUBLE",
    "date": "DATE",
    # Text compares without regard to case or accents: a question's "los angeles" finds the
    # cell "Los Angeles", as a person reading the table would.
    "text": "VARCHAR COLLATE NOCASE.NOACCENT",
}
ROW_COLUMN = "row"  # the row number the document shows (a spreadsheet's, header = row 1)
# A text column whose cells mostly show numbers ("792 (241)", "n/d") has a companion holding
# them (ingest.table_types.numbers_within), named after it: `height_ft (number)`. The LLM is
# not shown it; a query using the text column as a number is made to use it (table_numbers).
NUMBERS = " (number)"


def column_identifiers(columns: list[TypedColumn]) -> list[str]:
    """Each column's name in queries: the file's name as a plain identifier, which a query
    needs no quotes for (`Shared Titles` is `shared_titles`; `Height (m)` is `height` unless
    another column is a height too); blank ones numbered, repeats and ROW_COLUMN suffixed.
    The file's own names stay with the table and its citations."""
    full = [plain_identifier(column.name) for column in columns]
    short = [
        plain_identifier(re.sub(r"\([^)]*\)|\[[^]]*\]", " ", column.name)) for column in columns
    ]
    seen: set[str] = {ROW_COLUMN}
    out = []
    for i, (whole, brief) in enumerate(zip(full, short, strict=True), 1):
        name = brief if brief and short.count(brief) == 1 else whole
        name = name or f"column_{i}"
        if name[0].isdigit():
            name = f"c_{name}"
        candidate, n = name, 2
        while candidate in seen:
            candidate, n = f"{name}_{n}", n + 1
        seen.add(candidate)
        out.append(candidate)
    return out


def plain_identifier(name: str) -> str:
    """A name as a plain lowercase identifier: `Shared Titles` is `shared_titles`."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^0-9a-z]+", "_", plain.lower()).strip("_")


def create_table(
    connection, name: str, columns: list[TypedColumn], row_numbers: list[int]
) -> list[str]:
    """A typed table of the columns, with the document's row numbers in ROW_COLUMN first and,
    after the columns, the companion of each text column of numbers (NUMBERS); returns the
    columns' identifiers (`column_identifiers`)."""
    names = column_identifiers(columns)
    declared = [f"{quote_identifier(ROW_COLUMN)} BIGINT"] + [
        f"{quote_identifier(n)} {_SQL_TYPES[c.type]}" for n, c in zip(names, columns, strict=True)
    ]
    values = [column.values for column in columns]
    for identifier, column in zip(names, columns, strict=True):
        numbers = numbers_within(column)
        if numbers is not None:
            whole = all(isinstance(n, int) for n in numbers if n is not None)
            kind = "BIGINT" if whole else "DOUBLE"
            declared.append(f"{quote_identifier(identifier + NUMBERS)} {kind}")
            values.append(numbers)
    connection.execute(f"CREATE TABLE {quote_identifier(name)} ({', '.join(declared)})")
    rows = [(number, *(cells[i] for cells in values)) for i, number in enumerate(row_numbers)]
    if rows:
        marks = ", ".join("?" * (len(values) + 1))
        connection.executemany(f"INSERT INTO {quote_identifier(name)} VALUES ({marks})", rows)
    return names


def lowered_words(text: str) -> str:
    """The text's words, lowercase, one space apart: "Men's Pro-Am!" is "men s pro am"; a
    question and a cell are compared by them."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def quote_identifier(identifier: str) -> str:
    """A name as SQL quotes it, inner double quotes doubled: `Total` is `"Total"`."""
    return '"' + identifier.replace('"', '""') + '"'


def quote_text(value: str) -> str:
    """A text value as SQL writes it: "Men's Pro" is 'Men''s Pro'."""
    return "'" + value.replace("'", "''") + "'"


def run_select(
    connection, sql: str, table: str, max_rows: int = 200, timeout_s: float = 5.0
) -> QueryResult:
    """Check the query, then run it with a time limit; at most `max_rows` rows come back."""
    import duckdb

    checked = check_select(sql, table)
    timer = threading.Timer(timeout_s, connection.interrupt)
    timer.start()
    try:
        cursor = connection.execute(checked)
        rows = cursor.fetchmany(max_rows + 1)
    except duckdb.InterruptException as exc:
        raise QueryFailed(f"the query ran longer than {timeout_s:g} s") from exc
    except duckdb.Error as exc:
        raise QueryFailed(_first_line(str(exc))) from exc
    finally:
        timer.cancel()
    columns = [column[0] for column in cursor.description or []]
    return QueryResult(columns, [tuple(r) for r in rows[:max_rows]], len(rows) > max_rows)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
