"""WikiTableQuestions: its questions and tables read, and its scoring as its authors define it."""

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
