from pathlib import Path

import pytest

from ingest.errors import LoadError
from ingest.loaders import parser_version, text


def test_markdown_sections_keep_their_heading_path(tmp_path: Path):
    path = tmp_path / "guide.md"
    path.write_text(
        "Intro.\n\n# Setup\nSetup text.\n## Install\nRun it.\n```\n# not a heading\n```\n"
        "Usage\n-----\nUse it.\n# FAQ\nAsk.\n"
    )
    units = text.load(path).units
    assert [(u.source.headings, u.source.lines) for u in units] == [
        ((), (1, 2)),
        (("Setup",), (3, 4)),
        (("Setup", "Install"), (5, 9)),
        (("Setup", "Usage"), (10, 12)),
        (("FAQ",), (13, 15)),
    ]
    assert "# not a heading" in units[2].text


def test_plain_text_is_one_unit_with_its_lines(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"line one\r\nline two\r\n")
    (unit,) = text.load(path).units
    assert unit.text == "line one\nline two\n" and unit.source.lines == (1, 3)


def test_unknown_extensions_have_no_parser():
    assert parser_version(Path("photo.bmp")) is None
    assert parser_version(Path("README.MD")).startswith(text.PARSER_VERSION + "+")


def test_binary_data_under_a_text_extension_fails(tmp_path: Path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)))
    with pytest.raises(LoadError, match="binary data"):
        text.load(path)
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("Text saved as UTF-16 has NUL bytes but a BOM.", encoding="utf-16")
    assert "UTF-16" in text.load(utf16).units[0].text
