"""PDF: one unit per page, with its 1-based number and the page label the PDF prints.
Running headers and footers ("User Guide - page 2" on every page) are left out.

A page without a text layer (a scan) is rendered and read by OCR (ingest/loaders/ocr.py), its
words' boxes kept; a page that has a text layer is never OCR'd.
"""

import logging
import math
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

from pypdf import PdfReader, apply_configuration
from pypdf.errors import FileNotDecryptedError, LimitReachedError, PdfReadError

from ingest.errors import LoadError, SkipFile
from ingest.loaders import ocr
from ingest.units import LoadResult, Source, Unit

PARSER_VERSION = "pdf-3"
EXTENSIONS = (".pdf",)

# pypdf logs every recoverable oddity of a damaged file; the summary reports what matters.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# A short line at the top or bottom of at least this share of the pages (and of three) is a
# running header or footer: kept, it would run into each page's last sentence and be quoted
# as part of it. The page number stays in the locator.
_RUNNING_SHARE = 0.5
_EDGE_LINES = 2  # lines looked at on each edge of a page
_RUNNING_MAX_CHARS = 80


def load(
    path: Path, max_pages: int = 5_000, max_stream_bytes: int = 75_000_000, ocr: bool = True
) -> LoadResult:
    try:
        with apply_configuration(**_stream_bounds(max_stream_bytes)):
            return _load(path, max_pages, use_ocr=ocr)
    except LimitReachedError as exc:
        limit = f"{max_stream_bytes / 1_000_000:g} MB"
        raise LoadError(
            f"a stream or structure exceeds a safety limit ({limit}, SOURCED_PDF_MAX_STREAM_MB): "
            f"{exc}"
        ) from exc


def _stream_bounds(max_bytes: int) -> dict[str, int]:
    """One bound for every decoder pypdf has, so no filter can inflate a stream past it."""
    return {
        "maximum_declared_stream_length": max_bytes,
        "array_based_stream_maximum_output_length": max_bytes,
        "zlib_maximum_output_length": max_bytes,
        "lzw_maximum_output_length": max_bytes,
        "run_length_maximum_output_length": max_bytes,
        "brotli_maximum_output_length": max_bytes,
        "jbig2_maximum_output_length": max_bytes,
        "image_maximum_buffer_size": max_bytes,
    }


def _load(path: Path, max_pages: int, use_ocr: bool) -> LoadResult:
    try:
        reader = PdfReader(path, strict=False)
        _unlock(reader)
        labels = _page_labels(reader)
        units: list[Unit] = []
        warnings: list[str] = []
        scanned: list[int] = []  # pages without a text layer
        if len(reader.pages) > max_pages:
            warnings.append(
                f"only the first {max_pages:,} of {len(reader.pages):,} pages were read "
                "(SOURCED_PDF_MAX_PAGES)"
            )
        for index, page in enumerate(reader.pages):
            number = index + 1
            if number > max_pages:
                break
            text = (page.extract_text() or "").strip()
            if not text:
                scanned.append(number)
                if not use_ocr:
                    warnings.append(f"no text on page {number} — scanned? (SOURCED_OCR is off)")
                continue
            source = Source(page=number, page_label=_label(labels, number))
            units.append(Unit(text=text, source=source))
        texts = _without_running_lines([unit.text for unit in units])
        units = [replace(unit, text=text) for text, unit in zip(texts, units, strict=True)]
        read = _read_scans(path, scanned, labels, warnings) if use_ocr and scanned else []
        units = sorted(units + read, key=lambda unit: unit.source.page or 0)
    except (SkipFile, LoadError):
        raise
    except FileNotDecryptedError as exc:
        raise SkipFile("encrypted") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise LoadError(f"not a readable PDF: {exc}") from exc
    if not units:
        if use_ocr:
            raise SkipFile(f"no text in {len(scanned)} page(s), none found by OCR either")
        raise SkipFile(
            f"no extractable text in {len(scanned)} page(s) — scanned or image-only PDF? "
            "(SOURCED_OCR is off)"
        )
    return LoadResult(units=units, warnings=warnings, ocr_pages=len(read) if use_ocr else 0)


def _label(labels: list[str], number: int) -> str | None:
    label = labels[number - 1] if number - 1 < len(labels) else None
    return label if label != str(number) else None


def _read_scans(
    path: Path, numbers: list[int], labels: list[str], warnings: list[str]
) -> list[Unit]:
    """The pages without a text layer, rendered and read by OCR (pdfium renders them)."""
    import pypdfium2 as pdfium

    units = []
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        warnings.append(f"pages without text could not be rendered for OCR: {exc}")
        return []
    try:
        for number in numbers:
            try:
                page = document[number - 1]
                # Rendered at the OCR resolution, a poster-sized page at the longest side read.
                longest = max(*page.get_size(), 1.0)
                scale = min(ocr.RENDER_DPI / 72, ocr.MAX_SIDE_PX / longest)
                image = page.render(scale=scale).to_pil()
            except (pdfium.PdfiumError, ValueError, MemoryError) as exc:
                warnings.append(f"page {number} could not be rendered for OCR: {exc}")
                continue
            found = ocr.read_image(image)
            if not found.text.strip():
                warnings.append(f"no text on page {number}, none found by OCR either")
                continue
            source = Source(page=number, page_label=_label(labels, number), boxes=found.boxes)
            units.append(Unit(text=found.text, source=source))
    finally:
        document.close()
    return units


def _without_running_lines(pages: list[str]) -> list[str]:
    """The pages' texts without the lines that recur at their edges (numbers may differ)."""
    if len(pages) < 3:
        return pages
    lines = [text.split("\n") for text in pages]
    seen: Counter[str] = Counter()
    for page in lines:
        seen.update({shape for shape in map(_shape, _edges(page)) if shape})
    needed = max(3, math.ceil(_RUNNING_SHARE * len(pages)))
    running = {shape for shape, count in seen.items() if count >= needed}
    if not running:
        return pages
    result = []
    for text, page in zip(pages, lines, strict=True):
        start, end = 0, len(page)
        while start < min(_EDGE_LINES, end) and _shape(page[start]) in running:
            start += 1
        while end > max(start, len(page) - _EDGE_LINES) and _shape(page[end - 1]) in running:
            end -= 1
        kept = "\n".join(page[start:end]).strip()
        result.append(kept or text)  # a page of nothing else keeps its line
    return result


def _edges(page: list[str]) -> list[str]:
    return page[:_EDGE_LINES] + page[-_EDGE_LINES:]


def _shape(line: str) -> str:
    """A line as it recurs from page to page: case, spacing and numbers aside."""
    words = " ".join(line.split())
    if not words or len(words) > _RUNNING_MAX_CHARS:
        return ""
    return re.sub(r"\d+", "#", words.lower())


def _unlock(reader: PdfReader) -> None:
    """Open PDFs that are encrypted with an empty user password; skip the rest."""
    if not reader.is_encrypted:
        return
    try:
        unlocked = reader.decrypt("")
    except (NotImplementedError, FileNotDecryptedError, PdfReadError) as exc:
        raise SkipFile(f"encrypted ({exc})") from exc
    if not unlocked:
        raise SkipFile("encrypted")


def _page_labels(reader: PdfReader) -> list[str]:
    try:
        return list(reader.page_labels)
    except Exception:  # a broken /PageLabels tree only costs us the labels
        return []
