"""The ``swimcore`` command line: ``run``, ``simulate`` and ``tune``.

This subpackage is the outermost layer: it may import ``swimcore.transports``, nothing else in
``swimcore`` imports it, and ``import swimcore`` does not load it.  Each subcommand lives in its
own module exposing ``register(subparsers)``, which adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from swimcore.cli._args import CliParser, version_text

_COMMANDS = ("run", "simulate", "tune")
#: The options of ``swimcore`` itself, before a command.
_TOP_OPTIONS = ("-h", "--help", "--version")


def build_parser() -> argparse.ArgumentParser:
    """The ``swimcore`` parser with every subcommand that can be imported."""
    parser = CliParser(prog="swimcore", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--version",
        action="version",
        version=version_text(),
        help="print the version, the Python version and which build of the core is loaded",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"swimcore.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"swimcore.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``swimcore`` console script and ``python -m swimcore``.

    A subcommand's options and positionals may come in any order (``run GROUP ADDR --advertise
    IP JOIN_ADDR``): the subcommand's own parser reads them with ``parse_intermixed_args``.
    Bad arguments print one line and return 2; ``--help`` and ``--version`` raise SystemExit(0).
    """
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = _subcommands(parser)
    try:
        if words and words[0] in commands:
            args = commands[words[0]].parse_intermixed_args(words[1:])
            args.command = words[0]
        else:
            # Name an unknown option before the missing command (argparse would only say
            # that a command is required).
            unknown = [w for w in words if w.startswith("-") and w not in _TOP_OPTIONS]
            if unknown and not any(w in commands for w in words):
                parser.error(f"unrecognized arguments: {' '.join(unknown)}")
            args = parser.parse_args(words)
    except SystemExit as exc:
        if not exc.code:
            raise  # --help and --version exit as argparse does
        return 2  # the one-line error is printed; the status is returned, as for bad values
    result: int = args.func(args)
    return result


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps the subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            choices: dict[str, argparse.ArgumentParser] = action.choices
            return choices
    return {}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
