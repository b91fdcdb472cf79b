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

_COMMANDS = ("run", "simulate", "tune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swimcore", description=__doc__.splitlines()[0])
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
    """Entry point of the ``swimcore`` console script and ``python -m swimcore``."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
