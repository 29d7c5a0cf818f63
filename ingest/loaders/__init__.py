"""One loader per format. Each module exposes EXTENSIONS, PARSER_VERSION and `load(path)`.

`load(path)` returns a LoadResult (units with provenance, plus warnings), raises SkipFile for a
file that is deliberately not indexed (empty, encrypted, no text) and LoadError for one that
cannot be parsed. Bumping a PARSER_VERSION makes the next ingest re-read that format's files.
Every unit's text is then cleaned of invisible characters (ingest/sanitize.py).
"""

from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

from ingest.errors import SkipFile
from ingest.loaders import csv, docx, html, image, json, pdf, pptx, text, xlsx
from ingest.sanitize import SANITIZER_VERSION, strip_invisible
from ingest.units import LoadResult

_MODULES: tuple[ModuleType, ...] = (pdf, docx, pptx, xlsx, csv, json, text, html, image)
# Formats whose text may be read by OCR: their version says whether it was.
_OCR_MODULES = (pdf, image)
LOADERS: dict[str, ModuleType] = {ext: m for m in _MODULES for ext in m.EXTENSIONS}
SUPPORTED_EXTENSIONS = tuple(sorted(LOADERS))


@dataclass(frozen=True)
class ParseLimits:
    csv_field_limit: int = 1_000_000
    json_max_depth: int = 64
    csv_max_rows: int = 1_000_000
    pdf_max_pages: int = 5_000
    pdf_max_stream_bytes: int = 75_000_000
    ocr: bool = True
    table_max_rows: int = 100_000


def parser_version(path: Path, ocr: bool = True) -> str | None:
    """The version of the loader that reads this file, or None when the type is unsupported.
    Turning OCR on or off changes the version of the formats it reads, so they are re-read."""
    module = LOADERS.get(path.suffix.lower())
    if module is None:
        return None
    version = f"{module.PARSER_VERSION}+{SANITIZER_VERSION}"
    return version + ("+ocr" if ocr else "") if module in _OCR_MODULES else version


def load_file(path: Path, limits: ParseLimits) -> LoadResult:
    module = LOADERS[path.suffix.lower()]
    if path.stat().st_size == 0:
        raise SkipFile("empty file")
    if module is csv:
        result = csv.load(
            path,
            field_limit=limits.csv_field_limit,
            max_rows=limits.csv_max_rows,
            table_rows=limits.table_max_rows,
        )
    elif module is xlsx:
        result = xlsx.load(path, max_rows=limits.csv_max_rows, table_rows=limits.table_max_rows)
    elif module is json:
        result = json.load(path, max_depth=limits.json_max_depth, table_rows=limits.table_max_rows)
    elif module is pdf:
        result = pdf.load(
            path,
            max_pages=limits.pdf_max_pages,
            max_stream_bytes=limits.pdf_max_stream_bytes,
            ocr=limits.ocr,
        )
    elif module is image:
        result = image.load(path, ocr_enabled=limits.ocr)
    else:
        result = module.load(path)
    return _without_invisible(result)


def _without_invisible(result: LoadResult) -> LoadResult:
    units, removed = [], 0
    for unit in result.units:
        text, count = strip_invisible(unit.text)
        units.append(replace(unit, text=text) if count else unit)
        removed += count
    if not removed:
        return result
    warning = f"removed {removed} invisible or control characters"
    return LoadResult(units, [*result.warnings, warning], result.ocr_pages, result.tables)
