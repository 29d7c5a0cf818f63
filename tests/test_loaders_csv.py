import json
from pathlib import Path

import pytest

from ingest.errors import LoadError, SkipFile
from ingest.loaders import csv as csv_loader
from ingest.loaders.textio import decode_text

from .conftest import CORPORA

SPECTRUM = CORPORA / "csv"


@pytest.mark.corpora
@pytest.mark.parametrize(
    "path",
    sorted((SPECTRUM / "csvs").glob("*.csv")) if SPECTRUM.is_dir() else [],
    ids=lambda p: p.name,
)
def test_csv_spectrum_matches_expected_json(path: Path):
    text = decode_text(path.read_bytes())
    records = csv_loader.read_records(text, csv_loader.sniff_delimiter(text))
    expected = json.loads((SPECTRUM / "json" / f"{path.stem}.json").read_text())
    # Line endings become \n on reading; newlines_crlf.csv itself holds LF (see PROVENANCE.md).
    expected = [{k: v.replace("\r\n", "\n") for k, v in row.items()} for row in expected]
    assert records == expected


def test_rows_become_column_value_text_with_spreadsheet_row_numbers(tmp_path: Path):
    path = tmp_path / "people.csv"
    path.write_text('name,city\nAda,London\n\n"Grace ""Amazing"" Hopper","New\nYork"\n')
    units = csv_loader.load(path).units
    assert [u.text for u in units] == [
        "name: Ada; city: London",
        'name: Grace "Amazing" Hopper; city: New\nYork',
    ]
    assert [u.source.rows for u in units] == [(2, 2), (4, 4)]
    assert all(u.group == "rows" for u in units)


def test_quotes_escaped_with_a_backslash_are_quotes():
    text = 'no,title,path\n17,"\\"Teenage Thug\\" (Bonus Track)","C:\\\\music"\n18,"Plain","x"\n'
    records = csv_loader.read_records(text)
    assert records[0]["title"] == '"Teenage Thug" (Bonus Track)'
    assert records[0]["path"] == "C:\\music" and records[1]["title"] == "Plain"
    # A backslash that closes a field is not an escape: the file is read as written.
    windows = 'dir,n\n"C:\\temp\\",1\n'
    assert csv_loader.read_records(windows) == [{"dir": "C:\\temp\\", "n": "1"}]


def test_bom_and_legacy_encodings(tmp_path: Path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffname,price\nCafé,3\n".encode())
    assert csv_loader.load(bom).units[0].text == "name: Café; price: 3"
    legacy = tmp_path / "latin1.csv"
    legacy.write_bytes("nom;ville\nFrançois;Orléans\nZoë;Besançon\n".encode("cp1252"))
    texts = [u.text for u in csv_loader.load(legacy).units]
    assert texts == ["nom: François; ville: Orléans", "nom: Zoë; ville: Besançon"]


def test_delimiters_are_sniffed_and_tsv_is_tab(tmp_path: Path):
    semi = tmp_path / "semi.csv"
    semi.write_text("a;b\n1;2\n3;4\n")
    assert csv_loader.load(semi).units[0].text == "a: 1; b: 2"
    tsv = tmp_path / "t.tsv"
    tsv.write_text("a\tb\n1,5\t2\n")
    assert csv_loader.load(tsv).units[0].text == "a: 1,5; b: 2"


def test_blank_and_duplicate_headers_get_names(tmp_path: Path):
    path = tmp_path / "h.csv"
    path.write_text("id,,id\n1,x,2\n")
    assert csv_loader.load(path).units[0].text == "id: 1; column 2: x; id (3): 2"


def test_field_size_limit_is_enforced(tmp_path: Path):
    path = tmp_path / "big.csv"
    path.write_text("a,b\n1," + "x" * 5000 + "\n")
    with pytest.raises(LoadError, match="near row"):
        csv_loader.load(path, field_limit=2048)
    assert csv_loader.load(path, field_limit=10_000).units


def test_empty_and_header_only_files_are_skipped(tmp_path: Path):
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(SkipFile, match="empty"):
        csv_loader.load(empty)
    header = tmp_path / "header.csv"
    header.write_text("a,b,c\n")
    with pytest.raises(SkipFile, match="no rows"):
        csv_loader.load(header)


def test_rows_past_the_limit_are_left_out_with_a_warning(tmp_path: Path):
    path = tmp_path / "big.csv"
    path.write_text("id,name\n" + "".join(f"{n},item {n}\n" for n in range(1, 51)))
    result = csv_loader.load(path, max_rows=10)
    assert [u.source.rows for u in result.units] == [(n, n) for n in range(2, 12)]
    assert result.warnings == ["only the first 10 rows were read (SOURCED_CSV_MAX_ROWS)"]
    assert csv_loader.load(path, max_rows=50).warnings == []
