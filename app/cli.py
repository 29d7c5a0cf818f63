"""`sourced`: the product's one command. Subcommands come from the halves that own them."""

from __future__ import annotations

import argparse
import json
import logging
import sys

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
    serve.set_defaults(handler=_serve)

    ask = commands.add_parser("ask", help="answer one question from an index, without a server")
    ask.add_argument("question")
    ask.add_argument("--index", default=None, help="index name (default: SOURCED_DEFAULT_INDEX)")
    ask.add_argument("--top-k", type=int, default=None, help="chunks to retrieve")
    ask.add_argument("--json", action="store_true", help="print the full response as JSON")
    ask.set_defaults(handler=_ask)
    return parser


def _serve(args: argparse.Namespace, _: IngestSettings) -> int:
    import uvicorn

    from app.errors import AppError
    from app.main import create_app
    from app.services import build_services
    from app.settings import get_settings

    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:  # load before serving, so a bad model or backend is one clear line, not a traceback
        services = build_services(settings)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings, services=services),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level="info",
    )
    return 0


def _ask(args: argparse.Namespace, _: IngestSettings) -> int:
    from app.errors import AppError
    from app.schemas import AskRequest
    from app.services import build_services
    from app.settings import get_settings

    try:
        services = build_services(get_settings())
        response = services.pipeline.answer(
            AskRequest(question=args.question, index=args.index, top_k=args.top_k)
        )
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(response.model_dump(), indent=2, ensure_ascii=False))
        return 0
    print(response.answer or "(no answer)")
    print()
    for source in response.sources:
        mark = "*" if source.cited else " "
        where = f" · {source.locator}" if source.locator else ""
        print(f"{mark}[{source.n}] {source.document}{where}  (score {source.score:.2f})")
        print(f"     {source.snippet}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return ingest_cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
