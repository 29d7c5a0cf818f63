"""HTML: the readable text of a saved web page, section by section under its headings.

Scripts, styles, navigation, page headers and footers, forms and hidden elements are dropped;
the rest is read as blocks (paragraphs, list items, table rows, preformatted text). The text
under one heading is one unit with its heading path (h1 > h2 > …), as for DOCX. Nothing the
page links to is ever fetched: the parser reads the file's own text and nothing else.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from ingest.errors import SkipFile
from ingest.loaders.textio import decode_text
from ingest.units import LoadResult, Source, Unit

PARSER_VERSION = "html-1"
EXTENSIONS = (".html", ".htm", ".xhtml")


def _tags(names: str) -> frozenset[str]:
    return frozenset(names.split())


# Elements whose content is not the page's text.
_DROPPED = _tags(
    "script style noscript template head nav header footer aside form button select option "
    "textarea svg canvas iframe object embed audio video map dialog"
)
# Elements that end a line of text (the rest flow inline).
_BLOCKS = _tags(
    "p div section article main li ul ol dl dt dd table thead tbody tfoot tr caption "
    "blockquote pre figure figcaption address details summary hr br"
)
_CELLS = frozenset(("td", "th"))
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_VOID = _tags("area base br col embed hr img input link meta param source track wbr")
# Open elements remembered at most (a page nested deeper is still read, its depth not tracked).
_MAX_DEPTH = 256
_SPACES = re.compile(r"[ \t\f\v\r\n]+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


def load(path: Path) -> LoadResult:
    reader = _Reader()
    reader.feed(decode_text(path.read_bytes()))
    reader.close()
    units = reader.finish()
    if not units:
        raise SkipFile("no readable text in the page")
    return LoadResult(units=units)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.units: list[Unit] = []
        self.headings: list[str] = []
        self.blocks: list[str] = []  # the current section's finished blocks
        self.line: list[str] = []  # text of the block being read
        self.heading: list[str] | None = None  # text of a heading being read
        self.heading_level = 0
        # Open elements: (tag, whether it drops its content, whether it keeps whitespace).
        self.stack: list[tuple[str, bool, bool]] = []
        self.dropping = 0  # open elements that drop their content
        self.pre = 0  # open <pre> elements: whitespace kept
        self.row: list[str] | None = None  # the cells of a table row being read
        self.header_cells = 0  # how many of them are <th>
        self.columns: list[str] | None = None  # the current table's header row

    # Parsing events

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        drops = tag in _DROPPED or _hidden(attributes)
        keeps_spaces = tag == "pre" and not self.dropping and not drops
        if tag not in _VOID:
            if len(self.stack) >= _MAX_DEPTH:
                return  # too deep to track: read on, as if the element were not there
            self.stack.append((tag, drops, keeps_spaces))
            self.dropping += drops
            self.pre += keeps_spaces
        if self.dropping:
            return
        if self.heading is not None and (tag in _BLOCKS or tag in _HEADINGS):
            self._end_heading()  # an unclosed heading ends where the next block begins
        if tag in _HEADINGS:
            self._end_block()
            self.heading, self.heading_level = [], _HEADINGS[tag]
        elif tag == "tr":
            self._end_block()
            self.row, self.header_cells = [], 0
        elif tag in _CELLS and self.row is not None:
            self._end_cell()
            self.header_cells += tag == "th"
        elif tag in _BLOCKS:
            self._end_block()
        if tag == "table":
            self.columns = None
        if tag == "img" and (attributes.get("alt") or "").strip():
            self.handle_data(f" {attributes['alt'].strip()} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        open_tags = [entry[0] for entry in self.stack]
        if tag not in open_tags:
            return  # a stray end tag
        depth = len(open_tags) - 1 - open_tags[::-1].index(tag)
        was_dropping, keeping_spaces = self.dropping, self.pre > 0
        for _, drops, keeps_spaces in self.stack[depth:]:  # closing it closes what it holds
            self.dropping -= drops
            self.pre -= keeps_spaces
        del self.stack[depth:]
        if was_dropping:
            return
        if tag in _HEADINGS and self.heading is not None:
            self._end_heading()
        elif tag in _CELLS and self.row is not None:
            self._end_cell()
        elif tag == "tr" and self.row is not None:
            self._end_row()
        elif tag in _BLOCKS:
            self._end_block(keeping_spaces)

    def handle_data(self, data: str) -> None:
        if self.dropping:
            return
        target = self.heading if self.heading is not None else self.line
        target.append(data if self.pre else _SPACES.sub(" ", data))

    # Assembly

    def _end_cell(self) -> None:
        text = " ".join("".join(self.line).split())
        self.line.clear()
        if text and self.row is not None:
            self.row.append(text)

    def _end_row(self) -> None:
        """A row of header cells names the columns; the rows under it read `name: value`."""
        self._end_cell()
        row, self.row = self.row or [], None
        if not row:
            return
        if self.header_cells == len(row) and len(set(row)) == len(row):
            self.columns = row
            return
        if self.columns is not None and len(row) == len(self.columns):
            self.blocks.append(
                "; ".join(f"{n}: {v}" for n, v in zip(self.columns, row, strict=True))
            )
        else:
            self.blocks.append(" | ".join(row))

    def _end_block(self, keeping_spaces: bool = False) -> None:
        if self.row is not None:
            return  # inside a table row, blocks are parts of a cell
        raw = "".join(self.line)
        self.line.clear()
        text = raw.strip("\n") if keeping_spaces or self.pre else " ".join(raw.split())
        if text.strip():
            self.blocks.append(text)

    def _end_heading(self) -> None:
        text = " ".join("".join(self.heading or []).split())
        self.heading = None
        if not text:
            return
        self._end_section()
        level = self.heading_level
        del self.headings[level - 1 :]
        self.headings.append(text)

    def _end_section(self) -> None:
        self._end_block()
        text = "\n\n".join(self.blocks).strip()
        self.blocks.clear()
        if text:
            self.units.append(Unit(text=text, source=Source(headings=tuple(self.headings))))

    def finish(self) -> list[Unit]:
        if self.heading is not None:
            self._end_heading()
        if self.row is not None:
            self._end_row()
        self._end_section()
        return self.units


def _hidden(attrs: dict[str, str | None]) -> bool:
    if "hidden" in attrs or (attrs.get("aria-hidden") or "").lower() == "true":
        return True
    return bool(_HIDDEN_STYLE.search(attrs.get("style") or ""))
