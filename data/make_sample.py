"""Writes the sample corpus in data/sample/: Sourced's own user guide, spread over every format.

    python data/make_sample.py

The outputs are committed, so nobody needs to run this unless the guide changes. The settings
table (settings.csv) is generated from the real settings class, so it stays true.
"""

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import docx
from fpdf import FPDF

from ingest.settings import IngestSettings

OUT = Path(__file__).resolve().parent / "sample"

GUIDE_PAGES = [
    (
        "1. What Sourced is",
        [
            "Sourced answers questions about your team's own documents. Every answer cites its "
            "sources: the document, the page, and the passage it came from, so that a reader can "
            "check the claim instead of trusting it.",
            "Sourced runs fully offline on an ordinary laptop CPU. The embedding model "
            "(all-MiniLM-L6-v2) and a small local language model ship as Python packages, so "
            "nothing is downloaded from a model hub when it runs. When one machine is not enough, "
            "the answering service can use any OpenAI-compatible server instead of the local "
            "model.",
            "Sourced has two halves that meet at the index on disk. Ingest reads folders of "
            "documents and writes a searchable index. The answering service reads that index, "
            "retrieves the passages that best match a question, and asks a language model to "
            "answer from them alone.",
        ],
    ),
    (
        "2. Installing Sourced",
        [
            "Sourced needs Python 3.11 or newer, about 2 GB of disk for its environment, and no "
            "GPU. From a checkout of the project, run make run. The first run creates a virtual "
            "environment in .venv, installs the CPU build of PyTorch, the embedding model and "
            "the local model, and then ingests the sample documents into the index named "
            "default.",
            "Later runs reuse the environment and finish in seconds. To run the test suite, use "
            "make test; it sets up the same environment first.",
            "Sourced never needs internet access at run time. If you want to use an embedding "
            "model from the Hugging Face hub instead of the bundled one, download it once and "
            "set SOURCED_EMBEDDING_MODEL to its folder, or allow hub access with "
            "HF_HUB_OFFLINE=0.",
        ],
    ),
    (
        "3. Ingesting documents",
        [
            "The command sourced ingest PATH --index NAME reads every supported file under PATH: "
            "PDF, DOCX, CSV, TSV, JSON, JSON Lines, Markdown and plain text. Files of other "
            "types are counted and left out. Hidden files and folders are ignored.",
            "Each file is split into chunks of at most 200 tokens of the embedding model, with "
            "30 tokens of overlap between neighbouring chunks. A chunk never spans two "
            "documents or two pages, and every chunk remembers where it came from: the file, "
            "the page, the heading path, the table row, or the JSON path.",
            "Running ingest again on the same folder only does the work that changed. Unchanged "
            "files are recognised by their size and modification time, or by their content "
            "hash. A renamed or copied file reuses its stored vectors and is not embedded again. "
            "Files that disappeared are removed from the index.",
            "Each run writes a new version of the index and switches to it in one atomic step. "
            "If the run is interrupted, even by a power cut, the previous version stays current "
            "and usable.",
        ],
    ),
    (
        "4. Asking questions",
        [
            "Once an index exists, the answering service retrieves the chunks closest to a "
            "question, numbers them, and asks the language model to answer using only those "
            "passages, citing each claim with its number in square brackets, like [1].",
            "Each answer comes back with its sources: the document name relative to the "
            "ingested folder, the page or locator, a snippet, and whether the answer cited it. "
            "When the documents do not contain the answer, Sourced says so instead of guessing.",
            "The default local model is SmolLM2-135M-Instruct. It is small enough to answer in "
            "a few seconds on two CPU cores. For better answers, point Sourced at a larger "
            "model served by vLLM, Ollama or any OpenAI-compatible API.",
        ],
    ),
    (
        "5. Troubleshooting",
        [
            "A file is reported as encrypted: Sourced opens PDFs protected only by an owner "
            "password, but cannot read files that need a password to open. Remove the password "
            "and ingest again.",
            "A PDF is reported as having no extractable text: it is probably a scan made of "
            "images. Run it through OCR first; Sourced indexes text, not pictures.",
            "The index was built with another embedding model or chunking: the settings changed "
            "since the index was built. Vectors from different models cannot be compared, so "
            "rebuild the index with sourced ingest PATH --index NAME --rebuild.",
            "Another ingest is writing the index: only one process may write an index at a "
            "time. Wait for the other run to finish. A run that was killed releases its lock "
            "automatically.",
            "Ingest exits with code 1 when some files failed; the other files are indexed and "
            "the index is valid. Code 2 means nothing was done because of a usage error.",
        ],
    ),
]

ADMIN_SECTIONS = [
    ("Deployment", 1, []),
    (
        "Hardware",
        2,
        [
            "Two CPU cores and 4 GB of memory are enough for a team of ten and a few thousand "
            "documents. Ingest speed is bound by the embedding model: about 30 to 60 chunks per "
            "second per two cores.",
            "A GPU is optional. With one, use a larger language model served by vLLM.",
        ],
    ),
    (
        "Where data lives",
        2,
        [
            "Indexes live under the folder set by SOURCED_INDEX_DIR, by default indexes/ in the "
            "working directory. Each index keeps its last three versions; older ones are "
            "deleted after a successful build.",
            "An index version is a folder holding index.faiss (the vectors), chunks.sqlite "
            "(chunk texts and where they came from), manifest.json (the files that were "
            "ingested) and meta.json (the embedding model and chunking settings).",
        ],
    ),
    ("Supported formats", 1, ["Sourced reads the following formats."]),
    (
        "Backups",
        1,
        [
            "To back up an index, copy its folder while no ingest is running. Restoring is "
            "copying it back. Version folders never change once written, so a copy taken at "
            "any time is consistent if you copy the folder named in CURRENT.",
        ],
    ),
]

FORMATS = [
    ("PDF", ".pdf", "the text of each page, with its page number and label"),
    ("Word", ".docx", "paragraphs under each heading; each table row as column: value text"),
    ("CSV", ".csv, .tsv", "a few whole rows, numbered as a spreadsheet numbers them"),
    ("JSON", ".json, .jsonl, .ndjson", "each record, located by its JSON path or line"),
    ("Markdown", ".md, .markdown", "each section, with its heading path"),
    ("Plain text", ".txt, .text, .rst", "paragraphs, with their line numbers"),
]

FAQ = [
    (
        "ingest",
        "How long does ingesting take?",
        "Parsing is fast; embedding costs the most. On two CPU cores, expect roughly a minute "
        "per thousand pages the first time. Re-running on an unchanged folder takes seconds.",
    ),
    (
        "ingest",
        "What is the largest file Sourced reads?",
        "Files over 100 MB are skipped by default; change SOURCED_MAX_FILE_MB to raise the "
        "limit. A file whose parser runs longer than SOURCED_PARSE_TIMEOUT_S seconds is "
        "stopped and reported.",
    ),
    (
        "privacy",
        "Does Sourced send my documents anywhere?",
        "No. With the local model, everything stays on the machine. With a remote model, only "
        "the question and the retrieved passages are sent to the server you configured.",
    ),
    (
        "answers",
        "Why does an answer cite a source that does not look relevant?",
        "Retrieval ranks passages by meaning, and the closest passage may still be off topic "
        "when the documents do not cover the question. Check the cited snippet; Sourced shows "
        "it for exactly this reason.",
    ),
    (
        "formats",
        "Can Sourced read scanned PDFs?",
        "Not directly: a scanned page is a picture with no text in it. Sourced reports such "
        "pages as having no text. Run OCR on the file first.",
    ),
    (
        "ingest",
        "What happens to a document I delete?",
        "The next ingest run of that folder removes its chunks from the index.",
    ),
]

MARKDOWN = """# Sourced release notes

Sourced is a self-hosted question-answering service over your own documents.

## 0.1.0

### Ingest

- Reads PDF, DOCX, CSV, TSV, JSON, JSON Lines, Markdown and plain text.
- Token-aware chunks that never exceed the embedding model's window of 256 tokens.
- Incremental: only new and changed files are parsed; renamed files reuse their vectors.
- Versioned indexes with an atomic switch, so a crash never breaks the current index.

### Known limitations

- Scanned PDFs need OCR before ingest.
- Password-protected PDFs that need a password to open are skipped.

## Roadmap

### Answering

The answering service, `POST /ask`, returns answers with numbered citations from a local or
a remote language model.

### Quality

Hybrid retrieval combines keyword search (BM25) with the embedding search, so exact names,
codes and numbers are found too.
"""

GLOSSARY = """Sourced glossary

Chunk: a piece of a document, at most 200 tokens long, that is embedded and retrieved as one
unit.

Embedding: a list of 384 numbers that places a chunk's meaning in space, so that texts with
similar meaning lie close together.

Index: the searchable store of one collection of documents, kept under indexes/NAME.

Locator: where a chunk came from inside its document, such as a page number, a heading path, a
table row or a JSON path.

Manifest: the record of every file ingested into an index version, with its size, content hash
and chunks.
"""


class _GuidePDF(FPDF):
    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "I", 9)
        self.cell(0, 10, f"Sourced User Guide - page {self.page_no()}", align="C")


def write_pdf(path: Path) -> None:
    pdf = _GuidePDF(format="A4")
    pdf.set_title("Sourced User Guide")
    pdf.set_author("The Sourced team")
    pdf.set_creation_date(datetime(2026, 11, 1, tzinfo=UTC))  # fixed: reproducible output
    for title, paragraphs in GUIDE_PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(0, 10, title)
        pdf.ln(2)
        pdf.set_font("Helvetica", "", 11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(3)
    pdf.output(str(path))


def write_docx(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Sourced Administration Guide"
    document.add_heading("Sourced Administration Guide", level=0)
    for title, level, paragraphs in ADMIN_SECTIONS:
        document.add_heading(title, level=level)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
        if title == "Supported formats":
            table = document.add_table(rows=1, cols=3)
            table.style = "Table Grid"
            for cell, name in zip(
                table.rows[0].cells, ("Format", "Extensions", "Chunks are"), strict=True
            ):
                cell.text = name
            for row in FORMATS:
                cells = table.add_row().cells
                for cell, value in zip(cells, row, strict=True):
                    cell.text = value
    document.save(str(path))


def write_settings_csv(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["setting", "environment variable", "default", "description"])
        for name, field in IngestSettings.model_fields.items():
            writer.writerow(
                [name, f"SOURCED_{name.upper()}", str(field.default), field.description]
            )


def write_faq_json(path: Path) -> None:
    faq = [{"topic": t, "question": q, "answer": a} for t, q, a in FAQ]
    data = {"title": "Sourced frequently asked questions", "faq": faq}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write_pdf(OUT / "user-guide.pdf")
    write_docx(OUT / "administration.docx")
    write_settings_csv(OUT / "settings.csv")
    write_faq_json(OUT / "faq.json")
    (OUT / "release-notes.md").write_text(MARKDOWN, encoding="utf-8")
    (OUT / "glossary.txt").write_text(GLOSSARY, encoding="utf-8")
    for path in sorted(OUT.iterdir()):
        print(f"wrote {path.relative_to(OUT.parent.parent)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
