"""Column types for tables kept as tables: the text of a spreadsheet's or an export's cells,
read as the numbers and dates they show.

A column is typed when every one of its non-blank cells reads as that type, else it stays
text (no cell is lost or guessed). Numbers may carry thousand separators (`1,234,567`,
`1 234`), a currency (`$12.50`, `12,50 €`, `EUR 40`), a percent sign (`12%` is 12, the unit
`%`), one unit shared by the column (`12 kg`), or parentheses for a negative (`(40)`). Dates
are ISO, day/month/year or month/day/year (decided by the column: a first part above 12 means
day first), or written out (`3 May 2024`, `May 3, 2024`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

BLANKS = {"", "-", "–", "—", "n/a", "na", "none", "null", "nan", "?"}
_CURRENCY = r"[$€£¥₹]|usd|eur|gbp|chf|jpy"
# Units a number may be written with (a column keeps one): a word after a number is
# otherwise text ("3 May" is a date, not 3 of a unit "May").
_UNITS = (
    r"%|kg|g|mg|lbs?|t|km|m|cm|mm|mi|ft|in|h|hrs?|min|s|ms|days?|d|l|ml|kwh|kw|mw|gw|w|mph|"
    r"km/h|°c|°f|kb|mb|gb|tb|pts?"
)
_NUMBER = re.compile(
    rf"^(?P<neg>-|\()?\s*(?:(?P<pre>{_CURRENCY})\s*)?(?P<sign>[-+])?"
    r"(?P<digits>\d{1,3}(?:[,\u00a0\u202f ]\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)"
    rf"\s*(?P<post>{_UNITS}|{_CURRENCY})?\s*\)?$",
    re.IGNORECASE,
)
_DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y")
_SLASHED = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")


@dataclass(frozen=True)
class TypedColumn:
    name: str
    type: str  # "integer", "number", "date" or "text"
    values: list  # one per row: int, float, date, str, or None for a blank cell
    unit: str | None = None  # what the numbers were written with: "%", "$", "kg"…
    # How the dates were written, when not as ISO: "%-d %B %Y" for "3 May 2024" (write_date).
    written: str | None = None


def infer_column(name: str, cells: list[str]) -> TypedColumn:
    """The column's type and its cells read as that type."""
    # Each distinct cell is read once: a column of a million rows repeats most of its cells.
    present = list(dict.fromkeys(cell.strip() for cell in cells if not is_blank(cell)))
    if present:
        numbers = {cell: read_number(cell) for cell in present}
        units = {n[1] for n in numbers.values() if n is not None}
        if None not in numbers.values() and len(units) <= 1:
            values = [None if is_blank(c) else numbers[c.strip()][0] for c in cells]
            integer = all(isinstance(v, int) for v in values if v is not None)
            return TypedColumn(name, "integer" if integer else "number", values, units.pop())
        day_first = _day_first(present)
        if day_first is not None:
            dates = {cell: read_date(cell, day_first) for cell in present}
            if None not in dates.values():
                values = [None if is_blank(c) else dates[c.strip()] for c in cells]
                return TypedColumn(
                    name, "date", values, written=date_pattern(present[0], day_first)
                )
    return TypedColumn(name, "text", [None if is_blank(c) else c.strip() for c in cells])


def is_blank(cell: str | None) -> bool:
    return cell is None or cell.strip().lower() in BLANKS


def read_number(cell: str) -> tuple[int | float, str | None] | None:
    """The number a cell shows and the unit it is written with, or None."""
    match = _NUMBER.match(cell.strip())
    if match is None:
        return None
    digits = match["digits"]
    if re.fullmatch(r"\d{1,3}(?:[,\u00a0\u202f ]\d{3})+(?:\.\d+)?", digits):
        digits = re.sub(r"[,\u00a0\u202f ]", "", digits)  # thousand separators
    elif "," in digits:
        digits = digits.replace(",", ".")  # a decimal comma: 3,5
    value: int | float = float(digits) if "." in digits else int(digits)
    if match["neg"] or match["sign"] == "-":
        if match["neg"] == "(" and not cell.strip().endswith(")"):
            return None
        value = -value
    unit = match["pre"] or match["post"]
    return value, unit.lower() if unit and unit.isalpha() else unit


def read_date(cell: str, day_first: bool = False) -> date | None:
    if len(cell) == 10 and cell[4] == "-":
        try:
            return date.fromisoformat(cell)
        except ValueError:
            pass
    slashed = _SLASHED.match(cell)
    if slashed:
        first, second, year = (int(part) for part in slashed.groups())
        day, month = (first, second) if day_first else (second, first)
        try:
            return date(year, month, day)
        except ValueError:
            return None
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(cell, pattern).date()
        except ValueError:
            continue
    return None


def date_pattern(cell: str, day_first: bool = False) -> str | None:
    """How a date cell is written, as a `strftime` pattern with `%-d` and `%-m` for a day and
    a month without a leading zero ("3 May 2024": "%-d %B %Y"); None for ISO dates."""
    cell = cell.strip()
    slashed = _SLASHED.match(cell)
    if slashed:
        first, second, _ = slashed.groups()
        separator = cell[len(first)]
        day, month = (first, second) if day_first or int(first) > 12 else (second, first)
        day_part = "%d" if len(day) == 2 else "%-d"
        month_part = "%m" if len(month) == 2 else "%-m"
        parts = (day_part, month_part) if day == first else (month_part, day_part)
        return f"{parts[0]}{separator}{parts[1]}{separator}%Y"
    for pattern in _DATE_FORMATS[1:]:
        try:
            datetime.strptime(cell, pattern)
        except ValueError:
            continue
        padded = re.search(r"(^|\s)0\d", cell) is not None
        return pattern if padded else pattern.replace("%d", "%-d")
    return None


def dates_written(columns: list[TypedColumn]) -> str | None:
    """How a table's date columns write their dates, when they all write them alike."""
    patterns = {column.written for column in columns if column.type == "date"}
    return patterns.pop() if len(patterns) == 1 else None


def write_date(day: date, written: str | None) -> str:
    """The date as its column writes them (`date_pattern`), else as ISO."""
    if not written:
        return day.isoformat()
    unpadded = written.replace("%-d", str(day.day)).replace("%-m", str(day.month))
    return day.strftime(unpadded)


def _day_first(cells: list[str]) -> bool | None:
    """Whether slashed dates put the day first (None: these are not all dates)."""
    day_first = any(int(m[1]) > 12 for m in map(_SLASHED.match, cells) if m)
    if all(read_date(cell, day_first) is not None for cell in cells):
        return day_first
    return None


# A number a cell begins with, before a note: "1974 (downgraded in 1994)", "792 (241)",
# "26,277 killed", "1.": not the hours of a duration ("2:03") nor part of a longer number.
_LEADING_NUMBER = re.compile(r"^\(?[-+]?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\d:,])")
MOSTLY = 0.8  # the share of a text column's cells that must show a number to read it as one


def numbers_within(column: TypedColumn) -> list[int | float | None] | None:
    """A text column's cells read as the numbers they show, whole or first ("1974 (downgraded
    in 1994)": 1974), None for a cell showing none ("Totals", "n/d", "did not play"): when
    most of its cells show one (MOSTLY), else None. Such a column stays text, each cell as
    written; these numbers serve a query that compares, orders or computes with it."""
    if column.type != "text":
        return None
    numbers = [None if value is None else _number_shown(value) for value in column.values]
    present = [value for value in column.values if value is not None]
    shown = sum(number is not None for number in numbers)
    if len(present) < 2 or shown < MOSTLY * len(present):
        return None
    return numbers


def _number_shown(cell: str) -> int | float | None:
    whole = read_number(cell)
    if whole is not None:
        return whole[0]
    first = _LEADING_NUMBER.match(cell.strip())
    if first is None:
        return None
    found = read_number(first.group(0).lstrip("("))
    return None if found is None else found[0]
