"""Finding the files to ingest under the paths the user gave, with their document names.

A document's name is its path relative to the folder given (a single file: its file name), with
forward slashes. When several paths are given, each name starts with its folder's name so that
names stay unique. Hidden files and folders (names starting with '.') are passed over, and so
are links that lead outside the folder and the index folder itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import UsageError


@dataclass(frozen=True)
class FoundFile:
    path: Path  # where it is on this machine; never shown to users
    name: str  # the document's name: relative, forward slashes
    size: int
    mtime_ns: int

    @property
    def extension(self) -> str:
        return self.path.suffix.lower()


def scan(
    paths: list[Path], exclude: Path | None = None, uploads: Path | None = None
) -> list[FoundFile]:
    """The files under `paths`, sorted by name; nothing inside `exclude` (the index folder).

    `uploads`, the index's own folder of uploaded files, is scanned too when it exists; its
    files are named `uploads/…`."""
    roots: list[tuple[Path, str]] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"no such file or folder: {path}")
        roots.append((path.resolve(), ""))
    if len(roots) > 1:
        roots = [(root, f"{root.name}/") for root, _ in roots]
    if uploads is not None and uploads.is_dir():
        roots.append((uploads.resolve(), "uploads/"))
    if not roots:
        raise UsageError("give at least one folder or file to ingest")
    found: dict[str, FoundFile] = {}
    for root, prefix in roots:
        for file in _walk(root, exclude.resolve() if exclude else None):
            name = prefix + (file.name if root.is_file() else file.relative_to(root).as_posix())
            if name in found:
                raise UsageError(f"two files would both be named '{name}'; ingest them apart")
            stat = file.stat()
            found[name] = FoundFile(file, name, stat.st_size, stat.st_mtime_ns)
    return [found[name] for name in sorted(found)]


def _walk(root: Path, exclude: Path | None):
    if root.is_file():
        yield root
        return
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            d for d in subfolders if not d.startswith(".") and here / d != exclude
        )
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = here / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                continue
            if path.is_file():
                yield path
