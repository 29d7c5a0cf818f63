"""`sourced eval`: metric functions against hand-computed cases, and small BEIR- and
SQuAD-format datasets end to end through the real CLI, index and embedder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from app.cli import main
from app.eval import metrics
from app.eval.datasets import file_name, load_dataset
from app.settings import get_settings

# --- metrics ---------------------------------------------------------------------------------


def test_ndcg_by_hand():
    relevant = {"a": 1, "b": 2}
    # ranked b, x, a: dcg = 2/log2(2) + 1/log2(4) = 2.5; ideal = 2 + 1/log2(3)
    expected = 2.5 / (2 + 1 / math.log2(3))
    assert metrics.ndcg_at_k(["b", "x", "a"], relevant, 10) == pytest.approx(expected)
    assert metrics.ndcg_at_k(["b", "a"], relevant, 10) == pytest.approx(1.0)
    assert metrics.ndcg_at_k(["x", "y"], relevant, 10) == 0.0
    assert metrics.ndcg_at_k(["x", "b"], relevant, 1) == 0.0  # cut at k
    assert metrics.ndcg_at_k(["a"], {}, 10) == 0.0


def test_recall_and_mrr_by_hand():
    relevant = {"a": 1, "b": 1, "c": 0}  # a grade of 0 is not relevant
    assert metrics.recall_at_k(["a", "x", "b"], relevant, 2) == 0.5
    assert metrics.recall_at_k(["a", "x", "b"], relevant, 3) == 1.0
    assert metrics.mrr_at_k(["c", "x", "b"], relevant, 10) == pytest.approx(1 / 3)
    assert metrics.mrr_at_k(["c", "x", "b"], relevant, 2) == 0.0
    assert metrics.hit_at_k(["x", "g"], "g", 2) == 1.0 and metrics.hit_at_k(["x", "g"], "g", 1) == 0


def test_squad_answer_metrics_by_hand():
    assert metrics.normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert metrics.exact_match("the Denver Broncos.", ["Denver Broncos", "Broncos"]) == 1.0
    # prediction "denver broncos won" vs gold "broncos": p = 1/3, r = 1, f1 = 0.5
    assert metrics.f1_score("Denver Broncos won", ["Broncos"]) == pytest.approx(0.5)
    assert metrics.f1_score("Broncos won", ["Broncos"]) == pytest.approx(2 / 3)
    assert metrics.f1_score("nothing", ["Broncos"]) == 0.0
    assert metrics.contains_answer("They said the Broncos won it.", ["broncos"])
    assert not metrics.contains_answer("Broncosaurus", ["Broncos"])  # whole words only


# --- datasets -------------------------------------------------------------------------------


BEIR_CORPUS = [
    ("d1", "Aspirin and the heart", "Low-dose aspirin lowers the risk of a second heart attack."),
    ("d2", "Vitamin D", "Vitamin D supplements did not prevent fractures in older adults."),
    ("d3", "Sleep", "Adults who sleep under six hours a night have higher blood pressure."),
    ("d4", "Coffee", "Coffee drinking was not linked to heart rhythm problems."),
    ("d5", "Exercise", "Regular walking improves memory in people over sixty."),
    ("d/6", "Odd id", "Documents with odd ids still map back to their ids."),
]
BEIR_QUERIES = {
    "q1": ("Does aspirin prevent another heart attack?", {"d1": 1}),
    "q2": ("Do vitamin D pills stop bone fractures?", {"d2": 1}),
    "q3": ("Is short sleep tied to blood pressure?", {"d3": 2, "d4": 0}),
    "q4": ("How do odd document ids map back?", {"d/6": 1}),
}


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-beir"
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as out:
        for doc_id, title, text in BEIR_CORPUS:
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as out:
        for qid, (text, _) in BEIR_QUERIES.items():
            out.write(json.dumps({"_id": qid, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    lines += [f"{q}\t{d}\t{g}" for q, (_, rel) in BEIR_QUERIES.items() for d, g in rel.items()]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Broncos",
            "paragraphs": [
                {
                    "context": "Super Bowl 50 was won by the Denver Broncos. The game was "
                    "played at Levi's Stadium in Santa Clara, California, in February 2016.",
                    "qas": [
                        {"id": "s1", "question": "Which team won Super Bowl 50?",
                         "answers": [{"text": "Denver Broncos", "answer_start": 29}]},
                        {"id": "s2", "question": "Where was Super Bowl 50 played?",
                         "answers": [{"text": "Levi's Stadium", "answer_start": 71}]},
                        {"id": "s3", "question": "Which team lost Super Bowl 51?",
                         "answers": [], "plausible_answers": [], "is_impossible": True},
                    ],
                },
                {
                    "context": "The Normans were descended from Norse raiders who settled in "
                    "Normandy, a region of France, in the 10th century.",
                    "qas": [
                        {"id": "n1", "question": "In what country is Normandy?",
                         "answers": [{"text": "France", "answer_start": 80}]},
                        {"id": "n2", "question": "What is the capital of Mongolia?",
                         "answers": [], "is_impossible": True},
                    ],
                },
            ],
        }
    ],
}  # fmt: skip


@pytest.fixture
def squad(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(SQUAD))
    return path


def test_datasets_are_read_from_their_standard_layouts(beir, squad):
    data = load_dataset(beir)
    assert data.kind == "beir" and len(data.documents) == 6 and len(data.questions) == 4
    assert data.qrels["q3"] == {"d3": 2, "d4": 0}
    assert data.documents["d1"].startswith("Aspirin and the heart\n\n")
    data = load_dataset(squad)
    assert data.kind == "squad" and data.version == "2.0"
    assert len(data.documents) == 2 and sum(q.impossible for q in data.questions) == 2
    assert file_name("d/6").startswith("id-") and file_name("d1") == "d1.txt"


def test_something_else_is_a_clear_error(tmp_path: Path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["eval", str(tmp_path / "notes.txt")]) == 2
    assert "not a dataset" in capsys.readouterr().err


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SOURCED_MODEL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOURCED_LLM_BACKEND", "fake")
    get_settings.cache_clear()
    yield tmp_path / "cache"
    get_settings.cache_clear()


def test_beir_end_to_end_and_the_index_is_reused(beir, cache, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["eval", str(beir), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["retrieval"]) == {"hybrid", "dense", "bm25"}
    for row in report["retrieval"].values():
        assert set(row) >= {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
        assert row["queries"] == 4
    assert report["retrieval"]["hybrid"]["ndcg@10"] == 1.0
    printed = capsys.readouterr().out
    assert "ndcg@10" in printed and "hybrid" in printed

    versions = sorted((cache / "eval" / "indexes").glob("*/v*"))
    assert main(["eval", str(beir), "--mode", "bm25", "--json", str(out)]) == 0
    assert sorted((cache / "eval" / "indexes").glob("*/v*")) == versions  # nothing rebuilt
    assert set(json.loads(out.read_text())["retrieval"]) == {"bm25"}


def test_squad_end_to_end_with_every_answer_mode(squad, cache, tmp_path):
    out = tmp_path / "report.json"
    assert main(["eval", str(squad), "--mode", "hybrid", "--limit", "5", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["retrieval"]["hybrid"]["gold_in_top1"] == 1.0
    assert len(report["threshold_curve"]) == 21
    curve = report["threshold_curve"]
    assert curve[0]["answer_rate_on_answerable"] == 1.0  # threshold 0 answers everything
    assert curve[-1]["refusal_on_unanswerable"] == 1.0  # threshold 1 refuses everything
    answers = report["answers"]
    assert {"extractive", "generative", "auto"} <= set(answers)
    for row in answers.values():
        assert 0.0 <= row["f1"] <= 1.0 and "refusal_on_unanswerable" in row
    # the fake LLM copies a sentence of the best source, and cites it
    assert answers["generative"]["citation_accuracy"] == 1.0
    assert answers["generative"]["answer_contained"] >= 0.6
    assert answers["extractive"]["answer_contained"] >= 0.6
