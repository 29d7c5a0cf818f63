"""Scanned pages with known text, made here: text typeset on a page, rasterized at a scanner's
resolution with a scanner's flaws (a slight skew, grey paper, speckle), and saved as an
image-only PDF or an image. The OCR tests and bench/ocr.py read them back."""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

LETTER_IN = (8.5, 11.0)


def scanned_page(
    lines: list[str], dpi: int = 200, point_size: float = 11.0, skew_deg: float = 0.4, seed: int = 0
) -> Image.Image:
    """A letter-sized page of `lines` as a scanner would give it back (greyscale)."""
    rng = np.random.default_rng(seed)
    width, height = (round(side * dpi) for side in LETTER_IN)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    # Pillow's own font: the same glyphs on every machine.
    font = ImageFont.load_default(size=point_size / 72 * dpi)
    margin, leading = dpi, round(point_size / 72 * dpi * 1.5)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * leading), line, fill=20, font=font)
    page = page.rotate(skew_deg, resample=Image.Resampling.BICUBIC, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(0.6))
    # Grey paper, and dark specks on about one pixel in a thousand.
    pixels = np.minimum(np.asarray(page, dtype=np.uint8), 235)
    pixels[rng.random(pixels.shape) < 0.001] = 60
    return Image.fromarray(pixels, "L")


def scanned_pdf(path: Path, pages: list[list[str]], dpi: int = 200) -> Path:
    """An image-only PDF (no text layer) of the pages."""
    images = [scanned_page(lines, dpi=dpi, seed=n) for n, lines in enumerate(pages)]
    images[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return path


PARAGRAPHS = [
    [
        "Quarterly report of the Northwind warehouse team.",
        "Revenue grew by 12 percent over the last quarter.",
        "Refunds are processed within 14 days of the request.",
        "Contact support@example.com for help with your account.",
    ],
    [
        "Safety procedures for the loading dock.",
        "Forklifts must not exceed 8 kilometres per hour indoors.",
        "The fire assembly point is the north car park.",
        "Report every incident to the shift supervisor the same day.",
    ],
]


def full_pages(count: int) -> list[list[str]]:
    """Pages filled as printed pages are: 36 lines each, the paragraphs above over and over."""
    lines = [line for paragraph in PARAGRAPHS for line in [*paragraph, ""]]
    return [[lines[(page * 36 + i) % len(lines)] for i in range(36)] for page in range(count)]


def accuracy(read: str, known: str) -> tuple[float, float]:
    """Characters right and words right, as shares of the known text (spacing aside)."""
    a, b = " ".join(read.split()), " ".join(known.split())
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    chars = sum(m.size for m in matcher.get_matching_blocks()) / max(len(b), 1)
    words_read, words_known = a.split(), b.split()
    matcher = difflib.SequenceMatcher(None, words_read, words_known, autojunk=False)
    words = sum(m.size for m in matcher.get_matching_blocks()) / max(len(words_known), 1)
    return chars, words
