import contextlib
import json
import shutil
from pathlib import Path

import pytest

from ingest.errors import LoadError, SkipFile
from ingest.loaders import pdf
from ingest.stores.local import open_index
from ingest.sync import run_ingest

from .conftest import CORPORA, SAMPLE
from .hostile_files import pdf_page_loop, pdf_stream_bomb

PDFS = CORPORA / "pdf"
pytestmark = pytest.mark.corpora


def described_pdfs():
    if not PDFS.is_dir():
        return []
    files = json.loads((PDFS / "files.json").read_text())["data"]
    return [f for f in files if (PDFS / f["path"]).exists()]


@pytest.mark.parametrize("info", described_pdfs(), ids=lambda f: f["path"])
def test_every_real_pdf_is_loaded_or_reported(info):
    path = PDFS / info["path"]
    try:
        result = pdf.load(path)
    except SkipFile as skip:
        assert info["encrypted"] or "none found by OCR either" in skip.reason
        return
    except LoadError as error:
        assert "017-unreadable-meta-data" in info["path"], error.reason
        return
    pages = [unit.source.page for unit in result.units]
    assert pages == sorted(set(pages)), "one unit per page, in order"
    assert all(1 <= p <= info["pages"] for p in pages)
    warned = [w for w in result.warnings if w.startswith("no text on page")]
    assert len(pages) + len(warned) == info["pages"]


def test_page_numbers_follow_the_document():
    result = pdf.load(PDFS / "004-pdflatex-4-pages" / "pdflatex-4-pages.pdf")
    assert [u.source.page for u in result.units] == [1, 2, 3, 4]
    assert all(u.text.strip() for u in result.units)


def test_running_footers_are_left_out_and_the_page_stays_in_the_locator():
    result = pdf.load(SAMPLE / "user-guide.pdf")
    assert [u.source.page for u in result.units] == [1, 2, 3, 4, 5]
    assert not any("User Guide - page" in u.text for u in result.units)
    assert result.units[1].text.endswith("allow hub access with HF_HUB_OFFLINE=0.")


def test_page_labels_are_kept_when_they_differ_from_the_number():
    result = pdf.load(PDFS / "009-pdflatex-geotopo" / "GeoTopo-komprimiert.pdf")
    first = result.units[0].source
    assert first.page == 1 and first.page_label == "i"
    assert "p. 1 (i)" in first.locator()


def test_encrypted_pdf_is_skipped_as_encrypted():
    with pytest.raises(SkipFile, match="encrypted"):
        pdf.load(PDFS / "005-libreoffice-writer-password" / "libreoffice-writer-password.pdf")


def test_image_only_pdf_of_a_picture_is_read_by_ocr_and_reported_not_indexed_empty():
    # The shared image-only PDFs hold photographs and drawings: OCR finds no words in them.
    with pytest.raises(SkipFile, match="none found by OCR either"):
        pdf.load(PDFS / "019-grayscale-image" / "grayscale-image.pdf")
    with pytest.raises(SkipFile, match=r"no extractable text .* \(SOURCED_OCR is off\)"):
        pdf.load(PDFS / "019-grayscale-image" / "grayscale-image.pdf", ocr=False)


def test_pages_without_text_are_warned_about():
    result = pdf.load(PDFS / "007-imagemagick-images" / "imagemagick-images.pdf")
    assert "no text on page 4, none found by OCR either" in result.warnings
    assert result.ocr_pages == 0


def test_broken_pdfs_fail_with_a_reason(tmp_path: Path):
    good = (PDFS / "004-pdflatex-4-pages" / "pdflatex-4-pages.pdf").read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(good[: len(good) // 3])
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"this is not a pdf at all\n" * 50)
    for path in (garbage, PDFS / "017-unreadable-meta-data" / "unreadablemetadata.pdf"):
        with pytest.raises(LoadError, match="not a readable PDF"):
            pdf.load(path)
    with contextlib.suppress(LoadError, SkipFile):  # may keep readable pages; never crashes
        pdf.load(truncated)


def test_pages_past_the_limit_are_left_out_with_a_warning():
    result = pdf.load(SAMPLE / "user-guide.pdf", max_pages=2)
    assert [u.source.page for u in result.units] == [1, 2]
    assert result.warnings == ["only the first 2 of 5 pages were read (SOURCED_PDF_MAX_PAGES)"]
    assert not pdf.load(SAMPLE / "user-guide.pdf").warnings


def test_limits_reach_the_loaders_from_the_settings(tmp_path: Path, settings, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE / "user-guide.pdf", docs)
    limited = settings.model_copy(update={"pdf_max_pages": 3})
    report = run_ingest([docs], "limited", limited, embedder=embedder)
    assert "only the first 3 of 5 pages" in report.warnings[0].reason
    pages = {c.source.page for c in open_index(limited.index_dir, "limited").chunks()}
    assert pages == {1, 2, 3}


def test_a_stream_that_inflates_past_the_limit_fails_the_file(tmp_path: Path):
    path = pdf_stream_bomb(tmp_path / "bomb.pdf", megabytes=3)
    assert path.stat().st_size < 20_000
    with pytest.raises(LoadError, match=r"safety limit \(1 MB, SOURCED_PDF_MAX_STREAM_MB\)"):
        pdf.load(path, max_stream_bytes=1_000_000)
    assert pdf.load(path).units[0].text.startswith("Hello bounded world")  # fits the default


def test_a_page_tree_that_loops_fails_instead_of_hanging(tmp_path: Path):
    with pytest.raises(LoadError, match="cyclic"):
        pdf.load(pdf_page_loop(tmp_path / "loop.pdf"))
