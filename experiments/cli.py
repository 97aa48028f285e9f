"""``carbonshift`` command line. Each module in :mod:`experiments.commands` contributes subcommands
through ``register(subparsers)``; handlers receive the parsed args and return an exit code."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import yaml

from experiments import commands
from experiments.config import ConfigError
from experiments.output import setup_logging

MAX_MESSAGE_CHARS = 500


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carbonshift", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"experiments.commands.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. A config error (bad YAML, bad ``--set``, out-of-range value) that a command did not
    report itself becomes one line on stderr and exit status 2, never a traceback."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.handler(args) or 0)
    except (ConfigError, yaml.YAMLError) as exc:
        kind = "invalid YAML: " if isinstance(exc, yaml.YAMLError) else ""
        message = " ".join(f"{kind}{exc}".split())
        cut = message if len(message) <= MAX_MESSAGE_CHARS else f"{message[:MAX_MESSAGE_CHARS]}…"
        print(f"carbonshift {args.command}: error: {cut}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
