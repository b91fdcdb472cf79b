"""``--executor local|processes|dask --scheduler ADDRESS``: where ``simulate`` and ``tune``
run their sweeps (the same options and the same rules for both subcommands)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

from swimcore.cli import _args
from swimcore.transports.sim.executors import EXECUTORS, default_jobs, open_executor
from swimcore.transports.sim.sweep import SweepOptions


def add_arguments(parser: Any) -> None:
    """Add ``--executor``, ``--scheduler``, ``--jobs``, ``--batch`` and ``--task-timeout``."""
    group = parser.add_argument_group("where the runs go")
    group.add_argument(
        "--executor",
        choices=EXECUTORS,
        help="local (this process), processes (a pool on this machine) or dask "
        "(default: local for one run, processes otherwise)",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler, e.g. tcp://10.0.0.5:8786 (with --executor dask; "
        "without it a local Dask cluster of --jobs workers is started)",
    )
    # --jobs, --batch and --task-timeout default to None (see DEFAULTS), so that ``simulate``
    # can tell them given and refuse them where nothing runs on an executor (one run).
    group.add_argument("--jobs", type=_jobs, help="local worker processes (all cores)")
    group.add_argument(
        "--batch",
        type=_jobs,
        metavar="N",
        help="runs sent to a worker together (1; more for short runs on a big cluster)",
    )
    group.add_argument(
        "--task-timeout",
        type=_timeout,
        metavar="S",
        help="give up on runs when none finishes for this long (1800 s)",
    )


#: The options this module adds (their ``dest``), in the order of ``--help``.
OPTIONS = ("executor", "scheduler", "jobs", "batch", "task_timeout")
#: The values of ``--batch`` and ``--task-timeout`` left out (``--jobs``: all cores).
DEFAULTS = {"batch": 1, "task_timeout": 1800.0}


def jobs(args: argparse.Namespace) -> int:
    """``--jobs``, or every core when it is left out."""
    return int(args.jobs) if args.jobs is not None else default_jobs()


def choose(args: argparse.Namespace, runs: int) -> str:
    """The executor's name: the one asked for, else local for one run, processes otherwise."""
    if args.executor is not None:
        return str(args.executor)
    if args.scheduler is not None:
        return "dask"
    return "local" if runs <= 1 or jobs(args) <= 1 else "processes"


def options(args: argparse.Namespace) -> SweepOptions:
    """The sweep options the arguments ask for."""
    timeout = DEFAULTS["task_timeout"] if args.task_timeout is None else args.task_timeout
    batch = DEFAULTS["batch"] if args.batch is None else args.batch
    return SweepOptions(stall_timeout=timeout, batch=int(batch))


@contextlib.contextmanager
def opened(args: argparse.Namespace, runs: int) -> Iterator[Executor | None]:
    """The executor the arguments ask for, shut down on exit."""
    kind = choose(args, runs)
    with open_executor(kind, jobs=jobs(args), scheduler=args.scheduler) as executor:
        yield executor


def _jobs(text: str) -> int:
    value: int = _args.number(text, int, "a whole number >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _timeout(text: str) -> float:
    value: float = _args.number(text, float, "a positive number of seconds")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value
