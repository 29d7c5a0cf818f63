"""WikiTableQuestions: its questions and tables read, and its scoring as its authors define it."""

import json

import pytest

from app.eval.datasets import load_wtq
from app.eval.metrics import denotation_match, wtq_values
from ingest.errors import UsageError

from .conftest import ROOT

WTQ = ROOT.parent / "shared" / "datasets" / "wtq-sample"


def test_the_sample_has_its_60_tables_and_499_questions():
    if not WTQ.is_dir():
        pytest.skip("../shared/datasets is not there")
    dataset = load_wtq(WTQ)
    assert dataset.kind == "wtq" and len(dataset.documents) == 60 and len(dataset.questions) == 499
    first = dataset.questions[0]
    assert first.text == "which team won previous to crettyard?"
    assert first.answers == ["Wolfe Tones"] and first.gold_document == "csv/204-csv/772.csv"
    assert dataset.documents[first.gold_document].startswith('"Team","County"')


def test_a_folder_without_questions_says_so(tmp_path):
    with pytest.raises(UsageError, match="without questions.tsv"):
        load_wtq(tmp_path)


def test_answer_fields_split_into_values_with_their_escapes():
    assert wtq_values("Wolfe Tones") == ["Wolfe Tones"]
    assert wtq_values("1990|1991") == ["1990", "1991"]
    assert wtq_values(r"a\pb|c\nd|e\\f") == ["a|b", "c\nd", "e\\f"]


@pytest.mark.parametrize(
    ("predicted", "target", "right"),
    [
        (["2"], ["2.0"], True),
        (["12467"], ["12,467"], True),
        (["wolfe tones."], ["Wolfe Tones"], True),
        (["  Ｗolfe Tones "], ["Wolfe Tones"], True),  # Unicode forms
        (["1991", "1990"], ["1990", "1991"], True),  # a set: order aside
        (["1990"], ["1990", "1991"], False),
        (["3"], ["4"], False),
        (["-3"], ["3"], False),
    ],
)
def test_scoring_compares_sets_numbers_as_numbers_and_strings_normalized(predicted, target, right):
    assert denotation_match(predicted, target) is right


def test_sourced_eval_runs_the_table_questions_both_ways(tmp_path, monkeypatch, capsys):
    from app.cli import main

    folder = tmp_path / "tiny-wtq"
    (folder / "csv" / "1-csv").mkdir(parents=True)
    (folder / "csv" / "1-csv" / "1.csv").write_text(
        '"Team","Wins"\n"Lions","3"\n"Tigers","5"\n"Bears","1"\n'
    )
    (folder / "csv" / "1-csv" / "2.csv").write_text(
        '"City","Population"\n"Oslo","709,000"\n"Bergen","291,000"\n'
    )
    (folder / "tables.json").write_text(
        '{"csv/1-csv/1.csv": "League table", "csv/1-csv/2.csv": "Cities of Norway"}'
    )
    (folder / "questions.tsv").write_text(
        "id\tutterance\tcontext\ttargetValue\n"
        "q1\thow many teams are in the league table?\tcsv/1-csv/1.csv\t3\n"
        "q2\thow many cities of norway are listed?\tcsv/1-csv/2.csv\t2\n"
        "q3\twhich team won the most?\tcsv/1-csv/1.csv\tTigers\n"
    )
    monkeypatch.setenv("SOURCED_MODEL_CACHE_DIR", str(tmp_path / "cache"))
    # The fake model, asked for SQL, counts the table's rows: the two counts are right.
    monkeypatch.setenv("SOURCED_LLM_BACKEND", "fake")
    monkeypatch.setenv("SOURCED_ANSWER_MODE", "generative")
    from app.settings import get_settings

    get_settings.cache_clear()
    out = tmp_path / "wtq.json"
    try:
        assert main(["eval", str(folder), "--mode", "hybrid", "--json", str(out)]) == 0
    finally:
        get_settings.cache_clear()
    report = json.loads(out.read_text())
    assert report["kind"] == "wtq" and report["chunks"] >= 2
    assert report["retrieval"]["hybrid"]["table_in_top5"] == 1.0
    for setting in ("table given", "table retrieved"):
        row = report["answers"][setting]
        assert row["accuracy"] == pytest.approx(2 / 3, abs=0.01), setting
        assert row["computed"] == 1.0 and row["s_per_question"] >= 0
    assert report["answers"]["table given"]["computed_over_its_table"] == 1.0
    assert "table given" in capsys.readouterr().out
    corpus = list((tmp_path / "cache" / "eval" / "corpora").iterdir())[0]
    assert sorted(p.name for p in corpus.iterdir()) == ["Cities of Norway.csv", "League table.csv"]
    # One setting alone, when asked for.
    try:
        assert main(["eval", str(folder), "--mode", "hybrid", "--table", "retrieved",
                     "--json", str(out)]) == 0  # fmt: skip
    finally:
        get_settings.cache_clear()
    assert list(json.loads(out.read_text())["answers"]) == ["table retrieved"]
