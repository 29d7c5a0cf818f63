"""Ingest throughput on BEIR SciFact (5,183 abstracts), against the model's own limit and
against the LangChain pipeline most users start from, on the same machine in the same run.

    .venv/bin/python bench/ingest_scifact.py [--limit N] [--skip-langchain]

1. Sourced: full ingest of the corpus, one text file per abstract, through the real pipeline
   (scan, parse in the worker, chunk, embed, write the index), model loading included.
2. The model's limit: the same chunk texts encoded directly by sentence-transformers, with the
   same model, dtype and batch size, model already loaded. Then Sourced's full ingest once more
   into a fresh index: the machine's speed drifts between runs, so the model is compared with
   the mean of the two ingests around it. Sourced also embeds every chunk's sentences (for
   answering; SOURCED_SENTENCE_VECTORS); a third ingest without them shows what they cost, and
   is what compares with the model alone and with LangChain, which embed chunks only.
3. LangChain, as its docs show it: DirectoryLoader + TextLoader, RecursiveCharacterTextSplitter
   (1,000 characters, 200 overlap), HuggingFaceEmbeddings (same model, its defaults: float32)
   and FAISS.from_documents; model loading included. Needs `pip install '.[bench]'`.
4. Re-ingest of the unchanged folder, in process and as a `sourced ingest` command, then of the
   folder with one file changed.

Throughput is compared in documents per second (each pipeline cuts its own chunks). Prints a
table and writes bench/results/ingest_scifact.json. The dataset is read from
../shared/datasets/scifact and never copied into the product.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, print_table, scifact_records, write_result

from ingest.embedder import Embedder, resolve_model_path
from ingest.progress import Progress
from ingest.settings import IngestSettings
from ingest.stores.local import open_index
from ingest.sync import run_ingest


def write_corpus(target: Path, limit: int | None) -> int:
    records = scifact_records(limit)
    for r in records:
        (target / f"{r['_id']}.txt").write_text(f"{r['title']}\n\n{r['text']}\n")
    return len(records)


def langchain_pipeline(folder: Path, model_path: str) -> tuple[float, int, int]:
    """Seconds, chunks and chunks longer than the model's window, for LangChain's pipeline."""
    from langchain_community.document_loaders import DirectoryLoader, TextLoader
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    documents = DirectoryLoader(str(folder), glob="*.txt", loader_cls=TextLoader).load()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = splitter.split_documents(documents)
    embeddings = HuggingFaceEmbeddings(
        model_name=model_path, encode_kwargs={"normalize_embeddings": True}
    )
    FAISS.from_documents(chunks, embeddings)
    seconds = time.perf_counter() - started
    tokenizer = embeddings._client.tokenizer
    window = embeddings._client.max_seq_length
    cut = sum(1 for c in chunks if len(tokenizer.tokenize(c.page_content)) + 2 > window)
    return seconds, len(chunks), cut


def cli_ingest_seconds(folder: Path, settings: IngestSettings) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ingest", "ingest", str(folder), "--index", "scifact", "--quiet"],
        check=True,
        env={**os.environ, "SOURCED_INDEX_DIR": str(settings.index_dir)},
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N abstracts")
    parser.add_argument("--skip-langchain", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sourced-bench-") as tmp:
        folder = Path(tmp) / "scifact"
        folder.mkdir()
        documents = write_corpus(folder, args.limit)
        settings = IngestSettings(index_dir=Path(tmp) / "indexes")

        started = time.perf_counter()
        full = run_ingest([folder], "scifact", settings, progress=Progress())
        first_s = time.perf_counter() - started
        texts = [c.text for c in open_index(settings.index_dir, "scifact").chunks()]

        embedder = Embedder.from_settings(settings)
        engine = embedder.engine
        engine.encode(texts[:64], settings.embedding_batch_size)  # warm
        started = time.perf_counter()
        engine.model.encode(texts, batch_size=settings.embedding_batch_size)
        direct_s = time.perf_counter() - started

        again = IngestSettings(index_dir=Path(tmp) / "indexes-again")
        started = time.perf_counter()
        run_ingest([folder], "scifact", again, progress=Progress())
        second_s = time.perf_counter() - started
        full_s = (first_s + second_s) / 2

        chunks_only = IngestSettings(index_dir=Path(tmp) / "indexes-chunks", sentence_vectors=False)
        started = time.perf_counter()
        run_ingest([folder], "scifact", chunks_only, progress=Progress())
        chunks_only_s = time.perf_counter() - started

        langchain = None
        if not args.skip_langchain:
            langchain = langchain_pipeline(folder, resolve_model_path(settings.embedding_model))

        started = time.perf_counter()
        unchanged = run_ingest([folder], "scifact", settings)
        unchanged_s = time.perf_counter() - started
        unchanged_cli_s = cli_ingest_seconds(folder, settings)

        victim = sorted(folder.iterdir())[0]
        victim.write_text(victim.read_text() + "\nAn added sentence about the findings.\n")
        started = time.perf_counter()
        one_changed = run_ingest([folder], "scifact", settings)
        one_changed_s = time.perf_counter() - started

    chunks = len(texts)
    result = {
        "dataset": "BEIR SciFact corpus, one text file per abstract",
        "documents": documents,
        "embedding": embedder.describe(),
        "sourced": {
            "seconds": round(full_s, 2),
            "runs_s": [round(first_s, 2), round(second_s, 2)],
            "chunks": chunks,
            "documents_per_s": round(documents / full_s, 2),
            "chunks_per_s": round(chunks / full_s, 2),
            "failed_files": len(full.failed),
            "sentences_embedded": full.sentences_embedded,
        },
        "sourced_without_sentence_vectors": {
            "seconds": round(chunks_only_s, 2),
            "documents_per_s": round(documents / chunks_only_s, 2),
        },
        "model_alone": {
            "seconds": round(direct_s, 2),
            "chunks_per_s": round(chunks / direct_s, 2),
        },
        "sourced_vs_model": round(direct_s / full_s, 3),
        "sourced_without_sentences_vs_model": round(direct_s / chunks_only_s, 3),
        "unchanged_reingest_s": round(unchanged_s, 2),
        "unchanged_reingest_cli_s": round(unchanged_cli_s, 2),
        "unchanged_reingest_embedded": unchanged.chunks_embedded,
        "one_file_changed_s": round(one_changed_s, 2),
        "one_file_changed_embedded": one_changed.chunks_embedded,
        "machine": machine(),
    }
    rows = [
        ["Sourced, full ingest (mean)", f"{full_s:.1f} s", chunks, f"{documents / full_s:.2f}", ""],
        ["  first, second run", f"{first_s:.1f} s, {second_s:.1f} s", "", "", ""],
        ["  without sentence vectors", f"{chunks_only_s:.1f} s", chunks,
         f"{documents / chunks_only_s:.2f}", f"{direct_s / chunks_only_s:.0%}"],
        ["model alone, same chunks", f"{direct_s:.1f} s", chunks, "", f"{direct_s / full_s:.0%}"],
    ]  # fmt: skip
    if langchain:
        lc_s, lc_chunks, lc_cut = langchain
        result["langchain"] = {
            "seconds": round(lc_s, 2),
            "chunks": lc_chunks,
            "chunks_past_model_window": lc_cut,
            "documents_per_s": round(documents / lc_s, 2),
        }
        result["sourced_vs_langchain"] = round(lc_s / full_s, 3)
        result["sourced_without_sentences_vs_langchain"] = round(lc_s / chunks_only_s, 3)
        rows.append(
            ["LangChain pipeline", f"{lc_s:.1f} s", lc_chunks, f"{documents / lc_s:.2f}", ""]
        )
    rows += [
        ["unchanged re-ingest", f"{unchanged_s:.2f} s", "", "", ""],
        ["unchanged, `sourced ingest`", f"{unchanged_cli_s:.2f} s", "", "", ""],
        ["one file changed", f"{one_changed_s:.2f} s", one_changed.chunks_embedded, "", ""],
    ]
    out = write_result("ingest_scifact", result)
    title = f"SciFact ingest: {documents} documents, embeddings {embedder.describe()}"
    print_table(title, ["", "time", "chunks", "docs/s", "of model"], rows)
    if langchain:
        print(f"  Sourced / LangChain throughput: {lc_s / full_s:.2f}x", end="")
        print(f" ({lc_s / chunks_only_s:.2f}x without sentence vectors)")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
