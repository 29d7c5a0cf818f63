"""One ingest run: bring an index in line with a set of folders, doing only the work that changed.

plan     compare the files found with the current version's manifest (size, mtime, hash);
         a file that failed before and has not changed since is reported, not parsed again
parse    read new and changed files in a child process, with a time limit per file
chunk    split their units into token-aware chunks
embed    embed only texts the previous version has no vector for (renames and copies reuse),
         in a background thread while later files are still being parsed; then the sentences
         of the new chunks, which answers weigh as evidence (sentence_index.py)
write    a new immutable version, made current by an atomic swap (store.write_version)
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ingest.background import BackgroundEmbedder
from ingest.chunker import CHUNKER_VERSION, Chunker
from ingest.embedder import Embedder
from ingest.loaders import ParseLimits, parser_version
from ingest.manifest import Failure, FileRecord, Manifest, file_sha256
from ingest.progress import Progress
from ingest.report import FileIssue, IngestReport
from ingest.scan import FoundFile, scan
from ingest.sentence_index import SentenceIndex
from ingest.settings import IngestSettings
from ingest.store import (
    IndexSpec,
    IndexVersion,
    open_current,
    tidy,
    uploads_path,
    write_lock,
    write_version,
)
from ingest.units import Chunk
from ingest.worker import ParserResources, ParseWorker


@dataclass(frozen=True)
class _Job:
    file: FoundFile
    sha256: str
    previous: FileRecord | None


def index_spec(settings: IngestSettings) -> IndexSpec:
    return IndexSpec(
        embedding_model=settings.embedding_model,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        chunker=CHUNKER_VERSION,
    )


def run_ingest(
    paths: list[Path],
    index: str,
    settings: IngestSettings,
    *,
    rebuild: bool = False,
    dry_run: bool = False,
    prune: bool = True,
    retry_failed: bool = False,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> IngestReport:
    """Ingest `paths` into the index `index`; the index then mirrors exactly these paths (and
    the index's own `uploads/` folder). With `prune=False` nothing is removed: documents
    that are not under `paths` stay as they are (how uploads are added). Files that failed
    on an earlier run and have not changed are parsed again only with `retry_failed`."""
    started = time.monotonic()
    progress = progress or Progress(enabled=False)
    report = IngestReport(index=index, dry_run=dry_run)
    root = settings.index_dir
    files = scan(paths, exclude=root, uploads=uploads_path(root, index))
    spec = index_spec(settings)
    with write_lock(root, index):
        previous = None if rebuild else open_current(root, index)
        if previous is not None:
            previous.check_spec(spec)
        old = previous.manifest() if previous else Manifest()
        kept, jobs, failures = _plan(files, old, settings, report, progress, retry_failed)
        if not prune:
            for name in report.removed:
                kept[name] = old.files[name]
            report.removed = []
            scanned = {file.name for file in files}
            failures.update({n: f for n, f in old.failures.items() if n not in scanned})
        if dry_run:
            report.documents = len(jobs) + sum(1 for r in kept.values() if r.skipped is None)
            report.chunks = previous.chunk_count if previous else 0
            report.seconds = time.monotonic() - started
            return report

        embedder = embedder or Embedder.from_settings(settings)
        # A version written without sentence vectors (or by other sentence rules) gets them.
        upgrade = bool(previous and settings.sentence_vectors and previous.sentence_index is None)
        # Read only when a vector may be reused: an unchanged folder costs no chunk reads.
        forgotten = set(old.failures) - set(failures)  # failed files gone, or read again
        reads = previous and (jobs or report.removed or upgrade or forgotten)
        old_chunks = previous.chunks() if reads else []
        old_row_by_text = {c.text: row for row, c in enumerate(old_chunks)}
        parsed, embedded = _parse_and_embed(
            jobs, settings, embedder, old_row_by_text.__contains__, report, progress
        )
        failed = {issue.document: issue.reason for issue in report.failed}
        for job in jobs:
            if job.file.name not in failed:
                continue
            failures[job.file.name] = _failure(job, failed[job.file.name])
            # A file that failed keeps what the previous version had of it: nothing is lost.
            if job.previous:
                kept[job.file.name] = job.previous
        _find_renames(report, old, parsed)

        changed = report.added or report.updated or report.removed or rebuild or not previous
        newly_skipped = any(record.skipped for record, _ in parsed.values())
        if changed or newly_skipped or upgrade or _failures_differ(failures, old.failures):
            chunks, vectors, old_rows = _assemble(
                previous, old_chunks, old_row_by_text, kept, parsed, embedded, embedder, report
            )
            sentences = None
            if settings.sentence_vectors:
                sentences = _sentences(
                    previous, chunks, old_rows, vectors.shape[1], embedder, progress, report
                )
            records = {**kept, **{name: record for name, (record, _) in parsed.items()}}
            manifest = Manifest(files=dict(sorted(records.items())), failures=failures)
            approximate = len(chunks) >= settings.ann_min_chunks
            graph = " and an HNSW graph (approximate search)" if approximate else ""
            progress.note(f"writing {len(chunks)} chunks{graph}")
            written = write_version(
                root,
                index,
                spec,
                vectors.shape[1],
                chunks,
                vectors,
                manifest,
                keep=settings.keep_versions,
                ann_min_chunks=settings.ann_min_chunks,
                sentences=sentences,
            )
            report.version = written.version
            report.documents, report.chunks = written.document_count, written.chunk_count
        else:
            tidy(root, index, settings.keep_versions)
            report.documents, report.chunks = previous.document_count, previous.chunk_count
    report.seconds = time.monotonic() - started
    return report


def _plan(
    files: list[FoundFile],
    old: Manifest,
    settings: IngestSettings,
    report: IngestReport,
    progress: Progress,
    retry_failed: bool,
) -> tuple[dict[str, FileRecord], list[_Job], dict[str, Failure]]:
    """Sort files into unchanged (kept as they are), failed before and unchanged since (their
    failures carried on), and jobs to parse; note the rest."""
    kept: dict[str, FileRecord] = {}
    jobs: list[_Job] = []
    failures: dict[str, Failure] = {}
    progress.start("checking", len(files), "files")
    for file in files:
        progress.advance()
        parser = parser_version(file.path)
        if parser is None:
            report.unsupported[file.extension] += 1
            continue
        if file.size == 0:
            report.skipped.append(FileIssue(file.name, "empty file"))
            continue
        if file.size > settings.max_file_bytes:
            size_mb = file.size / 1024 / 1024
            reason = f"larger than the {settings.max_file_mb:g} MB limit ({size_mb:.0f} MB)"
            report.skipped.append(FileIssue(file.name, reason))
            continue
        record = old.files.get(file.name)
        failure = None if retry_failed else old.failures.get(file.name)
        if failure and failure.same_file(file.size, file.mtime_ns, parser):
            _fail_again(failure, record, kept, failures, report)
            continue
        if (
            record
            and record.parser == parser
            and (record.size, record.mtime_ns)
            == (
                file.size,
                file.mtime_ns,
            )
        ):
            _keep(kept, record, report)
            continue
        try:
            digest = file_sha256(file.path)
        except OSError as exc:
            report.failed.append(FileIssue(file.name, f"cannot read the file: {exc.strerror}"))
            if record:
                kept[file.name] = record
            continue
        if failure and failure.parser == parser and failure.sha256 == digest:
            _fail_again(replace(failure, mtime_ns=file.mtime_ns), record, kept, failures, report)
            continue
        if record and record.parser == parser and record.sha256 == digest:
            _keep(kept, replace(record, mtime_ns=file.mtime_ns), report)
            continue
        indexed_before = record is not None and record.skipped is None
        jobs.append(_Job(file, digest, record if indexed_before else None))
        (report.updated if indexed_before else report.added).append(file.name)
    progress.finish()
    found = {file.name for file in files}
    report.removed = sorted(name for name in old.indexed() if name not in found)
    return kept, jobs, failures


def _keep(kept: dict[str, FileRecord], record: FileRecord, report: IngestReport) -> None:
    """An unchanged file: indexed as before, or skipped as before for the same reason."""
    kept[record.path] = record
    if record.skipped is None:
        report.unchanged.append(record.path)
    else:
        report.skipped.append(FileIssue(record.path, record.skipped))


def _failures_differ(new: dict[str, Failure], old: dict[str, Failure]) -> bool:
    """Whether the failures to remember changed. A new mtime alone is not worth a version:
    the next run hashes the file and finds the same content."""

    def key(failures: dict[str, Failure]) -> dict[str, tuple[str, str, str]]:
        return {path: (f.sha256, f.parser, f.reason) for path, f in failures.items()}

    return key(new) != key(old)


def _fail_again(
    failure: Failure,
    record: FileRecord | None,
    kept: dict[str, FileRecord],
    failures: dict[str, Failure],
    report: IngestReport,
) -> None:
    """A file that failed before and is the same file now: it would fail the same way."""
    failures[failure.path] = failure
    report.failed.append(FileIssue(failure.path, failure.reason))
    report.failures_remembered += 1
    if record:
        kept[failure.path] = record  # what an earlier version of it put in the index


def _parse_and_embed(
    jobs: list[_Job],
    settings: IngestSettings,
    embedder: Embedder,
    has_vector: Callable[[str], bool],
    report: IngestReport,
    progress: Progress,
) -> tuple[dict[str, tuple[FileRecord, list[Chunk]]], dict[str, np.ndarray]]:
    """Parse and chunk each job while a background thread embeds the new chunk texts; failures
    and skips are reported, never raised. Returns the parsed files and the new vectors by text."""
    if not jobs:
        return {}, {}
    progress.note(f"loading the embedding model ({settings.embedding_model})")
    # A copy of the tokenizer: the embedding thread sets padding on the model's own tokenizer
    # for every batch, which must not change how this thread cuts chunks meanwhile.
    tokenizer = copy.deepcopy(embedder.tokenizer)
    chunker = Chunker(tokenizer, settings.chunk_size, settings.chunk_overlap, embedder.max_tokens)
    # Windows of 16 batches: long enough to sort by length, short enough to start early.
    background = BackgroundEmbedder(embedder, skip=has_vector, window=16 * embedder.batch_size)
    try:
        parsed = _parse(jobs, settings, chunker, background, report, progress)
    except BaseException:
        background.cancel()
        raise
    if background.queued:
        progress.start("embedding", background.queued, "chunks")
    vectors = background.finish(on_progress=progress.advance)
    progress.finish()
    report.chunks_embedded = len(vectors)
    return parsed, vectors


def _parse(
    jobs: list[_Job],
    settings: IngestSettings,
    chunker: Chunker,
    background: BackgroundEmbedder,
    report: IngestReport,
    progress: Progress,
) -> dict[str, tuple[FileRecord, list[Chunk]]]:
    parsed: dict[str, tuple[FileRecord, list[Chunk]]] = {}
    limits = ParseLimits(
        settings.csv_field_limit,
        settings.json_max_depth,
        settings.csv_max_rows,
        settings.pdf_max_pages,
        int(settings.pdf_max_stream_mb * 1_000_000),
    )
    progress.start("parsing", len(jobs), "files")
    resources = ParserResources(
        settings.parse_timeout_s, settings.parse_cpu_s, settings.parse_memory_mb
    )
    with ParseWorker(limits, resources) as worker:
        for job in jobs:
            name = job.file.name
            outcome = worker.parse(job.file.path)
            progress.advance()
            if outcome.result is None:
                reason = _scrub(outcome.skipped or outcome.failed or "", job.file)
                issues = report.skipped if outcome.skipped else report.failed
                issues.append(FileIssue(name, reason))
                _uncount(report, name)
                if outcome.skipped:
                    parsed[name] = (_record(job, [], [], skipped=reason), [])
                continue
            chunks = chunker.chunk(name, outcome.result.units)
            if not chunks:
                report.skipped.append(FileIssue(name, "no text"))
                _uncount(report, name)
                parsed[name] = (_record(job, [], [], skipped="no text"), [])
                continue
            background.add(c.text for c in chunks)
            warnings = [_scrub(w, job.file) for w in outcome.result.warnings]
            report.warnings.extend(FileIssue(name, w) for w in warnings)
            parsed[name] = (_record(job, chunks, warnings), chunks)
    progress.finish()
    return parsed


def _record(
    job: _Job, chunks: list[Chunk], warnings: list[str], skipped: str | None = None
) -> FileRecord:
    return FileRecord(
        path=job.file.name,
        size=job.file.size,
        mtime_ns=job.file.mtime_ns,
        sha256=job.sha256,
        parser=parser_version(job.file.path),
        chunk_ids=[c.id for c in chunks],
        warnings=warnings,
        skipped=skipped,
    )


def _failure(job: _Job, reason: str) -> Failure:
    file = job.file
    return Failure(
        file.name, file.size, file.mtime_ns, job.sha256, parser_version(file.path), reason
    )


def _uncount(report: IngestReport, name: str) -> None:
    """A file that was skipped or failed is neither added nor updated."""
    for names in (report.added, report.updated):
        if name in names:
            names.remove(name)


def _find_renames(
    report: IngestReport, old: Manifest, parsed: dict[str, tuple[FileRecord, list[Chunk]]]
) -> None:
    removed_by_hash = {old.files[name].sha256: name for name in report.removed}
    for name in report.added:
        record, _ = parsed[name]
        if record.skipped is None and record.sha256 in removed_by_hash:
            report.renamed.append((removed_by_hash[record.sha256], name))


def _assemble(
    previous: IndexVersion | None,
    old_chunks: list[Chunk],
    old_row_by_text: dict[str, int],
    kept: dict[str, FileRecord],
    parsed: dict[str, tuple[FileRecord, list[Chunk]]],
    embedded: dict[str, np.ndarray],
    embedder: Embedder,
    report: IngestReport,
) -> tuple[list[Chunk], np.ndarray, list[int | None]]:
    """All chunks of the new version with their vectors: reused from the previous version by
    chunk id (unchanged files) or by text (renamed, copied or partly changed ones), else new;
    and the previous version's row of each chunk (None for a new text)."""
    old_vectors = previous.vectors() if previous else None
    old_row_by_id = {c.id: row for row, c in enumerate(old_chunks)}
    chunks: list[Chunk] = []
    rows: list[int | None] = []  # the old row holding each chunk's vector, or None: a new one
    for name in sorted({*kept, *parsed}):
        if name in parsed:
            for chunk in parsed[name][1]:
                chunks.append(chunk)
                rows.append(old_row_by_text.get(chunk.text))
            report.chunks_new += len(parsed[name][1])
        else:
            for chunk_id in kept[name].chunk_ids:
                row = old_row_by_id[chunk_id]
                chunks.append(old_chunks[row])
                rows.append(row)

    dimension = _dimension(old_vectors, embedded, embedder)
    vectors = np.empty((len(chunks), dimension), dtype=np.float32)
    for i, (chunk, row) in enumerate(zip(chunks, rows, strict=True)):
        vectors[i] = old_vectors[row] if row is not None else embedded[chunk.text]
    report.chunks_reused = report.chunks_new - sum(
        1 for name in parsed for c in parsed[name][1] if c.text not in old_row_by_text
    )
    return chunks, vectors, rows


def _sentences(
    previous: IndexVersion | None,
    chunks: list[Chunk],
    old_rows: list[int | None],
    dimension: int,
    embedder: Embedder,
    progress: Progress,
    report: IngestReport,
) -> SentenceIndex:
    """The sentences of every chunk with their vectors; a chunk the previous version had
    keeps its sentences, the others' are embedded."""
    stored = previous.sentence_index if previous else None
    reused = [
        stored.of(row, chunk.text) if stored is not None and row is not None else None
        for chunk, row in zip(chunks, old_rows, strict=True)
    ]

    def embed(texts: list[str]) -> np.ndarray:
        report.sentences_embedded = len(texts)
        progress.start("embedding sentences", len(texts), "sentences")
        try:
            return embedder.embed(texts, on_progress=progress.advance)
        finally:
            progress.finish()

    return SentenceIndex.build([c.text for c in chunks], dimension, embed, reused)


def _dimension(
    old_vectors: np.ndarray | None, embedded: dict[str, np.ndarray], embedder: Embedder
) -> int:
    if embedded:
        return len(next(iter(embedded.values())))
    if old_vectors is not None and old_vectors.shape[1]:
        return int(old_vectors.shape[1])
    return embedder.dimension


def _scrub(reason: str, file: FoundFile) -> str:
    """Messages name the document, never where it lives on the server."""
    return reason.replace(str(file.path), file.name).replace(str(file.path.parent), ".")
