"""OCR: how fast scanned pages are read and how many characters come out right.

Pages of known text (SQuAD paragraphs, wrapped as a printed page: about 40 lines of 11 pt) are
typeset, rasterized at a scanner's resolutions with its flaws (slight skew, grey paper, specks,
JPEG inside an image-only PDF; tests/scans.py), and read back by the PDF loader. For each
resolution: pages per second, characters right and words right. Then the shared image-only
PDFs (their outcome and time), and whether each scanned page is found by a line of its text.

    python bench/ocr.py [--pages 6]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from common import ROOT, machine, print_table, write_result

sys.path.insert(0, str(ROOT))  # tests/scans.py makes the scanned pages

from ingest.errors import LoadError, SkipFile  # noqa: E402
from ingest.loaders import pdf  # noqa: E402
from ingest.settings import IngestSettings  # noqa: E402
from ingest.stores.local import open_index  # noqa: E402
from ingest.sync import run_ingest  # noqa: E402
from tests.scans import accuracy, scanned_pdf  # noqa: E402

SQUAD = ROOT.parent / "shared" / "datasets" / "squad-sample" / "dev-v1.1-sample.json"
SHARED_PDFS = ROOT.parent / "shared" / "corpora" / "pdf"
IMAGE_ONLY = [
    "007-imagemagick-images/imagemagick-ASCII85Decode.pdf",
    "007-imagemagick-images/imagemagick-CCITTFaxDecode.pdf",
    "007-imagemagick-images/imagemagick-lzw.pdf",
    "019-grayscale-image/grayscale-image.pdf",
    "023-cmyk-image/cmyk-image.pdf",
]
LINES_PER_PAGE = 40
CHARS_PER_LINE = 78


def known_pages(count: int) -> list[list[str]]:
    """Printed pages of SQuAD paragraphs: lines of at most 78 characters, 40 to a page."""
    data = json.loads(SQUAD.read_text())
    lines: list[str] = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            lines += textwrap.wrap(paragraph["context"], CHARS_PER_LINE) + [""]
            if len(lines) >= count * LINES_PER_PAGE:
                break
    return [
        lines[i * LINES_PER_PAGE : (i + 1) * LINES_PER_PAGE]
        for i in range(count)
        if lines[i * LINES_PER_PAGE : (i + 1) * LINES_PER_PAGE]
    ]


def read_scans(pages: list[list[str]], dpi: int, folder: Path) -> dict:
    path = scanned_pdf(folder / f"scan-{dpi}dpi.pdf", pages, dpi=dpi)
    pdf.load(scanned_pdf(folder / "warm.pdf", pages[:1], dpi=dpi))  # the models load once
    started = time.perf_counter()
    result = pdf.load(path)
    seconds = time.perf_counter() - started
    by_page = {unit.source.page: unit.text for unit in result.units}
    scores = [accuracy(by_page.get(n, ""), "\n".join(lines)) for n, lines in enumerate(pages, 1)]
    return {
        "dpi": dpi,
        "pages": len(pages),
        "pages_read": result.ocr_pages,
        "seconds": round(seconds, 2),
        "pages_per_s": round(len(pages) / seconds, 3),
        "chars_right": round(sum(c for c, _ in scores) / len(scores), 4),
        "words_right": round(sum(w for _, w in scores) / len(scores), 4),
        "chars": sum(len(" ".join(lines)) for lines in pages),
    }


def shared_image_only() -> list[dict]:
    rows = []
    for name in IMAGE_ONLY:
        started = time.perf_counter()
        try:
            result = pdf.load(SHARED_PDFS / name)
            outcome = f"indexed: {sum(len(u.text) for u in result.units)} characters"
        except (SkipFile, LoadError) as exc:
            outcome = f"skipped: {exc}"
        rows.append(
            {"file": name, "seconds": round(time.perf_counter() - started, 2), "outcome": outcome}
        )
    return rows


def searchable(pages: list[list[str]], folder: Path) -> dict:
    """Each scanned page, ingested, is the top BM25 hit for its own first full line."""
    docs = folder / "docs"
    docs.mkdir(parents=True)
    scanned_pdf(docs / "scan.pdf", pages, dpi=200)
    settings = IngestSettings(index_dir=folder / "indexes", _env_file=None)
    report = run_ingest([docs], "scans", settings)
    index = open_index(settings.index_dir, "scans")
    found = 0
    for number, lines in enumerate(pages, 1):
        query = max(lines[:5], key=len)
        hits = index.lexical(query, depth=1)
        found += bool(hits) and index.chunks([hits[0][0]])[0].source.page == number
    failed = [issue.reason for issue in report.failed]
    return {
        "pages": len(pages),
        "ocr_pages": report.ocr_pages,
        "found_top1": found,
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=6, help="pages per resolution")
    args = parser.parse_args()
    pages = known_pages(args.pages)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scans = [read_scans(pages, dpi, folder) for dpi in (150, 200, 300)]
        shared = shared_image_only()
        search = searchable(pages, folder / "search")
    print_table(
        "Scanned pages (image-only PDFs, JPEG inside) read by OCR",
        ["scan dpi", "pages", "s", "pages/s", "chars right", "words right"],
        [
            [
                s["dpi"],
                s["pages"],
                s["seconds"],
                s["pages_per_s"],
                s["chars_right"],
                s["words_right"],
            ]
            for s in scans
        ],
    )
    print_table(
        "The shared image-only PDFs",
        ["file", "s", "outcome"],
        [[r["file"], r["seconds"], r["outcome"]] for r in shared],
    )
    print(
        "\nscanned pages found by a line of their text (BM25 top 1): "
        f"{search['found_top1']}/{search['pages']}"
    )
    out = write_result(
        "ocr", {"machine": machine(), "scans": scans, "shared_image_only": shared, "search": search}
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
