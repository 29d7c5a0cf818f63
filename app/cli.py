"""`sourced`: the product's one command. Subcommands come from the halves that own them."""

from __future__ import annotations

import argparse
import sys

from ingest import cli as ingest_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sourced",
        description="Sourced: question answering over your own documents, with cited sources.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ingest_cli.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return ingest_cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
