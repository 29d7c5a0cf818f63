"""OCR of scans and images: the real RapidOCR models, on pages made with known text."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image

from ingest.errors import SkipFile
from ingest.loaders import ParseLimits, image, load_file, parser_version, pdf
from ingest.settings import IngestSettings
from ingest.stores.local import open_index
from ingest.sync import run_ingest
from ingest.worker import ParserResources, ParseWorker

from .conftest import CountingEmbedder
from .scans import PARAGRAPHS, full_pages, scanned_page, scanned_pdf
from .scans import accuracy as read_right


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> Path:
    return scanned_pdf(tmp_path_factory.mktemp("scans") / "scan.pdf", PARAGRAPHS)


@pytest.fixture(scope="module")
def scan_read(scan):
    return pdf.load(scan)


def test_a_scanned_pdf_is_read_page_by_page(scan_read):
    assert scan_read.ocr_pages == 2
    assert [u.source.page for u in scan_read.units] == [1, 2]
    for unit, lines in zip(scan_read.units, PARAGRAPHS, strict=True):
        assert accuracy(unit.text, "\n".join(lines)) >= 0.97, unit.text
    assert "The fire assembly point is the north car park." in scan_read.units[1].text


def test_each_word_keeps_its_box_on_the_page(scan_read):
    unit = scan_read.units[0]
    words = unit.text.split()
    assert len(unit.source.boxes) == len(words)
    for (start, end, x0, y0, x1, y1), word in zip(unit.source.boxes, words, strict=True):
        assert unit.text[start:end] == word
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    # The page's text starts an inch (of 8.5 × 11) from its top left corner.
    _, _, x0, y0, _, _ = unit.source.boxes[0]
    assert x0 == pytest.approx(1 / 8.5, abs=0.02) and y0 == pytest.approx(1 / 11, abs=0.02)
    # Boxes survive the index's JSON.
    assert type(unit.source).from_dict(unit.source.to_dict()) == unit.source


def test_a_page_with_a_text_layer_is_never_ocrd(tmp_path: Path):
    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    document.cell(text="This page has a text layer of its own.")
    document.add_page()
    picture = io.BytesIO()
    scanned_page(PARAGRAPHS[1], dpi=150).save(picture, "PNG")
    document.image(picture, x=0, y=0, w=document.w, h=document.h)
    path = tmp_path / "mixed.pdf"
    document.output(str(path))
    result = pdf.load(path)
    assert result.ocr_pages == 1
    first, second = result.units
    assert first.text == "This page has a text layer of its own." and not first.source.boxes
    assert second.source.page == 2 and "fire assembly point" in second.text


def test_with_ocr_off_scans_and_images_are_skipped_with_the_reason(scan, tmp_path: Path):
    with pytest.raises(SkipFile, match=r"SOURCED_OCR is off"):
        pdf.load(scan, ocr=False)
    png = tmp_path / "page.png"
    scanned_page(PARAGRAPHS[0], dpi=150).save(png)
    with pytest.raises(SkipFile, match=r"OCR, which is off \(SOURCED_OCR\)"):
        load_file(png, ParseLimits(ocr=False))
    # Turning OCR on or off re-reads what it reads, and only that.
    assert parser_version(scan, ocr=True) != parser_version(scan, ocr=False)
    assert parser_version(tmp_path / "a.docx", True) == parser_version(tmp_path / "a.docx", False)


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_images_are_read_by_ocr(tmp_path: Path, kind: str):
    path = tmp_path / f"page.{kind.lower()}"
    scanned_page(PARAGRAPHS[0], dpi=150).save(path, kind)
    result = load_file(path, ParseLimits())
    assert result.ocr_pages == 1
    (unit,) = result.units
    assert unit.source.page is None and unit.source.boxes
    assert accuracy(unit.text, "\n".join(PARAGRAPHS[0])) >= 0.97


def test_a_multipage_tiff_gives_one_unit_per_page(tmp_path: Path):
    path = tmp_path / "fax.tiff"
    first, second = (scanned_page(lines, dpi=150, seed=n) for n, lines in enumerate(PARAGRAPHS))
    first.save(path, "TIFF", save_all=True, append_images=[second], compression="tiff_lzw")
    result = image.load(path)
    assert [u.source.page for u in result.units] == [1, 2]
    assert "loading dock" in result.units[1].text


def test_a_blank_page_ends_with_its_reason(tmp_path: Path):
    path = tmp_path / "blank.png"
    Image.new("L", (1275, 1650), 240).save(path)
    with pytest.raises(SkipFile, match="no text found by OCR"):
        image.load(path)


def test_full_pages_are_read_under_the_parsers_limits_each_page_earning_its_time(tmp_path):
    # Three full pages under the default address-space limit (2 GB), and one second for the
    # file, which would never do for three pages of OCR: each page earns its own.
    scan = scanned_pdf(tmp_path / "full.pdf", full_pages(3), dpi=150)
    limits = ParseLimits()
    with ParseWorker(limits, ParserResources(timeout_s=1, cpu_s=1, ocr_page_s=60)) as worker:
        outcome = worker.parse(scan)
    assert outcome.result is not None, outcome.failed
    assert outcome.result.ocr_pages == 3
    with ParseWorker(limits, ParserResources(timeout_s=1, cpu_s=1, ocr_page_s=0.01)) as worker:
        outcome = worker.parse(scan)
    assert outcome.failed and ("timed out" in outcome.failed or "CPU" in outcome.failed)


def test_scans_are_ingested_searchable_with_boxes_per_chunk(scan, tmp_path: Path, model):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "scan.pdf").write_bytes(scan.read_bytes())
    scanned_page(PARAGRAPHS[1], dpi=150).save(docs / "notice.png")
    settings = IngestSettings(index_dir=tmp_path / "indexes")
    report = run_ingest([docs], "scans", settings, embedder=CountingEmbedder(model))
    assert sorted(report.added) == ["notice.png", "scan.pdf"] and report.ocr_pages == 3
    assert "OCR: 3 pages without a text layer read by OCR" in report.summary()
    index = open_index(settings.index_dir, "scans")
    for chunk in index.chunks():
        assert chunk.source.boxes
        for start, end, *_ in chunk.source.boxes:
            assert 0 <= start < end <= len(chunk.text)
    (row, _score), *_ = index.lexical("forklifts speed indoors", depth=3)
    best = index.chunks([row])[0]
    assert "Forklifts" in best.text
    # Unchanged, nothing is read again; with OCR off the scans are read again (and skipped).
    again = run_ingest([docs], "scans", settings, embedder=CountingEmbedder(model))
    assert again.ocr_pages == 0 and sorted(again.unchanged) == ["notice.png", "scan.pdf"]
    off = settings.model_copy(update={"ocr": False})
    report = run_ingest([docs], "scans", off, embedder=CountingEmbedder(model))
    assert {i.document for i in report.skipped} == {"notice.png", "scan.pdf"}


def accuracy(read: str, known: str) -> float:
    """The share of the known characters read right."""
    return read_right(read, known)[0]
