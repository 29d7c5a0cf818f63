import shutil
import zipfile
from pathlib import Path

import docx
import pytest

from ingest.errors import LoadError, SkipFile
from ingest.loaders import docx as docx_loader
from ingest.loaders import ooxml

from .conftest import CORPORA, SAMPLE
from .hostile_files import docx_zip_bomb

DOCX = CORPORA / "docx"


@pytest.mark.corpora
@pytest.mark.parametrize(
    "path", sorted(DOCX.glob("*.docx")) if DOCX.is_dir() else [], ids=lambda p: p.name
)
def test_every_real_docx_loads_or_is_skipped_for_no_text(path: Path):
    try:
        result = docx_loader.load(path)
    except SkipFile as skip:
        assert skip.reason == "no text in the document body"
        return
    assert result.units and all(u.text.strip() for u in result.units)


@pytest.mark.corpora
def test_tables_become_column_value_rows_in_document_order():
    units = docx_loader.load(DOCX / "tbl-having-applied-style.docx").units
    first = units[0]
    assert first.text == "foobar: foo; barfoo: bar"
    assert first.source.table == 1 and first.source.rows == (2, 2)
    assert first.group == "table 1"


@pytest.mark.corpora
def test_paragraphs_and_tables_keep_their_order():
    texts = [u.text for u in docx_loader.load(DOCX / "blk-inner-content.docx").units]
    assert texts == ["P1", "T2", "P3"]


def test_heading_paths(tmp_path: Path):
    document = docx.Document()
    document.add_heading("Setup", level=1)
    document.add_paragraph("Read this first.")
    document.add_heading("Installation", level=2)
    document.add_paragraph("Run make run.")
    document.add_heading("Usage", level=1)
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Command", "Effect"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "make test", "runs the tests"
    path = tmp_path / "guide.docx"
    document.save(str(path))

    units = docx_loader.load(path).units
    assert [(u.text, u.source.headings) for u in units] == [
        ("Read this first.", ("Setup",)),
        ("Run make run.", ("Setup", "Installation")),
        ("Command: make test; Effect: runs the tests", ("Usage",)),
    ]
    assert units[2].source.locator() == "Usage · table 1, row 2"


def test_sample_docx_has_headings_and_a_table():
    units = docx_loader.load(SAMPLE / "administration.docx").units
    assert any(u.source.headings[-2:] == ("Deployment", "Hardware") for u in units)
    assert any(u.source.table == 1 and "Format: PDF" in u.text for u in units)


def test_corrupt_docx_fails(tmp_path: Path):
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LoadError, match="not a readable DOCX"):
        docx_loader.load(broken)
    not_word = tmp_path / "other.docx"
    with zipfile.ZipFile(not_word, "w") as archive:
        archive.writestr("hello.txt", "a zip, but not a Word document")
    with pytest.raises(LoadError):
        docx_loader.load(not_word)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ooxml, "MAX_UNPACKED_BYTES", 8 * 1024 * 1024)
    path = docx_zip_bomb(tmp_path / "bomb.docx", megabytes=12)
    assert path.stat().st_size < 200_000  # tiny on disk
    with pytest.raises(LoadError, match=r"would unpack to 1\d MB .*zip bomb"):
        docx_loader.load(path)


def test_an_extreme_compression_ratio_is_refused(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ooxml, "RATIO_FLOOR_BYTES", 1024 * 1024)
    path = docx_zip_bomb(tmp_path / "ratio.docx", megabytes=16)
    with pytest.raises(LoadError, match="times its size .*zip bomb"):
        docx_loader.load(path)


def test_an_archive_of_too_many_parts_is_refused(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ooxml, "MAX_PARTS", 20)
    path = docx_zip_bomb(tmp_path / "parts.docx", megabytes=0, parts=30)
    with pytest.raises(LoadError, match="parts .*zip bomb"):
        docx_loader.load(path)


def test_an_external_entity_is_never_resolved(tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    path = tmp_path / "xxe.docx"
    shutil.copy(SAMPLE / "administration.docx", path)
    with zipfile.ZipFile(SAMPLE / "administration.docx") as source:
        body = source.read("word/document.xml").decode()
        names = [n for n in source.namelist() if n != "word/document.xml"]
        parts = {n: source.read(n) for n in names}
    doctype = f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
    body = body.replace("?>", "?>" + doctype, 1).replace("<w:t>", "<w:t>&xxe;", 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
        target.writestr("word/document.xml", body)
    try:
        result = docx_loader.load(path)
    except (LoadError, SkipFile):
        return  # refusing the file is as good
    assert "TOP-SECRET-VALUE" not in " ".join(unit.text for unit in result.units)
