"""The XLSX and PPTX loaders: sheets' rows with sheet and row locators, slides with their
numbers, titles and notes; bad and hostile files fail with a reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook
from pptx import Presentation
from pptx.util import Inches

from ingest.errors import LoadError, SkipFile
from ingest.loaders import pptx, xlsx

from .conftest import SAMPLE
from .hostile_files import deck, workbook, zip_bomb


def test_sheet_rows_read_with_their_header_sheet_and_row(tmp_path: Path):
    book = Workbook()
    prices = book.active
    prices.title = "Prices"
    prices.append([])  # a blank first row: the header is the first row with cells
    prices.append(["Product", "Price", "Since", "In stock"])
    prices.append(["Widget", 3.0, dt.datetime(2026, 3, 1), True])
    prices.append(["Gadget", 12.5, None, False])
    prices.append(["Total", "=SUM(B3:B4)"])
    raw = book.create_sheet("Raw")
    raw.append([1, 2, 3])
    raw.append([4, None, 6])
    hidden = book.create_sheet("Secret")
    hidden.append(["password", "hunter2"])
    hidden.sheet_state = "hidden"
    path = tmp_path / "book.xlsx"
    book.save(path)

    result = xlsx.load(path)
    texts = [(u.source.locator(), u.text) for u in result.units]
    assert texts[:2] == [
        ("sheet Prices · row 3", "Product: Widget; Price: 3; Since: 2026-03-01; In stock: TRUE"),
        ("sheet Prices · row 4", "Product: Gadget; Price: 12.5; In stock: FALSE"),
    ]
    assert texts[3:] == [("sheet Raw · row 1", "1 | 2 | 3"), ("sheet Raw · row 2", "4 | 6")]
    assert all("hunter2" not in text for _, text in texts)
    assert result.warnings == ["sheet 'Secret' is hidden and was not read"]
    assert {u.group for u in result.units} == {"sheet Prices", "sheet Raw"}


def test_rows_are_bounded(tmp_path: Path):
    book = Workbook()
    for n in range(50):
        book.active.append([f"row {n}"])
    book.save(tmp_path / "long.xlsx")
    result = xlsx.load(tmp_path / "long.xlsx", max_rows=10)
    assert len(result.units) == 10 and "SOURCED_CSV_MAX_ROWS" in result.warnings[0]


def test_slides_with_titles_tables_and_notes(tmp_path: Path):
    presentation = Presentation()
    first = presentation.slides.add_slide(presentation.slide_layouts[1])
    first.shapes.title.text = "Installing Sourced"
    first.placeholders[1].text = "Run make run.\nThen ask a question."
    first.notes_slide.notes_text_frame.text = "Mention the offline models."
    second = presentation.slides.add_slide(presentation.slide_layouts[5])
    second.shapes.title.text = "Settings"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (r, c), text in {
        (0, 0): "Setting",
        (0, 1): "Default",
        (1, 0): "TOP_K",
        (1, 1): "5",
    }.items():
        table.cell(r, c).text = text
    presentation.slides.add_slide(presentation.slide_layouts[6])  # blank: no unit
    path = tmp_path / "deck.pptx"
    presentation.save(path)

    units = pptx.load(path).units
    assert [(u.source.slide, u.source.locator()) for u in units] == [
        (1, "slide 1 · Installing Sourced"),
        (2, "slide 2 · Settings"),
    ]
    assert (
        units[0].text == "Run make run.\nThen ask a question.\n\nNotes: Mention the offline models."
    )
    assert units[1].text == "Setting | Default\nTOP_K | 5"


def test_generated_files_and_their_bombs(tmp_path: Path):
    assert xlsx.load(workbook(tmp_path / "w.xlsx")).units[0].text.startswith("Setting: SOURCED")
    assert pptx.load(deck(tmp_path / "d.pptx")).units[0].source.headings == ("Release checklist",)
    with pytest.raises(LoadError, match="zip bomb"):
        xlsx.load(zip_bomb(workbook(tmp_path / "bomb.xlsx"), megabytes=24))
    with pytest.raises(LoadError, match="zip bomb"):
        pptx.load(zip_bomb(deck(tmp_path / "bomb.pptx"), megabytes=24))


def test_other_files_under_these_names_fail_and_empty_ones_skip(tmp_path: Path):
    docx_as_xlsx = tmp_path / "a.xlsx"
    docx_as_xlsx.write_bytes((SAMPLE / "administration.docx").read_bytes())
    with pytest.raises(LoadError, match="not a readable XLSX"):
        xlsx.load(docx_as_xlsx)
    pdf_as_pptx = tmp_path / "a.pptx"
    pdf_as_pptx.write_bytes((SAMPLE / "user-guide.pdf").read_bytes())
    with pytest.raises(LoadError, match="not a readable PPTX"):
        pptx.load(pdf_as_pptx)
    Workbook().save(tmp_path / "empty.xlsx")
    with pytest.raises(SkipFile, match="no rows"):
        xlsx.load(tmp_path / "empty.xlsx")
    Presentation().save(tmp_path / "empty.pptx")
    with pytest.raises(SkipFile, match="no text"):
        pptx.load(tmp_path / "empty.pptx")


def test_a_folder_of_these_formats_is_ingested_and_found_by_its_locators(
    tmp_path: Path, settings, embedder
):
    from app.rag.retriever import Retriever
    from ingest.stores.local import open_index
    from ingest.sync import run_ingest

    from .test_loaders_html import PAGE

    docs = tmp_path / "docs"
    docs.mkdir()
    workbook(docs / "settings.xlsx")
    deck(docs / "release.pptx")
    (docs / "guide.html").write_text(PAGE)
    report = run_ingest([docs], "mixed", settings, embedder=embedder)
    assert sorted(report.added) == ["guide.html", "release.pptx", "settings.xlsx"]
    index = open_index(settings.index_dir, "mixed").load()
    retriever = Retriever(embedder)
    best = retriever.retrieve(index, "Who signs off a release?", 1)[0].chunk
    assert (best.document, best.source.locator()) == ("release.pptx", "slide 1 · Release checklist")
    best = retriever.retrieve(index, "default of SOURCED_PORT", 1)[0].chunk
    assert best.document == "settings.xlsx" and best.source.sheet == "Settings"
    best = retriever.retrieve(index, "Which Python version does Sourced need?", 1)[0].chunk
    assert (best.document, best.source.headings) == ("guide.html", ("Installing Sourced",))
