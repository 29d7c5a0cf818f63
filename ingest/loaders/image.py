"""Images (PNG, JPEG, TIFF): their text read by OCR (ingest/loaders/ocr.py), with each word's
box. A multi-page TIFF gives one unit per page, its number as the locator."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from ingest.errors import LoadError, SkipFile
from ingest.loaders import ocr
from ingest.units import LoadResult, Source, Unit

PARSER_VERSION = "image-1"
EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

# An image claiming more pixels than this is refused before it is decoded (a decompression
# bomb: a small file that unpacks into gigabytes). 60 megapixels is an A3 page at 600 dpi.
MAX_PIXELS = 60_000_000
MAX_FRAMES = 500  # pages read from one TIFF


def load(path: Path, ocr_enabled: bool = True) -> LoadResult:
    if not ocr_enabled:
        raise SkipFile("an image: its text is read by OCR, which is off (SOURCED_OCR)")
    units: list[Unit] = []
    warnings: list[str] = []
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            for number, frame in enumerate(ImageSequence.Iterator(image), 1):
                if number > MAX_FRAMES:
                    warnings.append(f"only the first {MAX_FRAMES} of {frames} pages were read")
                    break
                if frame.width * frame.height > MAX_PIXELS:
                    raise LoadError(
                        f"the image is {frame.width}×{frame.height} pixels, more than the "
                        f"{MAX_PIXELS // 1_000_000} megapixels read"
                    )
                # Upright as viewers show it, so that the boxes fall on the words there.
                found = ocr.read_image(ImageOps.exif_transpose(frame.copy()))
                page = number if frames > 1 else None
                if not found.text.strip():
                    if page is not None:
                        warnings.append(f"no text found by OCR on page {page}")
                    continue
                units.append(Unit(found.text, Source(page=page, boxes=found.boxes)))
    except Image.DecompressionBombError as exc:
        raise LoadError(f"the image is too large to read: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise LoadError(f"not a readable image: {exc}") from exc
    if not units:
        raise SkipFile("no text found by OCR")
    return LoadResult(units=units, warnings=warnings, ocr_pages=len(units))
