"""One loader per format. Each module exposes EXTENSIONS, PARSER_VERSION and `load(path)`.

`load(path)` returns a LoadResult (units with provenance, plus warnings), raises SkipFile for a
file that is deliberately not indexed (empty, encrypted, no text) and LoadError for one that
cannot be parsed. Bumping a PARSER_VERSION makes the next ingest re-read that format's files.
"""

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ingest.loaders import csv, docx, json, pdf, text
from ingest.units import LoadResult

_MODULES: tuple[ModuleType, ...] = (pdf, docx, csv, json, text)
LOADERS: dict[str, ModuleType] = {ext: m for m in _MODULES for ext in m.EXTENSIONS}
SUPPORTED_EXTENSIONS = tuple(sorted(LOADERS))


@dataclass(frozen=True)
class ParseLimits:
    csv_field_limit: int = 1_000_000
    json_max_depth: int = 64


def parser_version(path: Path) -> str | None:
    """The version of the loader that reads this file, or None when the type is unsupported."""
    module = LOADERS.get(path.suffix.lower())
    return module.PARSER_VERSION if module else None


def load_file(path: Path, limits: ParseLimits) -> LoadResult:
    module = LOADERS[path.suffix.lower()]
    if module is csv:
        return csv.load(path, field_limit=limits.csv_field_limit)
    if module is json:
        return json.load(path, max_depth=limits.json_max_depth)
    return module.load(path)
