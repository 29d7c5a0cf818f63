"""Reading evaluation datasets in their standard layouts, and turning their corpus into files.

- BEIR: a folder with `corpus.jsonl` ({_id, title, text}), `queries.jsonl` ({_id, text}) and
  `qrels/test.tsv` (query-id, corpus-id, score; a header line).
- SQuAD v1.1 / v2.0: one JSON file, {"data": [{"title", "paragraphs": [{"context", "qas":
  [{"id", "question", "answers": [{"text"}], "is_impossible"?}]}]}]}. Each paragraph is a
  document of the corpus.

- WikiTableQuestions: a folder with `questions.tsv` (id, utterance, context, targetValue) and
  the tables it names under `csv/` (`load_wtq`). Each table is a document.

The corpus is written as one text file per document into a cache folder, and ingested by the
product's own pipeline, so evaluation measures exactly what users get.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ingest.errors import UsageError


@dataclass
class Question:
    id: str
    text: str
    answers: list[str] = field(default_factory=list)  # SQuAD, WTQ: the gold answers
    gold_document: str | None = None  # SQuAD: the paragraph's id; WTQ: the table's path
    impossible: bool = False  # SQuAD v2.0: no answer in the paragraph


@dataclass
class Dataset:
    name: str
    kind: str  # "beir", "squad" or "wtq"
    fingerprint: str  # changes when the dataset's files change
    documents: dict[str, str]  # document id → text written to the corpus file
    questions: list[Question]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)  # BEIR: query → doc → grade
    version: str = ""  # SQuAD: "1.1" or "2.0"
    # Document id → the corpus file's name, when not `file_name(id)` (WTQ: a CSV file named
    # after the table's page, as a user would have it).
    file_names: dict[str, str] = field(default_factory=dict)


def load_dataset(path: Path) -> Dataset:
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        return load_beir(path)
    if path.is_file() and path.suffix == ".json":
        return load_squad(path)
    if path.is_dir() and (path / "questions.tsv").is_file():
        return load_wtq(path)
    raise UsageError(
        f"{path}: not a dataset; give a BEIR folder (corpus.jsonl, queries.jsonl, "
        "qrels/test.tsv), a SQuAD JSON file or a WikiTableQuestions folder (questions.tsv, csv/)"
    )


def load_beir(folder: Path, split: str = "test") -> Dataset:
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for needed in (folder / "queries.jsonl", qrels_path):
        if not needed.is_file():
            raise UsageError(f"{folder.name}: BEIR folder without {needed.relative_to(folder)}")
    documents = {}
    for record in _jsonl(folder / "corpus.jsonl"):
        title, text = record.get("title", "").strip(), record.get("text", "").strip()
        documents[str(record["_id"])] = f"{title}\n\n{text}" if title else text
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for row in rows:
            if len(row) < 3 or not row[2].lstrip("-").isdigit():
                continue  # the header, or a blank line
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    texts = {str(r["_id"]): r["text"] for r in _jsonl(folder / "queries.jsonl")}
    questions = [Question(qid, texts[qid]) for qid in qrels if qid in texts]
    fingerprint = _fingerprint([folder / "corpus.jsonl"])
    return Dataset(folder.name, "beir", fingerprint, documents, questions, qrels)


def load_squad(path: Path) -> Dataset:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        articles = data["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path.name}: not SQuAD JSON ({exc})") from exc
    documents, questions = {}, []
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"a{a:03d}-p{p:03d}"
            documents[doc_id] = paragraph["context"].strip()
            for qa in paragraph["qas"]:
                answers = [x["text"] for x in qa.get("answers", [])]
                impossible = bool(qa.get("is_impossible", False))
                questions.append(Question(qa["id"], qa["question"], answers, doc_id, impossible))
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem)
    version = "2.0" if any(q.impossible for q in questions) else "1.1"
    version = str(data.get("version", version)).lstrip("v")  # files say "v2.0" or "1.1"
    return Dataset(name, "squad", _fingerprint([path]), documents, questions, version=version)


def load_wtq(folder: Path) -> Dataset:
    """WikiTableQuestions: each question with its table (the document, by its path in the
    folder) and its answer values (metrics.wtq_values)."""
    from app.eval.metrics import wtq_values

    path = folder / "questions.tsv"
    if not path.is_file():
        raise UsageError(f"{folder.name}: WikiTableQuestions folder without questions.tsv")
    documents: dict[str, str] = {}
    questions = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            table = row["context"]
            if table not in documents:
                table_path = folder / table
                if not table_path.is_file():
                    raise UsageError(f"{folder.name}: question {row['id']} names {table}, absent")
                documents[table] = table_path.read_text(encoding="utf-8")
            answers = wtq_values(row["targetValue"])
            questions.append(Question(row["id"], row["utterance"], answers, table))
    tables = [folder / table for table in sorted(documents)]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.name)
    titles = folder / "tables.json"
    pages = json.loads(titles.read_text(encoding="utf-8")) if titles.is_file() else {}
    files: dict[str, str] = {}
    for table in sorted(documents):
        title = re.sub(r"[^\w ,.'()&-]+", "-", pages.get(table) or Path(table).stem).strip(" .-")
        candidate, n = f"{title or 'table'}.csv", 2
        while candidate in files.values():
            candidate, n = f"{title} ({n}).csv", n + 1
        files[table] = candidate
    fingerprint = _fingerprint([path, *tables])
    return Dataset(name, "wtq", fingerprint, documents, questions, file_names=files)


def file_name(doc_id: str) -> str:
    """A safe file name for a document id; ids that are not already safe get a hash."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", doc_id):
        return f"{doc_id}.txt"
    return f"id-{hashlib.sha1(doc_id.encode()).hexdigest()[:16]}.txt"


def write_corpus(dataset: Dataset, folder: Path) -> dict[str, str]:
    """Write one file per document (unchanged files are left alone, so re-ingest is a no-op);
    return file name → document id."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for doc_id, text in dataset.documents.items():
        name = dataset.file_names.get(doc_id) or file_name(doc_id)
        names[name] = doc_id
        target = folder / name
        content = text if text.endswith("\n") else text + "\n"
        if not target.is_file() or target.read_text(encoding="utf-8") != content:
            target.write_text(content, encoding="utf-8")
    for stale in folder.iterdir():
        if stale.is_file() and stale.name not in names:
            stale.unlink()
    return names


def _jsonl(path: Path):
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]
