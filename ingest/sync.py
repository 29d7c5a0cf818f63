"""One ingest run: bring an index in line with a set of folders, doing only the work that changed.

plan     compare the files found with the current version's manifest (size, mtime, hash);
         a file that failed before and has not changed since is reported, not parsed again
parse    read new and changed files in a child process, with a time limit per file
chunk    split their units into token-aware chunks
embed    embed only texts the previous version has no vector for (renames and copies reuse),
         in a background thread while later files are still being parsed; then the sentences
         of the new chunks, which answers weigh as evidence (sentence_index.py)
publish  the change (documents removed, chunks added) as the index's new version, all at once,
         in whichever store holds the index (ingest/stores/)
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ingest.background import BackgroundEmbedder
from ingest.chunker import CHUNKER_VERSION, Chunker
from ingest.embedder import Embedder
from ingest.errors import IndexMismatchError
from ingest.loaders import ParseLimits, parser_version
from ingest.manifest import Failure, FileRecord, Manifest, ManifestChange, file_sha256
from ingest.progress import Progress
from ingest.report import FileIssue, IngestReport
from ingest.scan import FoundFile, scan
from ingest.sentence_index import ChunkSentences, embed_sentences
from ingest.settings import IngestSettings
from ingest.stores import (
    IndexChange,
    IndexReader,
    IndexSpec,
    Reusable,
    Store,
    check_index_name,
    open_store,
)
from ingest.tables import Table
from ingest.units import Chunk
from ingest.worker import ParserResources, ParseWorker


@dataclass(frozen=True)
class _Job:
    file: FoundFile
    sha256: str
    previous: FileRecord | None
    parser: str  # the version of the loader that reads it (parser_version)


@dataclass(frozen=True)
class _Parsed:
    """A file read this run: its record, its chunks, and its tables kept as tables."""

    record: FileRecord
    chunks: list[Chunk]
    tables: list[Table] = field(default_factory=list)


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
    store: Store | None = None,
) -> IngestReport:
    """Ingest `paths` into the index `index`; the index then mirrors exactly these paths (and
    the index's uploaded files). With `prune=False` nothing is removed: documents that are not
    under `paths` stay as they are (how uploads are added). Files that failed on an earlier
    run and have not changed are parsed again only with `retry_failed`."""
    if store is None:
        with closing(open_store(settings)) as own:
            return run_ingest(
                paths,
                index,
                settings,
                rebuild=rebuild,
                dry_run=dry_run,
                prune=prune,
                retry_failed=retry_failed,
                progress=progress,
                embedder=embedder,
                store=own,
            )
    started = time.monotonic()
    progress = progress or Progress(enabled=False)
    report = IngestReport(index=index, dry_run=dry_run)
    check_index_name(index)
    with store.write_lock(index), store.uploads_folder(index) as uploads:
        files = scan(paths, exclude=settings.index_dir, uploads=uploads)
        _sync(
            files,
            index,
            settings,
            store,
            rebuild,
            dry_run,
            prune,
            retry_failed,
            progress,
            embedder,
            report,
        )
    report.seconds = time.monotonic() - started
    return report


def _sync(
    files: list[FoundFile],
    index: str,
    settings: IngestSettings,
    store: Store,
    rebuild: bool,
    dry_run: bool,
    prune: bool,
    retry_failed: bool,
    progress: Progress,
    embedder: Embedder | None,
    report: IngestReport,
) -> None:
    spec = index_spec(settings)
    previous = None if rebuild else store.open_current(index)
    if previous is not None:
        previous.check_spec(spec)
    # The records of the files found, and of the files gone when they are to be removed:
    # what this run reads of the manifest, however many other files the index holds.
    scanned = {file.name for file in files}
    gone = previous.manifest_paths() - scanned if previous and prune else set()
    old = previous.manifest(scanned | gone) if previous else Manifest()
    kept, jobs, failures = _plan(files, old, settings, report, progress, retry_failed)
    if not prune:
        failures.update({n: f for n, f in old.failures.items() if n not in scanned})
    if dry_run:
        documents = len(jobs) + sum(1 for r in kept.values() if r.skipped is None)
        if previous and not prune:
            documents += len(set(previous.documents()) - scanned)
        report.documents = documents
        report.chunks = previous.chunk_count if previous else 0
        return

    embedder = embedder or Embedder.from_settings(settings)
    # A version written without sentence vectors (or by other sentence rules) gets them: its
    # unchanged documents are published again, with their sentences.
    upgrade = bool(previous and settings.sentence_vectors and not previous.has_sentences)
    reuse: dict[str, Reusable] = {}  # what the previous version holds of the new chunk texts
    parsed, embedded = _parse_and_embed(jobs, settings, embedder, previous, reuse, report, progress)
    failed = {issue.document: issue.reason for issue in report.failed}
    for job in jobs:
        if job.file.name not in failed:
            continue
        failures[job.file.name] = _failure(job, failed[job.file.name])
        # A file that failed keeps what the previous version had of it: nothing is lost.
        if job.previous:
            kept[job.file.name] = job.previous
    _find_renames(report, old, parsed)

    records = {**kept, **{name: p.record for name, p in parsed.items()}}
    manifest = _manifest_change(old, records, failures)
    changed = report.added or report.updated or manifest.forgotten or rebuild or not previous
    newly_skipped = any(p.record.skipped for p in parsed.values())
    if not (changed or newly_skipped or upgrade or _failures_differ(failures, old.failures)):
        store.tidy(index, settings.keep_versions)
        report.documents, report.chunks = previous.document_count, previous.chunk_count
        return

    # Documents go with their records (files gone, or now empty or too large) and when they
    # are read again.
    indexed_before = old.indexed()
    removed = {n for n in manifest.forgotten if n in indexed_before}
    removed |= {n for n in parsed if n in indexed_before}
    added = [chunk for name in sorted(parsed) for chunk in parsed[name].chunks]
    tables = [table for name in sorted(parsed) for table in parsed[name].tables]
    report.chunks_new = len(added)
    report.chunks_reused = sum(1 for c in added if c.text in reuse)
    if upgrade:
        carried = [c for c in previous.chunks() if c.document not in removed]
        reuse.update(previous.reusable([c.text for c in carried]))
        added += carried
        tables += previous.tables(set(previous.table_names()) - removed)
        removed |= set(previous.documents())
    dimension = _dimension(previous, embedded, embedder)
    vectors = np.empty((len(added), dimension), dtype=np.float32)
    for i, chunk in enumerate(added):
        known = reuse.get(chunk.text)
        vectors[i] = known.vector if known is not None else embedded[chunk.text]
    sentences = None
    if settings.sentence_vectors:
        sentences = _sentences(added, reuse, dimension, embedder, progress, report)
    change = IndexChange(
        spec,
        dimension,
        manifest,
        removed,
        added,
        vectors,
        sentences,
        replace=previous is None,
        tables=tables,
    )
    progress.note(
        f"publishing {len(added)} chunks"
        + (f", removing {len(removed)} documents' chunks" if removed else "")
    )
    written = store.publish(index, change, keep=settings.keep_versions)
    report.version = written.version
    report.documents, report.chunks = written.document_count, written.chunk_count


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
        parser = parser_version(file.path, settings.ocr)
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
        jobs.append(_Job(file, digest, record if indexed_before else None, parser))
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
    previous: IndexReader | None,
    reuse: dict[str, Reusable],
    report: IngestReport,
    progress: Progress,
) -> tuple[dict[str, _Parsed], dict[str, np.ndarray]]:
    """Parse and chunk each job while a background thread embeds the new chunk texts (those
    the previous version has no vector for, which go into `reuse`); failures and skips are
    reported, never raised. Returns the parsed files and the new vectors by text."""
    if not jobs:
        return {}, {}
    progress.note(f"loading the embedding model ({settings.embedding_model})")
    # A copy of the tokenizer: the embedding thread sets padding on the model's own tokenizer
    # for every batch, which must not change how this thread cuts chunks meanwhile.
    tokenizer = copy.deepcopy(embedder.tokenizer)
    chunker = Chunker(tokenizer, settings.chunk_size, settings.chunk_overlap, embedder.max_tokens)
    # Windows of 16 batches: long enough to sort by length, short enough to start early.
    background = BackgroundEmbedder(
        embedder, skip=reuse.__contains__, window=16 * embedder.batch_size
    )

    def hand_over(texts: list[str]) -> None:
        if previous is not None:
            reuse.update(previous.reusable(texts))
        background.add(texts)

    try:
        parsed = _parse(jobs, settings, chunker, hand_over, report, progress)
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
    hand_over: Callable[[list[str]], None],
    report: IngestReport,
    progress: Progress,
) -> dict[str, _Parsed]:
    parsed: dict[str, _Parsed] = {}
    limits = ParseLimits(
        settings.csv_field_limit,
        settings.json_max_depth,
        settings.csv_max_rows,
        settings.pdf_max_pages,
        int(settings.pdf_max_stream_mb * 1_000_000),
        settings.ocr,
        settings.table_max_rows,
    )
    progress.start("parsing", len(jobs), "files")
    resources = ParserResources(
        settings.parse_timeout_s,
        settings.parse_cpu_s,
        settings.parse_memory_mb,
        settings.ocr_page_s,
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
                    parsed[name] = _Parsed(_record(job, [], [], skipped=reason), [])
                continue
            chunks = chunker.chunk(name, outcome.result.units)
            if not chunks:
                report.skipped.append(FileIssue(name, "no text"))
                _uncount(report, name)
                parsed[name] = _Parsed(_record(job, [], [], skipped="no text"), [])
                continue
            hand_over([c.text for c in chunks])
            report.ocr_pages += outcome.result.ocr_pages
            warnings = [_scrub(w, job.file) for w in outcome.result.warnings]
            report.warnings.extend(FileIssue(name, w) for w in warnings)
            tables = [table.in_document(name) for table in outcome.result.tables]
            parsed[name] = _Parsed(_record(job, chunks, warnings), chunks, tables)
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
        parser=job.parser,
        chunk_ids=[c.id for c in chunks],
        warnings=warnings,
        skipped=skipped,
        origin=str(job.file.path),
    )


def _failure(job: _Job, reason: str) -> Failure:
    file = job.file
    return Failure(file.name, file.size, file.mtime_ns, job.sha256, job.parser, reason)


def _uncount(report: IngestReport, name: str) -> None:
    """A file that was skipped or failed is neither added nor updated."""
    for names in (report.added, report.updated):
        if name in names:
            names.remove(name)


def _find_renames(report: IngestReport, old: Manifest, parsed: dict[str, _Parsed]) -> None:
    removed_by_hash = {old.files[name].sha256: name for name in report.removed}
    for name in report.added:
        record = parsed[name].record
        if record.skipped is None and record.sha256 in removed_by_hash:
            report.renamed.append((removed_by_hash[record.sha256], name))


def _sentences(
    chunks: list[Chunk],
    reuse: dict[str, Reusable],
    dimension: int,
    embedder: Embedder,
    progress: Progress,
    report: IngestReport,
) -> list[ChunkSentences]:
    """The sentences of the added chunks with their vectors; a chunk text the previous version
    had keeps its sentences, the others' are embedded."""
    reused = [reuse[c.text].sentences if c.text in reuse else None for c in chunks]

    def embed(texts: list[str]) -> np.ndarray:
        report.sentences_embedded = len(texts)
        progress.start("embedding sentences", len(texts), "sentences")
        try:
            return embedder.embed(texts, on_progress=progress.advance)
        finally:
            progress.finish()

    return embed_sentences([c.text for c in chunks], dimension, embed, reused)


def _manifest_change(
    old: Manifest, records: dict[str, FileRecord], failures: dict[str, Failure]
) -> ManifestChange:
    """From `old` (the previous records of the files this run looked at) to `records` (theirs
    now): the records that differ, and those that go. Kept records are the same objects, so
    most are told apart without comparing their fields."""
    written = {}
    for path, record in sorted(records.items()):
        before = old.files.get(path)
        if before is not record and before != record:
            written[path] = record
    return ManifestChange(written, set(old.files.keys() - records.keys()), failures)


def _dimension(
    previous: IndexReader | None, embedded: dict[str, np.ndarray], embedder: Embedder
) -> int:
    """The new version's dimension, which is the previous version's: vectors of another
    dimension (another model behind the same name) are refused, not mixed in."""
    if embedded:
        dimension = len(next(iter(embedded.values())))
        if previous is not None and previous.dimension and dimension != previous.dimension:
            raise IndexMismatchError(
                f"the embedding model '{embedder.model_name}' now gives vectors of "
                f"{dimension} dimensions, but index '{previous.name}' holds vectors of "
                f"{previous.dimension}: is another model serving that name? Rebuild the "
                "index with `--rebuild` if the change is meant."
            )
        return dimension
    if previous is not None and previous.dimension:
        return previous.dimension
    return embedder.dimension


def _scrub(reason: str, file: FoundFile) -> str:
    """Messages name the document, never where it lives on the server."""
    return reason.replace(str(file.path), file.name).replace(str(file.path.parent), ".")
