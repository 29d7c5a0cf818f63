"""`sourced`: the product's one command. Subcommands come from the halves that own them."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
from pathlib import Path

from ingest import cli as ingest_cli
from ingest.settings import IngestSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sourced",
        description="Sourced: question answering over your own documents, with cited sources.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ingest_cli.add_commands(commands)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default=None, help="address to bind (default: SOURCED_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (default: SOURCED_PORT)")
    serve.add_argument(
        "--insecure-no-auth", action="store_true",
        help="allow a non-loopback address without API keys (anyone who can reach it may ask)",
    )  # fmt: skip
    serve.add_argument(
        "--watch",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="keep an index in sync with this folder while serving (repeatable)",
    )
    serve.add_argument(
        "--watch-index",
        default=None,
        metavar="NAME",
        help="the index --watch keeps in sync (default: SOURCED_DEFAULT_INDEX)",
    )
    serve.set_defaults(handler=_serve)

    mcp = commands.add_parser(
        "mcp", help="serve the indexes to an MCP client (a desktop assistant, an IDE) over stdio"
    )
    mcp.add_argument("--index", action="append", default=[], metavar="NAME",
                     help="offer only this index (repeatable; default: all)")  # fmt: skip
    mcp.set_defaults(handler=_mcp)

    keys_file_help = (
        "keys file (default: SOURCED_API_KEYS_FILE; with SOURCED_STORE=postgres, the database)"
    )
    keys = commands.add_parser("keys", help="create and manage API keys (stored hashed)")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    add = keys_commands.add_parser("add", help="create a key, store its hash, print it once")
    add.add_argument("name", help="who or what the key is for (shown in logs)")
    add.add_argument("--index", action="append", default=[], metavar="NAME",
                     help="limit the key to this index (repeatable; default: all)")  # fmt: skip
    add.add_argument("--file", default=None, help=keys_file_help)
    remove = keys_commands.add_parser("remove", help="revoke a key by name")
    remove.add_argument("name")
    remove.add_argument("--file", default=None, help=keys_file_help)
    listing = keys_commands.add_parser("list", help="the keys' names and scopes")
    listing.add_argument("--file", default=None, help=keys_file_help)
    keys_commands.add_parser("new", help="print a fresh random key (for SOURCED_API_KEYS)")
    keys.set_defaults(handler=_keys)

    ask = commands.add_parser("ask", help="answer one question from an index, without a server")
    ask.add_argument("question")
    ask.add_argument("--index", default=None, help="index name (default: SOURCED_DEFAULT_INDEX)")
    ask.add_argument("--top-k", type=int, default=None, help="chunks to retrieve")
    ask.add_argument("--json", action="store_true", help="print the full response as JSON")
    ask.add_argument(
        "--mode", choices=("hybrid", "dense", "bm25"), default=None, help="retrieval mode"
    )
    ask.add_argument(
        "--answer-mode", choices=("auto", "short", "generative", "extractive"), default=None,
        help="how the answer is made (default: SOURCED_ANSWER_MODE)",
    )  # fmt: skip
    ask.add_argument("--document", action="append", default=[], metavar="GLOB",
                     help="only documents matching this path glob (repeatable)")  # fmt: skip
    ask.add_argument("--type", action="append", default=[], metavar="EXT", dest="file_types",
                     help="only files of this type: pdf, docx, md… (repeatable)")  # fmt: skip
    ask.add_argument("--pages", default=None, metavar="FIRST-LAST",
                     help="only these pages of paged documents: 3, 2-5, 4-")  # fmt: skip
    ask.set_defaults(handler=_ask)

    evaluate = commands.add_parser(
        "eval",
        help="measure retrieval and answer quality on a BEIR folder, a SQuAD JSON file or a "
        "WikiTableQuestions folder",
    )
    evaluate.add_argument("dataset", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/), "
                          "SQuAD v1.1/v2.0 JSON file, or WikiTableQuestions folder "
                          "(questions.tsv, csv/)")  # fmt: skip
    evaluate.add_argument("--index", default=None,
                          help="evaluate this existing index instead of building one")  # fmt: skip
    evaluate.add_argument("--mode", choices=("hybrid", "dense", "bm25"), action="append",
                          help="retrieval mode (repeatable; default: all three)")  # fmt: skip
    evaluate.add_argument(
        "--answer-mode", choices=("extractive", "short", "generative", "auto"), action="append",
        help="SQuAD: answer modes to score (repeatable; default: all four)",
    )  # fmt: skip
    evaluate.add_argument(
        "--table", choices=("given", "retrieved"), action="append",
        help="WikiTableQuestions: each question's table given (a filter to its file) or "
        "retrieved from all of them (repeatable; default: both)",
    )  # fmt: skip
    evaluate.add_argument("--limit", type=int, default=50,
                          help="SQuAD, WikiTableQuestions: questions sampled for LLM answers "
                          "(default 50)")  # fmt: skip
    evaluate.add_argument("--top-k", type=int, default=None, help="sources per answer")
    evaluate.add_argument("--llm", default=None, metavar="BACKEND",
                          help="LLM backend for the generative modes (default: SOURCED_LLM_BACKEND;"
                          " 'fake' copies the best quote)")  # fmt: skip
    evaluate.add_argument("--json", dest="json_out", default=None, metavar="FILE",
                          help="also write the report as JSON")  # fmt: skip
    evaluate.set_defaults(handler=_eval)
    return parser


def _serve(args: argparse.Namespace, _: IngestSettings) -> int:
    import uvicorn

    from app.access import access_policy
    from app.errors import AppError
    from app.main import create_app
    from app.services import build_services
    from app.settings import get_settings
    from ingest.stores import open_store

    settings = get_settings()
    host = args.host or settings.host
    settings = settings.model_copy(update={"host": host})  # the MCP endpoint guards by it
    store = open_store(settings)  # an unreachable database: one line
    keys, _ = access_policy(settings, store)  # a bad keys file: one line
    if not keys.enabled and not is_loopback(host) and not args.insecure_no_auth:
        print(
            f"error: refusing to serve on {host} without API keys: anyone who can reach it "
            "could read your documents. Set SOURCED_API_KEYS or SOURCED_API_KEYS_FILE "
            "(`sourced keys add NAME`), or pass --insecure-no-auth if the network is yours.",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:  # load before serving, so a bad model or backend is one clear line, not a traceback
        services = build_services(settings, store=store)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if not keys.enabled and not is_loopback(host):
        logging.warning("serving on %s with no API keys (--insecure-no-auth)", host)
    watcher = _start_watching(args, settings, services) if args.watch else None
    try:
        uvicorn.run(
            create_app(settings, services=services),
            host=host,
            port=args.port or settings.port,
            log_level="info",
        )
    finally:
        if watcher is not None:
            watcher.stop()
    return 0


def _start_watching(args: argparse.Namespace, settings, services):
    """`serve --watch`: a FolderWatch in a thread of the server, with the server's embedder."""
    import threading

    from ingest.watch import FolderWatch

    missing = [p for p in args.watch if not p.exists()]
    if missing:
        raise SystemExit(f"error: no such file or folder: {missing[0]}")
    index = args.watch_index or settings.default_index

    def report(found) -> None:
        logging.info("watch: %s", found.summary().replace("\n", "; "))

    watcher = FolderWatch(args.watch, index, settings, on_sync=report, embedder=services.embedder)
    threading.Thread(target=watcher.run, name="watch", daemon=True).start()
    logging.info("keeping index '%s' in sync with %s", index, ", ".join(map(str, args.watch)))
    return watcher


def _mcp(args: argparse.Namespace, _: IngestSettings) -> int:
    """The MCP server over stdio: stdout carries the protocol, so everything else (logs,
    whatever a model library prints while loading) goes to stderr."""
    from app.errors import AppError
    from app.keys import Principal
    from app.mcp import build_mcp_server
    from app.services import build_services
    from app.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    settings = get_settings()
    protocol = os.dup(1)
    os.dup2(2, 1)
    try:
        services = build_services(settings)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    finally:
        sys.stdout.flush()
        os.dup2(protocol, 1)
        os.close(protocol)
    caller = Principal("mcp-stdio", frozenset(args.index) if args.index else None)
    try:
        build_mcp_server(lambda: services, caller=lambda ctx: caller).run("stdio")
    finally:
        services.store.close()
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def _keys(args: argparse.Namespace, _: IngestSettings) -> int:
    from app.keys import key_line, new_key, read_keys_file
    from app.settings import get_settings

    if args.keys_command == "new":
        print(new_key())
        return 0
    settings = get_settings()
    if settings.store == "postgres" and not args.file:
        return _database_keys(args, settings)
    configured = settings.api_keys_file
    path = Path(args.file) if args.file else configured
    if path is None:
        print("error: name the keys file with --file or SOURCED_API_KEYS_FILE", file=sys.stderr)
        return 2
    stored = read_keys_file(path) if path.is_file() else []
    names = [k.principal.name for k in stored]
    if args.keys_command == "list":
        for key in stored:
            scope = ", ".join(sorted(key.principal.indexes or ())) or "every index"
            print(f"{key.principal.name}\t{scope}")
        return 0
    if args.keys_command == "remove":
        if args.name not in names:
            print(f"error: no key named '{args.name}' in {path.name}", file=sys.stderr)
            return 2
        lines = path.read_text().splitlines()
        kept = [line for line in lines if line.split(maxsplit=1)[:1] != [args.name]]
        _write_private(path, "\n".join(kept) + "\n")
        print(f"removed key '{args.name}'")
        return 0
    if args.name in names:
        print(f"error: a key named '{args.name}' exists; remove it first", file=sys.stderr)
        return 2
    key = new_key()
    line = key_line(args.name, key, args.index)
    existing = path.read_text() if path.is_file() else "# Sourced API keys: NAME SHA256 SCOPE\n"
    _write_private(path, existing.rstrip("\n") + "\n" + line + "\n")
    print(key)
    print(f"(stored hashed in {path}; this is the only time the key is shown)", file=sys.stderr)
    return 0


def _database_keys(args: argparse.Namespace, settings) -> int:
    """`sourced keys` with the Postgres store: the keys every replica reads."""
    from contextlib import closing

    from app.keys import KeyRing, new_key
    from app.keys_db import DatabaseKeys
    from ingest.stores import open_store

    with closing(open_store(settings)) as store:
        keys = DatabaseKeys(store.pool, KeyRing([]))
        if args.keys_command == "list":
            for key in keys.stored():
                scope = ", ".join(sorted(key.principal.indexes or ())) or "every index"
                print(f"{key.principal.name}\t{scope}")
            return 0
        if args.keys_command == "remove":
            if not keys.remove(args.name):
                print(f"error: no key named '{args.name}' in the database", file=sys.stderr)
                return 2
            print(f"removed key '{args.name}' (every replica refuses it from now on)")
            return 0
        key = new_key()
        keys.add(args.name, key, args.index)
    print(key)
    print(
        "(stored hashed in the database; this is the only time the key is shown)", file=sys.stderr
    )
    return 0


def _write_private(path, text: str) -> None:
    """Owner-only permissions, written to a temporary file and renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _ask(args: argparse.Namespace, _: IngestSettings) -> int:
    from contextlib import closing

    from pydantic import ValidationError

    from app.errors import AppError
    from app.rag.search import retrieval_filters
    from app.schemas import AskRequest
    from app.services import build_services
    from app.settings import get_settings
    from ingest.stores import open_store

    try:
        request = AskRequest(
            question=args.question,
            index=args.index,
            top_k=args.top_k,
            retrieval_mode=args.mode,
            answer_mode=args.answer_mode,
            filters={"documents": args.document, "file_types": args.file_types,
                     **_page_range(args.pages)},
        )  # fmt: skip
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        print(f"error: {where}: {problem['msg']}", file=sys.stderr)
        return 2
    settings = get_settings()
    try:
        with closing(open_store(settings)) as store:
            # What can be refused without the models is, before they load (seconds).
            retrieval_filters(request.filters)
            name = request.index or settings.default_index
            if store.current_version(name) is None:
                store.open_index(name)  # raises, saying how to build it
            response = build_services(settings, store=store).pipeline.answer(request)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(response.model_dump(), indent=2, ensure_ascii=False))
        return 0
    print(response.answer or "(no answer)")
    if response.notice:
        print(f"({response.notice})")
    if response.query != args.question:
        print(f"(searched for: {response.query})")
    print()
    if response.computation is not None:
        _print_rows(response.computation)
    for source in response.sources:
        mark = {True: "*", False: "!", None: " "}[source.verified]
        where = f" · {source.locator}" if source.locator else ""
        print(f"{mark}[{source.n}] {source.document}{where}  (similarity {source.similarity:.2f})")
        print(f"     {source.quote.text if source.quote else source.snippet}")
    if any(s.verified is False for s in response.sources):
        print("\n! cited, but the passage does not support the claim")
    return 0


def _print_rows(computation) -> None:
    """The rows a computed answer rests on, as the table has them."""
    shown = len(computation.cited_rows)
    more = f", {shown} shown" if shown < computation.cited_row_count else ""
    print(f"Rows of {computation.label} ({computation.cited_row_count}{more}):")
    for row in computation.cited_rows:
        cells = " · ".join(
            f"{name}: {value}" for name, value in row.cells.items() if value is not None
        )
        print(f"  row {row.row}  {cells}")
    print()


def _page_range(text: str | None) -> dict[str, int]:
    """ "3" → page 3; "2-5" → pages 2 to 5; "4-" → page 4 on."""
    if not text:
        return {}
    first, _, last = text.partition("-")
    try:
        page_from = int(first)
        page_to = page_from if not _ else (int(last) if last else None)
    except ValueError:
        raise SystemExit(f"error: --pages takes FIRST-LAST, like 2-5 (got '{text}')") from None
    return {"page_from": page_from, **({"page_to": page_to} if page_to else {})}


def _eval(args: argparse.Namespace, _: IngestSettings) -> int:
    from app.eval.cli import run_eval

    return run_eval(args, Path(args.dataset))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return ingest_cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
