"""``swimcore simulate``: a whole cluster on the deterministic simulator, with faults.

Builds ``--nodes`` nodes (bootstrapped, every node knowing every member, or ``--join`` through
``--join-seeds`` seeds until every view is complete), strikes ``--crashes`` crashes,
``--partitions`` partitions and ``--pauses`` pauses at random times in the first half of
``--duration`` simulated seconds, over links with ``--latency``, ``--jitter`` and ``--loss``,
and reports detection latency, dissemination, false alarms and traffic. The same ``--seed``
gives the same run, byte for byte (the trace digest says so). A progress bar goes to stderr, the
summary to stdout (``--json`` for machines); ``--plot FILE.png`` draws the dissemination curves
and the detection-latency distribution (needs matplotlib: ``pip install 'swimcore[plot]'``).

``--seeds N`` runs the scenario under seeds ``--seed`` .. ``--seed``+N-1 (on every core, or
``--executor dask --scheduler ADDRESS`` for a Dask cluster) and reports percentiles across
them (detection, false deaths, traffic) and the seeds that broke an invariant or a liveness
deadline; each replays alone with ``--seed`` and the same options.  The report holds no wall
times: the same sweep prints the same bytes wherever it ran.

Examples::

    swimcore simulate --nodes 1000 --crashes 3 --seed 7
    swimcore simulate --nodes 200 --join --join-seeds 3 --loss 0.05 --partitions 1 --plot run.png
    swimcore simulate --nodes 10000 --duration 30 --set push_pull_interval=0 --json > run.json
    swimcore simulate --nodes 100 --crashes 2 --partitions 1 --loss 0.02 --seeds 1000
    swimcore simulate --nodes 100 --fault ingress-loss --duration 600

``--fault CLASS`` runs one of the Rapid paper's partial failures instead (``--faulty`` members,
1% by default, for ``--duration`` seconds after 10 s of calm; ``--fault-rate`` is the loss of
the lossy classes) and prints the stability report of
:mod:`swimcore.transports.sim.stability`: view changes per healthy observer per faulty member
per minute, suspicions, unstable reports and deaths of healthy members, when the faulty
members were out of every healthy view, and how long healthy views differed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, TextIO

import attrs

from swimcore import ConfigError
from swimcore.cli import _args, _executor, _progress
from swimcore.transports.sim.executors import ExecutorUnavailable
from swimcore.transports.sim.plot import PlotUnavailable, plot_report
from swimcore.transports.sim.scenario import Outcome, Scenario, run_scenario
from swimcore.transports.sim.seed_sweep import seed_tasks, sweep_report
from swimcore.transports.sim.stability import FAULTS, header, run_stability
from swimcore.transports.sim.sweep import sweep


def register(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand."""
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a cluster with faults and report detection and dissemination",
        description=_args.plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nodes", type=_positive_int, default=100, help="cluster size (100)")
    parser.add_argument("--preset", choices=("lan", "wan", "local"), default="lan")
    # The scenario's options default to None (values in SCENARIO), so that --fault, which
    # does not use them, refuses only the ones given; likewise --faulty and --fault-rate.
    parser.add_argument("--loss", type=_probability, help="datagram loss, 0..1 (0)")
    parser.add_argument("--latency", type=_millis, help="one-way latency, ms (1)")
    parser.add_argument("--jitter", type=_millis, help="extra random latency, ms (0)")
    parser.add_argument("--crashes", type=_count, help="nodes that crash (1)")
    parser.add_argument("--partitions", type=_count, help="two-way partitions (0)")
    parser.add_argument("--pauses", type=_count, help="nodes that stall 1-5 s (0)")
    parser.add_argument(
        "--duration", type=_seconds, default=60.0, help="simulated seconds after forming (60)"
    )
    parser.add_argument("--seed", type=_args.integer, default=0, help="master seed (0)")
    parser.add_argument(
        "--seeds",
        type=_positive_int,
        default=1,
        metavar="N",
        help="run seeds --seed .. --seed+N-1 and report percentiles across them (1)",
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--bootstrap",
        dest="bootstrap",
        action="store_const",
        const=True,
        help="every node starts knowing every member (default)",
    )
    how.add_argument(
        "--join",
        dest="bootstrap",
        action="store_const",
        const=False,
        help="nodes join through seeds",
    )
    parser.add_argument("--join-seeds", type=_positive_int, help="seeds the nodes join through (3)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=_override,
        metavar="FIELD=VALUE",
        help="change one Config field of the preset, e.g. --set push_pull_interval=0 (repeatable)",
    )
    parser.add_argument(
        "--fault", choices=FAULTS, help="a partial failure: print the stability report instead"
    )
    parser.add_argument(
        "--faulty", type=_positive_int, help="members under --fault (1%% of --nodes, at least 1)"
    )
    parser.add_argument(
        "--fault-rate",
        type=_probability,
        help=f"loss of the lossy --fault classes, {' and '.join(LOSSY)} (0.8)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        type=_args.output_file(_args.PLOT_FORMATS),
        help="draw the figures into FILE.png (or .pdf, .svg, ...)",
    )
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--no-trace", action="store_true", help="skip the trace digest (about 10%% faster)"
    )
    _executor.add_arguments(parser)
    parser.set_defaults(func=main)


#: The values of the scenario's options left out; ``--fault`` uses none of them.
SCENARIO: dict[str, Any] = {
    "loss": 0.0,
    "latency": 0.001,
    "jitter": 0.0,
    "crashes": 1,
    "partitions": 0,
    "pauses": 0,
    "bootstrap": True,
    "join_seeds": 3,
}
#: The ``--fault`` classes ``--fault-rate`` is the loss of.
LOSSY = ("ingress-loss", "egress-loss")
#: What ``--fault`` takes (named when it refuses the rest).
_FAULT_TAKES = "--nodes, --faulty, --fault-rate, --duration, --seed, --preset, --set and --json"


def main(args: argparse.Namespace) -> int:
    unused = _unused(args)
    if unused:
        print(f"swimcore simulate: {unused}", file=sys.stderr)
        return 2
    _args.fill(args, SCENARIO)
    _args.fill(args, {"fault_rate": 0.8})
    if args.crashes > args.nodes - 1:
        print(
            f"swimcore simulate: --crashes {args.crashes} is more than --nodes {args.nodes} "
            f"less one (at most {args.nodes - 1}: one member must survive to detect them)",
            file=sys.stderr,
        )
        return 2
    if args.seeds > 1 and args.plot:
        print("swimcore simulate: --plot draws one run: leave out --seeds", file=sys.stderr)
        return 2
    if args.plot:
        try:
            from swimcore.transports.sim.plot import _pyplot  # noqa: PLC0415

            _pyplot()
        except PlotUnavailable as exc:
            print(f"swimcore simulate: --plot: {exc}", file=sys.stderr)
            return 2
    scenario = Scenario(
        nodes=args.nodes,
        preset=args.preset,
        loss=args.loss,
        latency=args.latency,
        jitter=args.jitter,
        crashes=args.crashes,
        partitions=args.partitions,
        pauses=args.pauses,
        duration=args.duration,
        seed=args.seed,
        bootstrap=args.bootstrap,
        seeds=args.join_seeds,
        trace=not args.no_trace,
        updates=args.seeds == 1,
        overrides=tuple(args.overrides),
    )
    try:
        scenario.config()
    except ConfigError as exc:
        print(f"swimcore simulate: --set: {exc}", file=sys.stderr)
        return 2
    if args.fault:
        return _stability(args, scenario)
    if args.seeds > 1:
        return _sweep(args, scenario)
    forming = (
        ""
        if scenario.bootstrap
        else f"forming: {scenario.nodes} nodes joining through {scenario.seeds} seeds ..."
    )
    bar = None if args.quiet else ProgressBar(sys.stderr, forming=forming)
    if bar is not None:
        bar.note(f"building {scenario.nodes:,} nodes ...")
    outcome = run_scenario(
        scenario,
        progress=bar.update if bar is not None else None,
        building=bar.building if bar is not None else None,
    )
    if bar is not None:
        bar.done()
    if args.json:
        json.dump(outcome.to_dict(), sys.stdout, indent=1)
        print()
    else:
        print(summary(outcome))
    if args.plot:
        plot_report(outcome.report, args.plot, title=_title(scenario))
        print(f"figure written to {args.plot}", file=sys.stderr)
    return 0 if not outcome.violations else 1


def _unused(args: argparse.Namespace) -> str:
    """Why an option given does not fit the mode (``--fault``, one run, a sweep), or ``""``.

    ``--fault`` takes none of the scenario's network and fault options, and runs no sweep;
    ``--faulty`` and ``--fault-rate`` go with ``--fault``; one run uses no executor.
    """
    where = _args.given(args, *_executor.OPTIONS)
    if args.fault:
        # --bootstrap is what --fault does anyway; only --join is refused.
        scenario = [
            "--join" if name == "--bootstrap" else name
            for name in _args.given(args, *SCENARIO)
            if name != "--bootstrap" or args.bootstrap is False
        ]
        if scenario or where:
            return (
                f"{_args.not_apply(scenario + where)} with --fault (it runs the partial failure "
                f"alone and takes {_FAULT_TAKES})"
            )
        if args.fault_rate is not None and args.fault not in LOSSY:
            return (
                f"--fault-rate is the loss of --fault {' and '.join(LOSSY)}; "
                f"--fault {args.fault} does not take it"
            )
        return ""
    faulty = _args.given(args, "faulty", "fault_rate")
    if faulty:
        return f"{_args.not_apply(faulty)} without --fault CLASS"
    if args.seeds == 1 and where:
        return (
            f"{_args.not_apply(where)} to one run: --executor, --scheduler, --jobs, --batch "
            "and --task-timeout place the runs of --seeds N"
        )
    return ""


def _stability(args: argparse.Namespace, scenario: Scenario) -> int:
    """``--fault CLASS``: one run of a partial failure, and its stability report."""
    faulty = args.faulty or max(1, args.nodes // 100)
    if faulty >= args.nodes or args.seeds > 1 or args.plot:
        print(
            "swimcore simulate: --fault takes one seed, no --plot, and --faulty below --nodes",
            file=sys.stderr,
        )
        return 2
    report = run_stability(
        args.nodes,
        args.fault,
        faulty=faulty,
        rate=args.fault_rate,
        minutes=args.duration / 60.0,
        seed=args.seed,
        config=scenario.config(),
    )
    if args.json:
        json.dump(attrs.asdict(report), sys.stdout, indent=1)
        print()
    else:
        print(header())
        print(report.row())
    return 0


def _sweep(args: argparse.Namespace, scenario: Scenario) -> int:
    """``--seeds N``: the scenario under N seeds, as one sweep."""
    seeds = range(scenario.seed, scenario.seed + args.seeds)
    bar = None if args.quiet else RunsBar(sys.stderr)
    started = time.perf_counter()
    try:
        with _executor.opened(args, len(seeds)) as executor:
            result = sweep(
                seed_tasks(scenario, seeds),
                executor,
                progress=bar.update if bar is not None else None,
                options=_executor.options(args),
            )
    except (ValueError, ExecutorUnavailable) as exc:
        print(f"swimcore simulate: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.done()
    if not args.quiet:
        wall = time.perf_counter() - started
        print(f"{len(seeds)} runs in {wall:.1f} s wall", file=sys.stderr)
    data = sweep_report(scenario, result.results, result.failures)
    if args.json:
        json.dump(data, sys.stdout, indent=1)
        print()
    else:
        print(sweep_summary(scenario, data))
    return 0 if not data["broken"] and not data["failed"] else 1


def sweep_summary(scenario: Scenario, data: dict[str, Any]) -> str:
    """The human-readable summary of a ``--seeds`` sweep (no wall times: same bytes anywhere)."""
    seeds = data["seeds"]

    def row(spread: dict[str, Any], unit: str = "s", digits: int = 2) -> str:
        parts = [
            f"{k} {'-' if spread[k] is None else f'{spread[k]:.{digits}f}'}"
            for k in ("p50", "p90", "p99", "max")
        ]
        return ", ".join(parts) + (f" ({unit})" if unit else "")

    detection = data["detection_all"]
    deaths = data["false_deaths"]["total"]
    rows: list[tuple[str, str]] = [
        ("scenario", _title(scenario, seed=False)),
        ("seeds", f"{seeds[0]}..{seeds[-1]}: {data['runs']} runs, {len(data['failed'])} failed"),
        ("crash known to all", row(detection) + f", {detection['undetected']} never"),
        ("first suspicion", row(data["first_suspicion"])),
        ("false deaths/run", f"{row(data['false_deaths'], '', 1)} ({deaths} in all)"),
        ("false suspicions/run", row(data["false_suspicions"], "", 1)),
        ("bytes/node/period", row(data["bytes_per_node_period"], "", 0)),
        ("datagrams/node/period", row(data["datagrams_per_node_period"], "", 2)),
        ("not converged at end", str(data["not_converged"])),
        ("broken seeds", ", ".join(str(b["seed"]) for b in data["broken"]) or "none"),
    ]
    if data["failed"]:
        rows.append(("failed seeds", ", ".join(str(f["seed"]) for f in data["failed"])))
    rows.append(("sweep digest", data["digest"][:32]))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    for broken in data["broken"][:10]:
        for problem in (broken["violations"] + broken["missed"])[:3]:
            lines.append(f"  seed {broken['seed']}: {problem}")
    for failed in data["failed"][:10]:
        lines.append(f"  seed {failed['seed']}: {failed['error']}")
    for seed in [b["seed"] for b in data["broken"]][:1] + [f["seed"] for f in data["failed"]][:1]:
        lines.append(f"replay one: {replay_command(scenario, seed)}")
    return "\n".join(lines)


def replay_command(scenario: Scenario, seed: int) -> str:
    """The ``swimcore simulate`` command line that runs ``scenario`` under ``seed`` alone."""
    parts = [
        f"swimcore simulate --nodes {scenario.nodes} --preset {scenario.preset}",
        f"--loss {scenario.loss:g} --latency {scenario.latency * 1000:g}",
        f"--jitter {scenario.jitter * 1000:g} --crashes {scenario.crashes}",
        f"--partitions {scenario.partitions} --pauses {scenario.pauses}",
        f"--duration {scenario.duration:g}",
    ]
    if not scenario.bootstrap:
        parts.append(f"--join --join-seeds {scenario.seeds}")
    parts += [f"--set {key}={value}" for key, value in scenario.overrides]
    parts.append(f"--seed {seed}")
    return " ".join(parts)


class RunsBar(_progress.ProgressBar):
    """Runs of a sweep done so far."""

    def update(self, done: int, total: int) -> None:
        share = 1.0 if total <= 0 else done / total
        self.show(share, f"{done}/{total} runs")


class ProgressBar(_progress.ProgressBar):
    """Nodes built, then simulated seconds and datagrams so far."""

    def __init__(self, stream: TextIO, *, forming: str = "") -> None:
        super().__init__(stream)
        self.forming = forming

    def building(self, done: int, total: int) -> None:
        share = 1.0 if total <= 0 else done / total
        self.show(share, f"{done:,}/{total:,} nodes built")
        if done >= total:
            self.done()
            self.last = -1
            if self.forming:
                self.note(self.forming)

    def update(self, done: float, total: float, sent: int) -> None:
        share = 0.0 if total <= 0 else min(1.0, done / total)
        self.show(share, f"{done:6.1f}/{total:.0f} s simulated, {sent:,} datagrams")


def _title(scenario: Scenario, *, seed: bool = True) -> str:
    how = "bootstrapped" if scenario.bootstrap else f"joined via {scenario.seeds} seeds"
    title = f"{scenario.nodes} nodes ({how}), {scenario.preset}, loss {scenario.loss:g}"
    if not seed:
        faults = (
            f"{scenario.crashes} crashes, {scenario.partitions} partitions, "
            f"{scenario.pauses} pauses in {scenario.duration:g} s"
        )
        return f"{title}, {faults}"
    return f"{title}, seed {scenario.seed}"


def _fmt(value: float | None, unit: str = "s") -> str:
    return "-" if value is None else f"{value:.2f} {unit}"


def summary(outcome: Outcome) -> str:
    """The human-readable summary table of a run."""
    report, scenario = outcome.report, outcome.scenario
    period = report.probe_interval
    rows: list[tuple[str, str]] = [
        ("nodes", f"{scenario.nodes} ({_title(scenario)})"),
        ("simulated", f"{report.duration:.1f} s = {report.duration / period:.0f} periods"),
        ("wall / cpu", f"{outcome.wall:.1f} s / {outcome.cpu:.1f} s"),
        ("peak memory", f"{outcome.peak_rss_mb:.0f} MiB"),
    ]
    if not scenario.bootstrap:
        rows.append(
            ("formed in", f"{_fmt(outcome.formed_in)} simulated, {outcome.formed_wall:.1f} s wall")
        )
    rows += [
        ("datagrams/node/period", f"{report.datagrams_per_node_period:.2f}"),
        ("bytes/node/period", f"{report.bytes_per_node_period:.0f}"),
    ]
    for detection in report.detections:
        note = f" (restarted at {detection.restarted_at:.1f})" if detection.restarted_at else ""
        rows.append(
            (
                f"crash {detection.name}",
                f"at {detection.crashed_at:.1f}: first suspicion {_fmt(detection.first_suspicion)},"
                f" first dead {_fmt(detection.first)}, all dead {_fmt(detection.all)}, "
                f"{detection.detected_by}/{detection.survivors} survivors{note}",
            )
        )
    curves = [d.curve for d in report.detections if d.survivors]
    if curves:
        rows.append(("failure news to all", _periods_to(curves, 1.0, period)))
        rows.append(("failure news to half", _periods_to(curves, 0.5, period)))
    rows += [
        ("false suspicions", f"{report.false_suspicions} events about {report.falsely_suspected}"),
        ("false deaths", f"{report.false_deaths} events about {report.falsely_dead}"),
        ("converged at end", "yes" if outcome.converged else "NO"),
        ("invariant violations", str(len(outcome.violations))),
    ]
    faults = {
        k: v
        for k, v in report.network.items()
        if k.startswith(("dropped.", "corrupted.", "backlog"))
        or k in ("crashes", "partitions", "pauses", "duplicated", "reordered")
    }
    rows.append(("faults", ", ".join(f"{k}={v}" for k, v in faults.items()) or "none"))
    if outcome.digest:
        rows.append(("trace digest", outcome.digest[:32]))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines += [f"  violation: {v}" for v in outcome.violations[:10]]
    return "\n".join(lines)


def _periods_to(curves: list[tuple[float, ...]], fraction: float, period: float) -> str:
    reached = [next((p for p, v in enumerate(c) if v >= fraction), None) for c in curves]
    done = [p for p in reached if p is not None]
    if not done:
        return "-"
    mean = statistics.fmean(done)
    return f"{mean:.1f} periods on average (max {max(done)}, {len(done)}/{len(curves)} crashes)"


# The converters are shared with ``run`` and ``tune`` (one-line errors naming what is accepted).
_override = _args.config_override
_positive_int = _args.positive_int
_count = _args.count
_probability = _args.probability
_millis = _args.millis
_seconds = _args.positive_seconds
