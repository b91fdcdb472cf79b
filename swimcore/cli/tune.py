"""``swimcore tune``: which timeouts should my cluster use?  Simulated evidence, then a config.

Describe the cluster (``--nodes``), its network (round-trip time and spread, loss, how often and
how long members stall) and what you want (every member knowing of a crash within
``--detect-within`` seconds, at most ``--false-deaths-per-member-day``, at most ``--bandwidth``
bytes per second per member).  The tuner simulates a grid of configurations derived from the
presets on ``--seeds`` seeds each (crashes, stalls and quiet time, one at a time, on the
deterministic simulator), prints the table of what each is predicted to do, with uncertainty,
recommends the fastest that meets every goal (or the closest), prints it as code to paste and
writes it as a file ``swimcore.config_file.load_config`` reads (``--out``).  The same ``--seed``
gives the same output, byte for byte.  Clusters above 32 members are simulated at 32
(``--sim-nodes``) and extrapolated, as the table's legend says.  Exit status: 0 when the
recommendation meets every goal, 1 when no candidate does (the closest is shown), 2 for a bad
command line.

Examples::

    swimcore tune --nodes 10 --rtt 0.5 --loss 0.01 --stall-rate 2 --stall-length 1 \\
        --detect-within 5 --false-deaths-per-member-day 0.05 --out lan10.toml
    swimcore tune --nodes 50 --rtt 120 --rtt-spread 80 --loss 0.02 --detect-within 60 \\
        --plot wan.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from swimcore.cli import _args, _executor, _progress
from swimcore.config_file import dump_config
from swimcore.transports.sim.executors import ExecutorUnavailable
from swimcore.transports.sim.plot import PlotUnavailable, _pyplot
from swimcore.transports.sim.sweep import SweepError
from swimcore.transports.sim.tuning.model import STALL_SHAPES, Goals, NetworkModel
from swimcore.transports.sim.tuning.render import report
from swimcore.transports.sim.tuning.search import TuneRequest, TuneResult, to_dict, tune


def register(subparsers: Any) -> None:
    """Add the ``tune`` subcommand."""
    parser = subparsers.add_parser(
        "tune",
        help="recommend timeouts for a cluster from simulations of candidate configurations",
        description=_args.plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cluster = parser.add_argument_group("the cluster and its network")
    cluster.add_argument("--nodes", type=_members, required=True, help="cluster size (>= 3)")
    cluster.add_argument(
        "--rtt", type=_millis, default="1", metavar="MS", help="round-trip time, ms (1)"
    )
    cluster.add_argument(
        "--rtt-spread",
        type=_millis,
        default="0",
        metavar="MS",
        help="round trips vary by up to +- this, ms (0)",
    )
    cluster.add_argument(
        "--loss", type=_probability, default=0.0, metavar="P", help="datagram loss, 0..1 (0)"
    )
    cluster.add_argument(
        "--stall-rate",
        type=_non_negative,
        default=0.0,
        metavar="PER_MEMBER_HOUR",
        help="how often each member stalls (GC, starved VM), per hour (0)",
    )
    cluster.add_argument(
        "--stall-length", type=_positive, default=1.0, metavar="S", help="mean stall, s (1)"
    )
    cluster.add_argument(
        "--stall-shape",
        choices=STALL_SHAPES,
        default="exp",
        help="stall lengths: exponential around the mean (default) or fixed",
    )
    goals = parser.add_argument_group("goals (each optional)")
    goals.add_argument(
        "--detect-within",
        type=_positive,
        metavar="S",
        help="seconds until every member knows of a crash (p99)",
    )
    goals.add_argument(
        "--false-deaths-per-member-day",
        type=_non_negative,
        metavar="X",
        help="live members declared dead, per member-day, you accept",
    )
    goals.add_argument(
        "--bandwidth", type=_positive, metavar="BYTES_PER_S", help="bytes sent per member per s"
    )
    search = parser.add_argument_group("the search")
    search.add_argument("--seeds", type=_count, default=8, help="seeds per candidate (8)")
    search.add_argument("--seed", type=_args.integer, default=0, help="master seed (0)")
    search.add_argument(
        "--sim-nodes", type=_members, help="members simulated (default: --nodes, at most 32)"
    )
    search.add_argument(
        "--preset", choices=("lan", "wan", "local"), help="grid base (default: from --rtt)"
    )
    search.add_argument("--crashes", type=_count, default=3, help="crashes per trial (3)")
    search.add_argument(
        "--stalls", type=_count, default=16, help="stalls per trial, when members stall (16)"
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        metavar="FILE.toml",
        type=_args.output_file(),
        help="write the recommended config here",
    )
    output.add_argument(
        "--plot",
        metavar="FILE.png",
        type=_args.output_file(_args.PLOT_FORMATS),
        help="draw detection vs false deaths (or .pdf, .svg, ...)",
    )
    output.add_argument("--json", action="store_true", help="print the result as JSON")
    output.add_argument("--quiet", action="store_true", help="no progress bar")
    _executor.add_arguments(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.plot:
        try:
            _pyplot()
        except PlotUnavailable as exc:
            print(f"swimcore tune: --plot: {exc}", file=sys.stderr)
            return 2
    try:
        request = TuneRequest(
            nodes=args.nodes,
            network=NetworkModel(
                rtt=args.rtt,
                rtt_spread=args.rtt_spread,
                loss=args.loss,
                stall_rate=args.stall_rate,
                stall_length=args.stall_length,
                stall_shape=args.stall_shape,
            ),
            goals=Goals(
                detect_within=args.detect_within,
                false_deaths_per_member_day=args.false_deaths_per_member_day,
                bandwidth=args.bandwidth,
            ),
            seeds=args.seeds,
            seed=args.seed,
            sim_nodes=args.sim_nodes,
            preset=args.preset,
            crashes=args.crashes,
            stalls=args.stalls,
        )
    except ValueError as exc:
        print(f"swimcore tune: {exc}", file=sys.stderr)
        return 2
    bar = None if args.quiet else ProgressBar(sys.stderr)
    try:
        with _executor.opened(args, runs=2) as executor:
            result = tune(
                request,
                executor=executor,
                progress=bar.update if bar is not None else None,
                options=_executor.options(args),
            )
    except (ValueError, ExecutorUnavailable) as exc:
        print(f"swimcore tune: {exc}", file=sys.stderr)
        return 2
    except SweepError as exc:
        if bar is not None:
            bar.done()
            bar = None
        print(f"swimcore tune: {exc}", file=sys.stderr)
        return 3
    finally:
        if bar is not None:
            bar.done()
    if args.json:
        data = to_dict(result)
        data["recommended_python"] = result.recommended.candidate.python()
        json.dump(_clean(data), sys.stdout, indent=1, sort_keys=False)
        print()
    else:
        print(report(result, args.out))
    if args.out:
        dump_config(
            result.recommended.candidate.config,
            args.out,
            preset=result.recommended.candidate.preset,
            comment=_comment(result),
        )
    if args.plot:
        from swimcore.transports.sim.tuning.plot import plot_tuning  # noqa: PLC0415

        plot_tuning(result, args.plot)
        print(f"figure written to {args.plot}", file=sys.stderr)
    return 0 if result.recommended.meets else 1


def _comment(result: TuneResult) -> str:
    request = result.request
    p = result.recommended.prediction
    return (
        f"written by swimcore tune (seed {request.seed}, {request.seeds} seeds) for "
        f"{request.nodes} members\npredicted: crash known by every member after "
        f"{p.detect_median.value:.3g} s (median), {p.detect_p99.value:.3g} s (p99); "
        f"{p.false_deaths.value:.3g} false deaths per member-day; "
        f"{p.bytes_per_second.value:.4g} bytes/s per member"
    )


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class ProgressBar(_progress.ProgressBar):
    """Trials done so far."""

    def update(self, done: int, total: int) -> None:
        share = 1.0 if total <= 0 else done / total
        self.show(share, f"{done}/{total} trials")


def _members(text: str) -> int:
    value: int = _args.number(text, int, "a whole number >= 3")
    if value < 3:
        raise argparse.ArgumentTypeError(f"must be at least 3, got {value}")
    return value


def _count(text: str) -> int:
    value: int = _args.number(text, int, "a whole number >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _probability(text: str) -> float:
    value: float = _args.number(text, float, "a number within 0..1 (1 excluded)")
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be within 0..1 (1 excluded), got {text}")
    return value


def _non_negative(text: str) -> float:
    value: float = _args.number(text, float, "a finite number >= 0")
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    value: float = _args.number(text, float, "a positive number")
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _millis(text: str) -> float:
    return _non_negative(text) / 1000.0
