"""What the Office formats share: a DOCX, XLSX or PPTX file is a zip archive of XML parts.

Before anything is unpacked, the archive's declared sizes are checked (Python's zip reader never
unpacks past them): a few-kilobyte "zip bomb" can otherwise expand to gigabytes in the parser's
memory.
"""

import zipfile
from pathlib import Path

from ingest.errors import LoadError

MAX_UNPACKED_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200  # unpacked / packed, for archives that unpack to more than RATIO_FLOOR_BYTES
RATIO_FLOOR_BYTES = 16 * 1024 * 1024
MAX_PARTS = 10_000


def check_archive(path: Path) -> None:
    """LoadError for an archive that would unpack past the limits (zipfile.BadZipFile for a
    file that is no archive: each format says so in its own words)."""
    with zipfile.ZipFile(path) as archive:
        parts = archive.infolist()
    if len(parts) > MAX_PARTS:
        raise LoadError(f"the archive holds {len(parts)} parts (limit {MAX_PARTS}): a zip bomb?")
    unpacked = sum(part.file_size for part in parts)
    packed = max(sum(part.compress_size for part in parts), 1)
    if unpacked > MAX_UNPACKED_BYTES:
        raise LoadError(
            f"the archive would unpack to {unpacked / 2**20:,.0f} MB "
            f"(limit {MAX_UNPACKED_BYTES / 2**20:,.0f} MB): a zip bomb?"
        )
    if unpacked > RATIO_FLOOR_BYTES and unpacked / packed > MAX_RATIO:
        raise LoadError(
            f"the archive would unpack {unpacked / packed:,.0f} times its size "
            f"(limit {MAX_RATIO}): a zip bomb?"
        )
