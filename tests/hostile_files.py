"""Files built to break parsers: bombs, loops, truncations, lies about their type.

Each builder writes one file and returns its path; `write_all` writes the whole set with the
outcome the ingest is expected to report for it.
"""

from __future__ import annotations

import json
import shutil
import zipfile
import zlib
from pathlib import Path

from .conftest import SAMPLE

_PAGE_TEXT = b"BT /F1 12 Tf 72 720 Td (Hello bounded world) Tj ET\n"


def minimal_pdf(objects: list[bytes]) -> bytes:
    """A PDF file of the given numbered objects (1 is the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _flate_stream(data: bytes) -> bytes:
    packed = zlib.compress(data, 9)
    header = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
    return header + packed + b"\nendstream"


def _one_page_pdf(content: bytes, kids: bytes = b"[5 0 R]", count: int = 1) -> bytes:
    return minimal_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids %s /Count %d >>" % (kids, count),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            _flate_stream(content),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>",
        ]
    )


def pdf_stream_bomb(path: Path, megabytes: int = 80) -> Path:
    """A page whose content stream is ~100 KB on disk and inflates to `megabytes`."""
    path.write_bytes(_one_page_pdf(_PAGE_TEXT + b" " * (megabytes * 1_000_000)))
    return path


def pdf_page_loop(path: Path) -> Path:
    """A page tree that lists itself among its own kids."""
    path.write_bytes(_one_page_pdf(_PAGE_TEXT, kids=b"[2 0 R 5 0 R]", count=2))
    return path


def docx_zip_bomb(path: Path, megabytes: int, parts: int = 1) -> Path:
    """A DOCX-shaped zip whose extra parts unpack to many megabytes of zeros."""
    shutil.copy(SAMPLE / "administration.docx", path)
    return zip_bomb(path, megabytes, parts)


def workbook(path: Path) -> Path:
    """A small real XLSX: a sheet with a header and two rows."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Settings"
    for row in (["Setting", "Default"], ["SOURCED_TOP_K", 5], ["SOURCED_PORT", 8000]):
        book.active.append(row)
    book.save(path)
    return path


def deck(path: Path) -> Path:
    """A small real PPTX: one titled slide."""
    from pptx import Presentation

    presentation = Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = "Release checklist"
    slide.placeholders[1].text = "Sign off every release."
    presentation.save(path)
    return path


def zip_bomb(path: Path, megabytes: int, parts: int = 1) -> Path:
    """Add parts to the Office file at `path` that unpack to many megabytes of zeros."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        zeros = b"\0" * (1024 * 1024)
        for n in range(parts):
            with archive.open(f"padding/part{n}.bin", "w", force_zip64=True) as part:
                for _ in range(megabytes // parts):
                    part.write(zeros)
    return path


def truncated(source: Path, path: Path) -> Path:
    """The first third of a real file, as a download cut short leaves it."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def write_all(folder: Path) -> dict[str, str]:
    """Write every hostile file into `folder`; returns name → expected outcome ("failed" or
    "skipped")."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    def add(name: str, outcome: str) -> Path:
        expected[name] = outcome
        return folder / name

    pdf_stream_bomb(add("stream-bomb.pdf", "failed"))
    pdf_page_loop(add("page-loop.pdf", "failed"))
    docx_zip_bomb(add("zip-bomb.docx", "failed"), megabytes=24)
    zip_bomb(workbook(add("zip-bomb.xlsx", "failed")), megabytes=24)
    zip_bomb(deck(add("zip-bomb.pptx", "failed")), megabytes=24)
    truncated(SAMPLE / "administration.docx", add("truncated.docx", "failed"))
    truncated(SAMPLE / "user-guide.pdf", add("truncated.pdf", "failed"))
    for suffix in (".pdf", ".docx", ".xlsx", ".pptx", ".csv", ".json", ".md", ".txt", ".html"):
        add(f"zero-length{suffix}", "skipped").write_bytes(b"")
    # Wrong extensions: an image called a PDF, a PDF called a DOCX, a zip called JSON.
    add("photo.pdf", "failed").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    shutil.copy(SAMPLE / "user-guide.pdf", add("user-guide-renamed.docx", "failed"))
    shutil.copy(SAMPLE / "administration.docx", add("archive.json", "failed"))
    shutil.copy(SAMPLE / "administration.docx", add("document-renamed.xlsx", "failed"))
    shutil.copy(SAMPLE / "user-guide.pdf", add("user-guide-renamed.pptx", "failed"))
    add("binary.txt", "failed").write_bytes(bytes(range(256)) * 64)
    add("deep.json", "failed").write_text("[" * 100_000 + "]" * 100_000)
    add("not-a-number.json", "failed").write_text(json.dumps({"value": float("nan")}))
    add("infinite.json", "failed").write_text('{"value": Infinity}')
    add("huge-field.csv", "failed").write_text('a,b\n1,"' + "x" * 1_200_000 + '"\n')
    html_nested_deep(add("deep.html", "added"))
    add("scripts-only.html", "skipped").write_text(
        "<html><head><script>fetch('http://127.0.0.1:9/')</script></head><body>"
        "<style>p{}</style><nav>Home</nav></body></html>"
    )
    add("binary.html", "failed").write_bytes(bytes(range(256)) * 64)
    image_bomb(add("pixel-bomb.png", "failed"))
    add("zero-length.png", "skipped").write_bytes(b"")
    add("not-an-image.jpg", "failed").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 16)
    return expected


def image_bomb(path: Path, side: int = 12_000) -> Path:
    """A PNG of a few kilobytes that claims 144 megapixels (a decompression bomb)."""
    from PIL import Image

    Image.new("1", (side, side), 1).save(path, optimize=True)
    return path


def html_nested_deep(path: Path, depth: int = 200_000) -> Path:
    """A page of 200,000 nested elements around one sentence (no parser may recurse on it)."""
    path.write_text("<div>" * depth + "The deepest sentence." + "</div>" * depth)
    return path
