import contextlib
from pathlib import Path

import pytest

from ingest.errors import LoadError, SkipFile
from ingest.loaders import json as json_loader

from .conftest import CORPORA

SUITE = CORPORA / "json" / "test_parsing"


def suite(prefix: str) -> list[Path]:
    return sorted(SUITE.glob(f"{prefix}_*.json")) if SUITE.is_dir() else []


@pytest.mark.corpora
@pytest.mark.parametrize("path", suite("y"), ids=lambda p: p.name)
def test_valid_json_parses(path: Path):
    json_loader.parse_json(path.read_bytes())


@pytest.mark.corpora
@pytest.mark.parametrize("path", suite("n"), ids=lambda p: p.name)
def test_invalid_json_is_rejected_with_a_reason(path: Path):
    with pytest.raises(LoadError, match="invalid JSON"):
        json_loader.parse_json(path.read_bytes())


@pytest.mark.corpora
@pytest.mark.parametrize("path", suite("i"), ids=lambda p: p.name)
def test_implementation_defined_json_never_crashes(path: Path):
    with contextlib.suppress(LoadError):
        json_loader.parse_json(path.read_bytes())


def test_records_have_json_paths_and_readable_text(tmp_path: Path):
    products = [
        {"name": f"Widget {i}", "price": i, "tags": ["a", "b"], "size": {"w": 2, "h": 3}}
        for i in range(40)
    ]
    path = tmp_path / "catalog.json"
    path.write_text(__import__("json").dumps({"store": "Acme", "products": products}))
    units = json_loader.load(path).units
    assert units[0].source.json_path == "$" and units[0].text == "store: Acme"
    fourth = units[4]
    assert fourth.source.json_path == "$.products[3]"
    assert fourth.text == "name: Widget 3\nprice: 3\ntags: a, b\nsize.w: 2\nsize.h: 3"


def test_small_documents_are_one_record():
    assert json_loader.records({"a": 1, "b": {"c": True, "d": None}}) == [
        ("$", "a: 1\nb.c: true\nb.d: null")
    ]
    assert json_loader.records([1, 2, 3]) == [("$", "1, 2, 3")]


def test_keys_that_are_not_identifiers_are_quoted_in_paths():
    big = {"first key": [{"x": "y" * 2000}]}
    assert json_loader.records(big)[0][0] == '$["first key"][0]'


def test_depth_limit(tmp_path: Path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100 + "]" * 100)
    with pytest.raises(LoadError, match="nested deeper than 64"):
        json_loader.load(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(LoadError, match="nested deeper"):
        json_loader.load(path)


def test_nan_and_infinity_are_rejected():
    for text in (b"[NaN]", b"[Infinity]", b"[-Infinity]"):
        with pytest.raises(LoadError, match="not a JSON value"):
            json_loader.parse_json(text)


def test_jsonl_records_have_line_numbers_and_bad_lines_are_warned(tmp_path: Path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": 1, "text": "one"}\n\nnot json\n{"id": 2, "text": "two"}\n')
    result = json_loader.load(path)
    assert [(u.source.lines, u.text) for u in result.units] == [
        ((1, 1), "id: 1\ntext: one"),
        ((4, 4), "id: 2\ntext: two"),
    ]
    assert result.warnings and result.warnings[0].startswith("line 3: invalid JSON")


def test_empty_json_is_skipped(tmp_path: Path):
    path = tmp_path / "empty.json"
    path.write_text("  \n")
    with pytest.raises(SkipFile):
        json_loader.load(path)
