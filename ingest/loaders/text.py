"""Plain text and Markdown: split on headings (Markdown), each section knowing its heading path.

Plain text is one unit per file; the chunker cuts it on paragraph and sentence boundaries and
works out each chunk's line range.
"""

import re
from pathlib import Path

from ingest.errors import SkipFile
from ingest.loaders.textio import decode_text
from ingest.units import LoadResult, Source, Unit

PARSER_VERSION = "text-2"
EXTENSIONS = (".md", ".markdown", ".txt", ".text", ".rst")

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def load(path: Path) -> LoadResult:
    text = decode_text(path.read_bytes())
    if not text.strip():
        raise SkipFile("empty file")
    if path.suffix.lower() in (".md", ".markdown"):
        units = markdown_units(text)
    else:
        units = [Unit(text=text, source=Source(lines=(1, text.count("\n") + 1)))]
    return LoadResult(units=[u for u in units if u.text.strip()])


def markdown_units(text: str) -> list[Unit]:
    """One unit per section; a section starts at a heading and keeps the heading line."""
    lines = text.split("\n")
    units: list[Unit] = []
    path: list[tuple[int, str]] = []  # (level, title) of the enclosing headings
    start = 0  # first line of the current section
    in_fence = False

    def close(end: int) -> None:
        body = "\n".join(lines[start:end])
        if body.strip():
            source = Source(headings=tuple(t for _, t in path), lines=(start + 1, end))
            units.append(Unit(text=body, source=source))

    for number, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        heading = _heading(line, lines[number + 1] if number + 1 < len(lines) else "")
        if heading is None:
            continue
        level, title = heading
        close(number)
        start = number
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, title))
    close(len(lines))
    return units


def _heading(line: str, next_line: str) -> tuple[int, str] | None:
    match = _ATX.match(line)
    if match:
        return len(match.group(1)), match.group(2).strip()
    setext = _SETEXT.match(next_line)
    if setext and line.strip() and not line.startswith(("    ", "\t", "-", "*", ">")):
        return (1 if setext.group(1).startswith("=") else 2), line.strip()
    return None
