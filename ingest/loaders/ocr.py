"""OCR: the text of a page image, with the box of each word on the page.

RapidOCR (PP-OCRv4 detection and recognition, ONNX) carries its models inside its wheel, so it
reads offline. It runs in the parse worker like every loader, under the same limits; each page
it reads earns the worker its own time budget (`on_page`, set by ingest/worker.py), so a long
scan is not cut short by a limit sized for one text file.

Boxes are `(start, end, x0, y0, x1, y1)`: a word's offsets in the page's text and its corners
as fractions of the page's width and height, so that the page can be shown at any size with
the quoted words highlighted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ingest.sanitize import strip_invisible
from ingest.units import Box

# Pages are rendered at this resolution for OCR: print-sized text (10 pt) is then about 20
# pixels high, which the recognizer reads well; more costs time without gaining characters.
RENDER_DPI = 150
# The longest side a page image is read at (a poster-sized page is scaled down to it).
MAX_SIDE_PX = 2_500
# A page image smaller than this (a thumbnail-sized page) holds no text worth reading.
MIN_SIDE_PX = 32
# Recognized lines less sure than this are left out (stains, ruling, pictures).
MIN_LINE_SCORE = 0.5


# Called before each page is read (the parse worker extends its time limits).
on_page: Callable[[], None] | None = None

_engine = None


@dataclass(frozen=True)
class OcrText:
    text: str  # lines in reading order; a wider gap between lines starts a paragraph
    boxes: tuple[Box, ...]  # one per word


class OcrUnavailable(RuntimeError):
    """The OCR package is not installed."""


def read_image(image: Image.Image) -> OcrText:
    """The text of one page image (empty when it holds none)."""
    if on_page is not None:
        on_page()
    image = _fit(image)
    width, height = image.size
    if min(width, height) < MIN_SIDE_PX:
        return OcrText("", ())
    pixels = np.asarray(_binarized(image.convert("L")).convert("RGB"))
    found, _elapsed = _get_engine()(pixels, return_word_box=True)
    lines = [_Line.of(item) for item in found or () if item[2] >= MIN_LINE_SCORE]
    return _layout([line for line in lines if line.text], width, height)


def _fit(image: Image.Image) -> Image.Image:
    longest = max(image.size)
    if longest <= MAX_SIDE_PX:
        return image
    scale = MAX_SIDE_PX / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _binarized(grey: Image.Image) -> Image.Image:
    """Ink black, paper white, at Otsu's threshold. Scans come grey, blurred and JPEG-speckled;
    read as they are, the recognizer drops most spaces between words, read binarized it keeps
    them (tests/scans.py pages: 4 of 4 lines right against 1)."""
    histogram = np.bincount(np.asarray(grey).ravel(), minlength=256).astype(np.float64)
    total = histogram.sum()
    if total == 0:
        return grey
    levels = np.arange(256)
    weight = np.cumsum(histogram)
    mass = np.cumsum(histogram * levels)
    background = weight[:-1]
    foreground = total - background
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mass[-1] * background / total - mass[:-1]) ** 2 / (background * foreground)
    between = np.nan_to_num(between)
    if not between.any():  # one shade only: a blank page
        return grey
    threshold = int(np.argmax(between))
    return grey.point(lambda v: 0 if v <= threshold else 255)


def _get_engine():
    global _engine
    if _engine is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:  # pragma: no cover - a dependency of Sourced
            raise OcrUnavailable(
                "OCR needs the rapidocr-onnxruntime package; install it, or set SOURCED_OCR=false"
            ) from exc
        _engine = RapidOCR(print_verbose=False)
    return _engine


@dataclass(frozen=True)
class _Line:
    text: str
    corners: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    words: tuple[tuple[str, tuple[float, float, float, float]], ...]

    @classmethod
    def of(cls, item: list) -> _Line:
        polygon, text = item[0], " ".join(str(item[1]).split())
        corners = _bounds(polygon)
        words = _words(item[3], item[4]) if len(item) >= 5 else ()
        if not words or "".join(w for w, _ in words) != text.replace(" ", ""):
            words = _spread(text, corners)  # no usable character boxes: share the line's
        return cls(" ".join(w for w, _ in words), corners, words)


def _bounds(polygon) -> tuple[float, float, float, float]:
    xs = [float(p[0]) for p in polygon]
    ys = [float(p[1]) for p in polygon]
    return min(xs), min(ys), max(xs), max(ys)


def _words(char_boxes, chars) -> tuple[tuple[str, tuple[float, float, float, float]], ...]:
    """Characters (each with its box) gathered into words at the spaces."""
    words, current, boxes = [], "", []
    for char, box in zip(chars, char_boxes, strict=False):
        if str(char).isspace():
            if current:
                words.append((current, _union(boxes)))
            current, boxes = "", []
            continue
        current += str(char)
        boxes.append(_bounds(box))
    if current:
        words.append((current, _union(boxes)))
    return tuple(words)


def _spread(text: str, corners) -> tuple[tuple[str, tuple[float, float, float, float]], ...]:
    """Word boxes cut from the line's box in proportion to the words' lengths."""
    x0, y0, x1, y1 = corners
    per_char = (x1 - x0) / max(len(text), 1)
    words, position = [], 0
    for word in text.split(" "):
        left = x0 + position * per_char
        words.append((word, (left, y0, left + len(word) * per_char, y1)))
        position += len(word) + 1
    return tuple(words)


def _union(boxes) -> tuple[float, float, float, float]:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _layout(lines: list[_Line], width: int, height: int) -> OcrText:
    """The lines top to bottom (left to right within a row), as text with word boxes."""
    row = _row_height(lines)
    lines.sort(key=lambda line: (round(line.corners[1] / row), line.corners[0]))
    text, boxes = "", []
    previous: _Line | None = None
    for line in lines:
        if previous is not None:
            line_height = previous.corners[3] - previous.corners[1]
            gap = line.corners[1] - previous.corners[3]
            text += "\n\n" if gap > 0.8 * line_height else "\n"
        for i, (raw, (x0, y0, x1, y1)) in enumerate(line.words):
            # Cleaned here, not after: the offsets must index the text as it is kept.
            word = strip_invisible(raw)[0] or "?"
            if i:
                text += " "
            start = len(text)
            text += word
            boxes.append(
                (
                    start,
                    len(text),
                    round(x0 / width, 4),
                    round(y0 / height, 4),
                    round(x1 / width, 4),
                    round(y1 / height, 4),
                )
            )
        previous = line
    return OcrText(text, tuple(boxes))


def _row_height(lines: list[_Line]) -> float:
    """Half the median line height: lines whose tops are closer share a row."""
    heights = sorted(line.corners[3] - line.corners[1] for line in lines)
    return max(heights[len(heights) // 2] / 2, 1.0) if heights else 1.0
