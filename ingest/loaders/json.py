"""JSON and JSON Lines: records as readable `key: value` text with a JSON-path locator.

A JSON document is walked from the top: arrays yield one record per element (`$.items[3]`),
small objects are one record, large objects are split by key. Nested values are flattened to
`parent.child: value` lines. JSON Lines files yield one record per line, located by line number.
Invalid JSON, NaN/Infinity and nesting deeper than the limit are rejected with the reason.
An array of records (objects) is also kept as a table (ingest/tables.py): a column per key
path, a row per element, numbered by its index.
"""

import json
import re
from pathlib import Path
from typing import Any

from ingest.errors import LoadError, SkipFile
from ingest.tables import MIN_ROWS, Table, TooLarge, read_table
from ingest.units import LoadResult, Source, Unit

PARSER_VERSION = "json-2"  # 2: arrays of records also kept as tables
EXTENSIONS = (".json", ".jsonl", ".ndjson")

# An object whose flattened text is at most this long stays one record.
_RECORD_CHARS = 1500
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load(path: Path, max_depth: int = 64, table_rows: int = 100_000) -> LoadResult:
    data = path.read_bytes()
    if not data.strip():
        raise SkipFile("empty file")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _load_lines(data, max_depth)
    value = parse_json(data, max_depth)
    units = [Unit(text=text, source=Source(json_path=where)) for where, text in records(value)]
    if not units:
        raise SkipFile("no values in the document")
    warnings: list[str] = []
    return LoadResult(units=units, warnings=warnings, tables=tables(value, table_rows, warnings))


def tables(
    value: Any, max_rows: int = 100_000, warnings: list[str] | None = None, path: str = "$"
) -> list[Table]:
    """The arrays of records in the value, outermost first, each as a table; one past
    `max_rows` rows is left out, with a warning."""
    records = isinstance(value, list) and all(isinstance(item, dict) for item in value)
    if records and len(value) >= MIN_ROWS:
        flat = [dict(_flatten(item, "")) for item in value]
        names = list(dict.fromkeys(key for record in flat for key in record))
        rows = [(i, [_cell(record.get(key)) for key in names]) for i, record in enumerate(flat)]
        try:
            table = read_table(path, names, rows, max_rows)
        except TooLarge as exc:
            (warnings if warnings is not None else []).append(str(exc))
            return []
        return [table] if table else []
    if isinstance(value, dict):
        return [
            t
            for key, child in value.items()
            for t in tables(child, max_rows, warnings, _child_path(path, key))
        ]
    return []


def _cell(text: str | None) -> str:
    return "" if text is None or text == "null" else text


def parse_json(data: bytes, max_depth: int = 64) -> Any:
    """Strict RFC 8259 parsing of UTF-8 bytes; raises LoadError with a one-line reason."""
    try:
        text = data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"invalid JSON: not UTF-8 text (byte {exc.start})") from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise LoadError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise LoadError(f"invalid JSON: nested deeper than {max_depth} levels") from exc
    except ValueError as exc:
        raise LoadError(f"invalid JSON: {exc}") from exc
    if _depth(value) > max_depth:
        raise LoadError(f"invalid JSON: nested deeper than {max_depth} levels")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _depth(value: Any) -> int:
    """Nesting depth, computed without recursion so that hostile input cannot overflow."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node)
    return deepest


def _load_lines(data: bytes, max_depth: int) -> LoadResult:
    units: list[Unit] = []
    warnings: list[str] = []
    bad = 0
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = parse_json(line, max_depth)
        except LoadError as exc:
            bad += 1
            warnings.append(f"line {number}: {exc.reason}")
            continue
        text = _join(_flatten(value, ""))
        if text.strip():
            units.append(Unit(text=text, source=Source(lines=(number, number))))
    if bad and not units:
        raise LoadError(f"no valid JSON line ({warnings[0]})")
    if not units:
        raise SkipFile("no records in the file")
    return LoadResult(units=units, warnings=warnings[:20] + _more(len(warnings) - 20))


def _more(count: int) -> list[str]:
    return [f"… and {count} more invalid lines"] if count > 0 else []


def records(value: Any, path: str = "$") -> list[tuple[str, str]]:
    """Split a JSON value into (JSON path, text) records."""
    if isinstance(value, list):
        if all(_is_scalar(item) for item in value):
            text = ", ".join(_scalar(item) for item in value)
            return [(path, text)] if text else []
        out = []
        for index, item in enumerate(value):
            out.extend(records(item, f"{path}[{index}]"))
        return out
    if isinstance(value, dict):
        lines = _flatten(value, "")
        text = _join(lines)
        if len(text) <= _RECORD_CHARS:
            return [(path, text)] if text else []
        # Too large for one record: scalars together here, containers each on their own.
        out = []
        scalars = {k: v for k, v in value.items() if _is_scalar(v)}
        if scalars:
            out.append((path, _join(_flatten(scalars, ""))))
        for key, child in value.items():
            if not _is_scalar(child):
                out.extend(records(child, _child_path(path, key)))
        return out
    text = _scalar(value)
    return [(path, text)] if text else []


def _flatten(value: Any, prefix: str) -> list[tuple[str, str]]:
    """(key path, value text) lines of a nested value; arrays of scalars stay on one line."""
    if isinstance(value, dict):
        out = []
        for key, child in value.items():
            out.extend(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        if all(_is_scalar(item) for item in value):
            return [(prefix, ", ".join(_scalar(item) for item in value))]
        out = []
        for index, child in enumerate(value):
            out.extend(_flatten(child, f"{prefix}[{index}]"))
        return out
    return [(prefix, _scalar(value))]


def _join(lines: list[tuple[str, str]]) -> str:
    return "\n".join(f"{key}: {val}" if key else val for key, val in lines if val != "")


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{json.dumps(key)}]"
