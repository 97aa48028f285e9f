"""``carbonshift`` command line. Each module in :mod:`experiments.commands` contributes subcommands
through ``register(subparsers)``; handlers receive the parsed args and return an exit code.

Errors after argument parsing are one or two lines on stderr — what went wrong and how to fix it — with exit
status 2 for a config error and 1 for a failure while running; ``-v`` (before or after the subcommand) shows
the traceback. Output piped into a reader that stops early (``| head``) ends quietly."""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback
from contextlib import nullcontext

import yaml

from carbonshift.experiments import commands
from carbonshift.experiments.config import ConfigError
from carbonshift.experiments.output import json_stdout, setup_logging
from carbonshift.experiments.tracking import tracking_uri
from carbonshift.forecast.data.registry import DataDirError
from carbonshift.forecast.version import code_version, installed_version

MAX_MESSAGE_CHARS = 500
EXIT_BROKEN_PIPE = 141   # 128 + SIGPIPE, what a shell reports for a writer whose reader went away


def version_text() -> str:
    """``carbonshift <installed version> (code <commit>[-dirty])``."""
    return f"{installed_version()} (code {code_version()})"


class _Version(argparse.Action):
    """``--version``, computed only when asked (the code version runs git)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args) -> None:
        print(version_text())
        parser.exit()


def _add_verbose(parser: argparse.ArgumentParser, top: bool) -> None:
    """``-v`` on ``parser`` and, recursively, on every subcommand parser (``carbonshift run X -v``). Below the
    top level its default is suppressed so it never resets a ``-v`` given before the subcommand."""
    parser.add_argument("-v", "--verbose", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="log progress to stderr and show tracebacks of errors")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):   # aliases share a parser
                _add_verbose(child, top=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carbonshift", description="Forecast grid carbon intensity and schedule AI training jobs across regions "
                                        "to cut carbon; every run tracked in MLflow. `-v` shows progress and tracebacks.")
    parser.add_argument("--version", action=_Version, help="print the package and code version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"carbonshift.experiments.commands.{mod.name}").register(sub)
    _add_verbose(parser, top=True)
    return parser


def one_line(message: str) -> str:
    """``message`` on one line, cut at :data:`MAX_MESSAGE_CHARS` characters."""
    text = " ".join(message.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else f"{text[:MAX_MESSAGE_CHARS]}…"


def report_error(command: str, exc: BaseException, verbose: bool) -> None:
    """What failed, on stderr: one line (config errors and clean failures) plus, for an unexpected exception,
    a hint to rerun with ``-v``; with ``verbose`` the traceback first."""
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, (ConfigError, DataDirError, yaml.YAMLError)):
        kind = "invalid YAML: " if isinstance(exc, yaml.YAMLError) else ""
        print(f"carbonshift {command}: error: {one_line(f'{kind}{exc}')}", file=sys.stderr)
        return
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)   # KeyError: no quotes
    if getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":   # MLflow: unknown run / experiment id

        print(f"carbonshift {command}: error: {one_line(str(getattr(exc, 'message', text)))} in the MLflow store "
              f"{tracking_uri()} (another store? set MLFLOW_TRACKING_URI)", file=sys.stderr)
        return
    print(f"carbonshift {command}: error: {type(exc).__name__}: {one_line(str(text))}", file=sys.stderr)
    if not verbose:
        print(f"(run `carbonshift {command} ... -v` for the traceback)", file=sys.stderr)


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away (``| head``): point stdout at /dev/null so the interpreter's final flush
    does not raise again, and exit like a killed writer."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. A config error (bad YAML, bad ``--set``, out-of-range value, a data dir that is not
    there or holds a file twice) becomes one line on stderr and exit status 2; any other exception one line (+ how to see the traceback) and status 1."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        with json_stdout() if getattr(args, "json", False) else nullcontext():
            code = int(args.handler(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except (ConfigError, DataDirError, yaml.YAMLError) as exc:
        report_error(args.command, exc, args.verbose)
        return 2
    except KeyboardInterrupt:
        print(f"carbonshift {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else: one line here, the traceback behind -v
        report_error(args.command, exc, args.verbose)
        return 1


if __name__ == "__main__":
    sys.exit(main())
