"""The ingest commands: `sourced ingest` and `sourced indexes` (also `python -m ingest`).

Exit codes: 0 all went well; 1 some files failed (the others are indexed, the index is valid);
2 nothing was done (bad usage, an index busy, mismatched or unreadable).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from pathlib import Path

from pydantic import ValidationError

from ingest.errors import SourcedError
from ingest.progress import Progress
from ingest.settings import IngestSettings, get_ingest_settings
from ingest.stores import open_store
from ingest.sync import run_ingest

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def add_commands(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="index folders of documents (PDF, DOCX, XLSX, PPTX, HTML, CSV, JSON, Markdown, text)",
        description="Index the files under PATH… into an index; re-runs only do what changed. "
        "The index mirrors the paths given: files no longer there are removed from it.",
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folder or file")
    ingest.add_argument("--index", default="default", help="index name (default: %(default)s)")
    ingest.add_argument("--rebuild", action="store_true", help="re-read and re-embed everything")
    ingest.add_argument(
        "--dry-run", action="store_true", help="report what would change; parse and write nothing"
    )
    ingest.add_argument(
        "--retry-failed",
        action="store_true",
        help="parse again the files that failed before, even if they have not changed",
    )
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.add_argument("--quiet", action="store_true", help="no progress output")
    ingest.set_defaults(handler=_ingest)

    watch = commands.add_parser(
        "watch",
        help="keep an index in sync with folders: sync after each change (Ctrl-C stops)",
        description="Sync PATH… into an index now, then again whenever something under them "
        "changes, once the folders have been quiet for --quiet-s seconds. The same incremental "
        "rules and report as `sourced ingest`.",
    )
    watch.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folder or file")
    watch.add_argument("--index", default="default", help="index name (default: %(default)s)")
    watch.add_argument(
        "--quiet-s", type=float, default=2.0, metavar="SECONDS",
        help="wait this long after the last change before syncing (default: %(default)s)",
    )  # fmt: skip
    watch.set_defaults(handler=_watch)

    indexes = commands.add_parser("indexes", help="list indexes with document and chunk counts")
    indexes.add_argument("--json", action="store_true", help="print as JSON")
    indexes.set_defaults(handler=_indexes)


def _ingest(args: argparse.Namespace, settings: IngestSettings) -> int:
    progress = Progress(enabled=not args.quiet)
    report = run_ingest(
        args.paths,
        args.index,
        settings,
        rebuild=args.rebuild,
        dry_run=args.dry_run,
        retry_failed=args.retry_failed,
        progress=progress,
    )
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.summary())
    return EXIT_SOME_FAILED if report.exit_code else EXIT_OK


def _watch(args: argparse.Namespace, settings: IngestSettings) -> int:
    import logging
    import time

    from ingest.watch import FolderWatch

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("sourced").setLevel(logging.INFO)  # the watcher's own news
    for path in args.paths:
        if not path.exists():
            print(f"error: no such file or folder: {path}", file=sys.stderr)
            return EXIT_USAGE

    def report(found) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {found.summary()}", flush=True)

    watcher = FolderWatch(args.paths, args.index, settings, quiet_s=args.quiet_s, on_sync=report)
    print(f"watching {', '.join(str(p) for p in args.paths)} for index '{args.index}'", flush=True)
    try:
        watcher.run()
    except KeyboardInterrupt:
        watcher.stop()
    return EXIT_OK


def _indexes(args: argparse.Namespace, settings: IngestSettings) -> int:
    with closing(open_store(settings)) as store:
        found = store.list_indexes()
    rows = [
        {
            "name": v.name,
            "version": v.version,
            "documents": v.document_count,
            "chunks": v.chunk_count,
            "embedding_model": v.spec.embedding_model,
            "built_at": v.built_at,
            "search": v.search_info.describe(),
        }
        for v in found
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        where = settings.index_dir if settings.store == "local" else "the database"
        print(f"No indexes yet in {where}. Build one with `sourced ingest FOLDER`.")
    else:
        header = f"{'NAME':<20} {'VERSION':<9} {'DOCS':>6} {'CHUNKS':>8}  {'BUILT AT':<20}  SEARCH"
        print(header)
        for r in rows:
            print(
                f"{r['name']:<20} {r['version']:<9} {r['documents']:>6} {r['chunks']:>8}  "
                f"{r['built_at']:<20}  {r['search']}"
            )
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; user-facing errors become one line on stderr and exit code 2."""
    try:
        settings = get_ingest_settings()
        return args.handler(args, settings)
    except SourcedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as exc:
        for problem in exc.errors():
            where = "_".join(str(part) for part in problem["loc"]).upper()
            setting = f"SOURCED_{where}" if where else "settings"
            message = problem["msg"].removeprefix("Value error, ")
            print(f"error: invalid {setting}: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: the index was left at its previous version", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    """`python -m ingest PATH… [--index NAME]`: the same as `sourced ingest` (and `python -m
    ingest watch …`, `python -m ingest indexes` as `sourced watch`, `sourced indexes`)."""
    parser = argparse.ArgumentParser(prog="python -m ingest")
    commands = parser.add_subparsers(dest="command", required=True)
    add_commands(commands)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("ingest", "watch", "indexes", "-h", "--help"):
        argv = ["ingest", *argv]
    return run(parser.parse_args(argv))
