"""The original files behind cited passages: a PDF or an image, exactly as it was ingested, so
that the page can show the cited page with the quote highlighted.

Only documents of the index are served, only from where ingest read them, and only while the
file is unchanged (same size and time, else the same content hash): a file edited since would
not match the passage's page and offsets.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from app.errors import NotFound
from ingest.manifest import file_sha256
from ingest.stores.base import IndexReader

# What a browser shows by itself (TIFF is not: its passages are shown as text).
MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


def is_viewable(document: str) -> bool:
    return PurePosixPath(document).suffix.lower() in MEDIA_TYPES


def original_file(version: IndexReader, name: str, document: str) -> tuple[Path, str]:
    """The file to serve for `document` of the index `name`, and its media type."""
    media_type = MEDIA_TYPES.get(PurePosixPath(document).suffix.lower())
    if media_type is None:
        raise NotFound(
            f"'{document}' is not a PDF or an image; its passages are shown as text", "document"
        )
    record = version.manifest([document]).files.get(document)
    if record is None or record.skipped is not None:
        raise NotFound(f"no document '{document}' in index '{name}'", "document")
    unavailable = NotFound(
        f"the original of '{document}' is not available on this server (it was moved or "
        "changed since it was indexed, or indexed elsewhere); ingest it again to show its pages",
        "document",
    )
    if not record.origin:
        raise unavailable
    path = Path(record.origin)
    try:
        stat = path.stat()
        unchanged = (stat.st_size, stat.st_mtime_ns) == (record.size, record.mtime_ns)
        if not unchanged and (stat.st_size != record.size or file_sha256(path) != record.sha256):
            raise unavailable
    except OSError:
        raise unavailable from None
    return path, media_type
