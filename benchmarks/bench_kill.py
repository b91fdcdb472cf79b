"""kill -9 detection on loopback: all-swimcore clusters against all-memberlist clusters.

Every member is its own OS process on 127.0.0.1: swimcore members are
``tests/netns/member.py`` (the asyncio driver, ``Config.lan()``, native wire) run through
:class:`nslib.MemberProcess`; memberlist members are the Go peer of ``tests/memberlist_peer``
(memberlist 0.2.2, ``DefaultLANConfig``) run through :class:`memberlist_peer.harness.GoPeer`.
For each size, ``--kills`` times, the kinds take turns (swimcore, memberlist, swimcore, ...) so
that drifts in the machine's load hit both.  Each turn starts a fresh cluster of N members
joining through the first, waits until every member lists all N as alive, lets it settle, then
SIGKILLs one member that is not the seed, at a random point of the protocol period, and records
for every survivor the time from the kill until that survivor reports the victim dead
(swimcore: ``MemberFailed``; memberlist: ``NotifyLeave`` with the member dead).  Only one
cluster runs at a time.

Clock: CLOCK_MONOTONIC, which all processes of one Linux host share.  The kill time is read
with ``time.monotonic()`` just before ``os.kill``; each detection time is the survivor's own
timestamp, taken in its process when its event fired (``time.monotonic()`` in ``member.py``'s
event callback, ``clock_gettime(CLOCK_MONOTONIC)`` in the Go peer's event delegate), not when
this process read the line.

Before measuring, both kinds report their effective settings (``config`` on their stdin); the
run stops unless the settings that decide detection agree (probe interval 1 s, probe timeout
500 ms, suspicion multiplier 4, 3 indirect checks, gossip every 200 ms to 3 members), and
prints both side by side, the settings only one side has included.

    python benchmarks/bench_kill.py --sizes 10 50 --kills 10
    python benchmarks/bench_kill.py --sizes 3 --kills 1 --kinds swimcore --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "tests", ROOT / "tests" / "netns"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import nslib  # noqa: E402
from memberlist_peer.harness import BINARY, GoPeer  # noqa: E402

KINDS = ("swimcore", "memberlist")
CLOCK = "CLOCK_MONOTONIC (time.monotonic() here and in member.py; clock_gettime in the Go peer)"

#: The LAN preset's protocol period (both kinds; checked against their reported settings).
PROBE_INTERVAL = 1.0

#: memberlist's DefaultLANConfig as Go peer flags (the peer's own TCP timeout default is 2 s;
#: DefaultLANConfig's is 10 s).
MEMBERLIST_LAN = {
    "probe-interval": 1000,
    "probe-timeout": 500,
    "gossip-interval": 200,
    "push-pull-interval": 30000,
    "suspicion-mult": 4,
    "retransmit-mult": 4,
    "indirect-checks": 3,
    "tcp-timeout": 10000,
}

#: (label, swimcore Config field, memberlist config field, memberlist value -> swimcore unit,
#: must agree).  Times in seconds on both sides.
SETTINGS: tuple[tuple[str, str, str, Callable[[Any], Any], bool], ...] = (
    ("probe interval (s)", "probe_interval", "probe_interval_ms", lambda v: v / 1000, True),
    ("probe timeout (s)", "probe_timeout", "probe_timeout_ms", lambda v: v / 1000, True),
    ("suspicion multiplier", "suspicion_mult", "suspicion_mult", int, True),
    ("suspicion max multiplier", "suspicion_max_mult", "suspicion_max_timeout_mult", int, True),
    ("indirect checks", "indirect_checks", "indirect_checks", int, True),
    ("gossip interval (s)", "gossip_interval", "gossip_interval_ms", lambda v: v / 1000, True),
    ("gossip nodes", "gossip_nodes", "gossip_nodes", int, True),
    ("retransmit multiplier", "retransmit_mult", "retransmit_mult", int, False),
    (
        "push-pull interval (s)",
        "push_pull_interval",
        "push_pull_interval_ms",
        lambda v: v / 1000,
        False,
    ),
    (
        "gossip to the dead (s)",
        "gossip_to_the_dead_time",
        "gossip_to_the_dead_time_ms",
        lambda v: v / 1000,
        False,
    ),
    ("awareness max", "awareness_max", "awareness_max_multiplier", int, False),
    ("TCP fallback ping", "tcp_fallback_probe", "disable_tcp_pings", lambda v: not v, False),
)
#: swimcore settings memberlist has no counterpart for (printed, not compared).
SWIMCORE_ONLY = (
    "wire",
    "lifeguard_awareness",
    "lifeguard_dynamic_suspicion",
    "lifeguard_buddy",
    "verify_before_death",
    "stability_health_gate",
    "stability_gate_score",
    "stability_accusers",
    "stability_damping",
    "stability_suspect_hold",
)


class Member(Protocol):
    name: str

    def live(self) -> set[str]: ...
    def death_time(self, victim: str) -> float | None: ...
    def pid(self) -> int: ...
    def stop(self) -> None: ...
    def counters(self) -> dict[str, int] | None: ...


class SwimcoreMember:
    """A ``member.py`` process (the asyncio driver at the LAN preset)."""

    def __init__(self, process: nslib.MemberProcess) -> None:
        self.process = process
        self.name = process.name

    def live(self) -> set[str]:
        return set(self.process.members())

    def death_time(self, victim: str) -> float | None:
        found = self.process.events_of("MemberFailed", victim)
        return float(found[0]["t"]) if found else None

    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.stop()

    def counters(self) -> dict[str, int] | None:
        return self.process.counters()


class MemberlistMember:
    """A Go peer process (memberlist's DefaultLANConfig)."""

    def __init__(self, peer: GoPeer) -> None:
        self.peer = peer
        self.name = peer.name

    def live(self) -> set[str]:
        return self.peer.member_names()

    def death_time(self, victim: str) -> float | None:
        found = self.peer.seen(lambda e: e.get("event") == "leave" and e.get("name") == victim)
        if not found:
            return None
        event = found[0][1]
        if "t" not in event:
            raise SystemExit(f"{BINARY} has no event timestamps: rebuild it with build.sh")
        if event.get("state") != "dead":
            raise RuntimeError(f"{self.name}: {victim} reported {event.get('state')}, not dead")
        return float(event["t"])

    def pid(self) -> int:
        return self.peer.process.pid

    def counters(self) -> dict[str, int] | None:
        return None  # the Go peer has no counters

    def stop(self) -> None:
        self.peer.stop()


def start_swimcore(n: int, tag: str) -> tuple[list[Member], dict[str, Any]]:
    """N member.py processes joining through the first (started in batches of 10, so the
    interpreters' start-up does not starve the ones already running)."""
    base = ["--bind", "127.0.0.1:0", "--preset", "lan"]
    seed = nslib.MemberProcess(base, label=f"{tag}-0")
    processes = [seed]
    try:
        for start in range(1, n, 10):
            batch = [
                nslib.MemberProcess(
                    [*base, "--seeds", seed.address], label=f"{tag}-{i}", wait=False
                )
                for i in range(start, min(n, start + 10))
            ]
            processes += batch
            for process in batch:
                process.wait_ready()
        config = dict(seed.ask("config", "config"))
    except BaseException:
        for process in processes:
            process.stop()
        raise
    return [SwimcoreMember(p) for p in processes], config


def start_memberlist(n: int, tag: str) -> tuple[list[Member], dict[str, Any]]:
    """N Go peers joining through the first."""
    seed = GoPeer(f"{tag}-0", settings=MEMBERLIST_LAN)
    peers = [seed]
    try:
        peers += [
            GoPeer(f"{tag}-{i}", join=seed.address, settings=MEMBERLIST_LAN) for i in range(1, n)
        ]
        try:
            config = seed.ask("config")
        except TimeoutError:
            raise SystemExit(f"{BINARY} has no config command: rebuild it with build.sh") from None
    except BaseException:
        for peer in peers:
            peer.stop()
        raise
    return [MemberlistMember(p) for p in peers], config


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, step: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - start


@contextlib.contextmanager
def cluster(kind: str, n: int, tag: str) -> Iterator[tuple[list[Member], dict[str, Any]]]:
    members, config = (start_swimcore if kind == "swimcore" else start_memberlist)(n, tag)
    try:
        yield members, config
    finally:
        for member in members:  # SIGKILL all first: stopping them one by one lets the others
            with contextlib.suppress(ProcessLookupError):  # notice and work meanwhile
                os.kill(member.pid(), signal.SIGKILL)
        for member in members:
            member.stop()


#: swimcore counters summed over the survivors from just before the kill to the end of the
#: detection, to see where the time went (probes of the victim withheld by the health gate,
#: confirmations that shorten the suspicion, false suspicions of live members).
WATCHED = (
    "probes",
    "probes_failed",
    "accusations_withheld",
    "suspicions",
    "suspicion_confirmations",
    "verifications",
    "suspicions_refuted",
)


def diagnose(before: list[dict[str, int] | None], after: list[dict[str, int] | None]) -> Any:
    """Counter deltas over the survivors, and the Lifeguard health scores above 0 at the kill
    (``None`` for a kind without counters)."""
    if any(c is None for c in before + after):
        return None
    pairs = [(b or {}, a or {}) for b, a in zip(before, after, strict=True)]
    deltas = {key: sum(a.get(key, 0) - b.get(key, 0) for b, a in pairs) for key in WATCHED}
    return {
        **deltas,
        "unhealthy_at_kill": sorted(b.get("health", 0) for b, _ in pairs if b.get("health", 0) > 0),
    }


def one_kill(
    kind: str, n: int, tag: str, rng: random.Random, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One fresh cluster, one kill: the run's record and the kind's effective settings."""
    with cluster(kind, n, tag) as (members, config):
        names = {m.name for m in members}

        def converged() -> bool:
            return all(m.live() == names for m in members)

        formed = wait_until(converged, args.form_timeout, f"{kind} x{n} converging", 0.5)
        time.sleep(args.settle)
        wait_until(converged, args.form_timeout, f"{kind} x{n} converged again", 0.5)
        victim = members[rng.randrange(1, n)]
        survivors = [m for m in members if m is not victim]
        before = [m.counters() for m in survivors]
        # The kill at a random phase of the protocol period: without this the memberlist
        # clusters, whose formation takes the same time every turn, were killed at nearly the
        # same point of their probe ticks each time (detections bunched 1 s apart).
        time.sleep(rng.uniform(0.0, PROBE_INTERVAL))
        killed_at = time.monotonic()
        os.kill(victim.pid(), signal.SIGKILL)

        def detections() -> dict[str, float | None]:
            return {m.name: m.death_time(victim.name) for m in survivors}

        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda: all(t is not None for t in detections().values()),
                args.timeout,
                "detection",
                0.2,
            )
        seen = detections()
        after = [m.counters() for m in survivors]
        return {
            "size": n,
            "kind": kind,
            "victim": victim.name,
            "formed_s": round(formed, 2),
            "detection_s": {
                name: (None if t is None else round(t - killed_at, 4)) for name, t in seen.items()
            },
            "missed": sorted(name for name, t in seen.items() if t is None),
            "counters": diagnose(before, after),
        }, config


def compare_settings(configs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the settings table; stops the run when a setting that must agree does not."""
    swim, go = configs.get("swimcore"), configs.get("memberlist")
    rows = []
    for label, ours, theirs, convert, must in SETTINGS:
        row = {
            "setting": label,
            "swimcore": None if swim is None else swim[ours],
            "memberlist": None if go is None else convert(go[theirs]),
        }
        if must and swim is not None and go is not None and row["swimcore"] != row["memberlist"]:
            raise SystemExit(
                f"not comparable: {label} is {row['swimcore']} against {row['memberlist']}"
            )
        rows.append(row)
    if swim is not None:
        rows += [
            {"setting": key, "swimcore": swim[key], "memberlist": None} for key in SWIMCORE_ONLY
        ]
    return rows


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile, linear between the closest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarise(runs: list[dict[str, Any]], sizes: list[int], kinds: list[str]) -> dict[str, Any]:
    rows, ratios = [], []
    for n in sizes:
        medians: dict[str, float] = {}
        for kind in kinds:
            mine = [r for r in runs if r["size"] == n and r["kind"] == kind]
            times = [t for r in mine for t in r["detection_s"].values() if t is not None]
            firsts = [
                min(t for t in r["detection_s"].values() if t is not None)
                for r in mine
                if len(r["missed"]) < len(r["detection_s"])
            ]
            if not times:
                continue
            medians[kind] = statistics.median(times)
            rows.append(
                {
                    "size": n,
                    "kind": kind,
                    "kills": len(mine),
                    "detections": len(times),
                    "missed": sum(len(r["missed"]) for r in mine),
                    "median_s": round(medians[kind], 3),
                    "p90_s": round(percentile(times, 0.9), 3),
                    "max_s": round(max(times), 3),
                    "first_median_s": round(statistics.median(firsts), 3),
                }
            )
        if len(medians) == 2:
            ratios.append(
                {
                    "size": n,
                    "swimcore_median_s": round(medians["swimcore"], 3),
                    "memberlist_median_s": round(medians["memberlist"], 3),
                    "ratio": round(medians["swimcore"] / medians["memberlist"], 3),
                }
            )
    return {"rows": rows, "ratios": ratios}


def cell(value: Any) -> str:
    return "-" if value is None else str(value)


def markdown(report: dict[str, Any]) -> str:
    host = report["host"]
    lines = [
        f"`{report['command']}`",
        "",
        f"nproc {host['nproc']}, Python {host['python']}, load before {host['load_before']}, "
        f"after {host['load_after']}; clock {report['clock']}; {report['wall_s']} s wall",
        "",
        "| setting | swimcore | memberlist |",
        "|---|---|---|",
        *(
            f"| {r['setting']} | {cell(r['swimcore'])} | {cell(r['memberlist'])} |"
            for r in report["settings"]
        ),
        "",
        "| size | kind | kills | detections | missed | median (s) | p90 (s) | max (s) "
        "| first, median (s) |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['size']} | {r['kind']} | {r['kills']} | {r['detections']} | {r['missed']} "
            f"| {r['median_s']:.2f} | {r['p90_s']:.2f} | {r['max_s']:.2f} "
            f"| {r['first_median_s']:.2f} |"
            for r in report["summary"]["rows"]
        ),
    ]
    if report["summary"]["ratios"]:
        lines += ["", "| size | swimcore / memberlist, median |", "|---|---|"]
        lines += [
            f"| {r['size']} | {r['ratio']:.2f} ({r['swimcore_median_s']:.2f} s / "
            f"{r['memberlist_median_s']:.2f} s) |"
            for r in report["summary"]["ratios"]
        ]
    watched = [r for r in report["runs"] if r["counters"] is not None]
    if watched:
        lines += [
            "",
            "swimcore per kill (counters summed over the survivors, kill to detection):",
            "",
            "| size | first (s) | median (s) | health > 0 at the kill | probes failed "
            "| withheld | suspicions | confirmations |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in watched:
            times = [t for t in r["detection_s"].values() if t is not None]
            c = r["counters"]
            lines.append(
                f"| {r['size']} | {min(times):.2f} | {statistics.median(times):.2f} "
                f"| {c['unhealthy_at_kill'] or '-'} | {c['probes_failed']} "
                f"| {c['accusations_withheld']} | {c['suspicions']} "
                f"| {c['suspicion_confirmations']} |"
            )
    return "\n".join(lines)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--kills", type=int, default=10, help="kills per size and kind")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds between convergence and the kill"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds after the kill before a survivor counts as having missed it",
    )
    parser.add_argument("--form-timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1, help="picks the victims")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--save", type=Path, help="also write the JSON report to this file")
    args = parser.parse_args(argv)
    if any(n < 3 for n in args.sizes):
        parser.error(
            "sizes must be at least 3 (a seed, a victim and a survivor that is not the seed)"
        )
    if "memberlist" in args.kinds and not BINARY.exists():
        raise SystemExit(
            f"no memberlist peer at {BINARY}: build it with "
            "tests/memberlist_peer/build.sh, or pass --kinds swimcore"
        )
    rng = random.Random(args.seed)
    started, load_before = time.monotonic(), load()
    runs: list[dict[str, Any]] = []
    configs: dict[str, dict[str, Any]] = {}
    for n in args.sizes:
        for k in range(args.kills):
            for kind in args.kinds:
                run, config = one_kill(kind, n, f"{kind[:2]}{n}k{k}", rng, args)
                if kind not in configs:
                    configs[kind] = config
                    compare_settings(configs)  # stop at once if the kinds are not comparable
                runs.append(run)
                times = [t for t in run["detection_s"].values() if t is not None]
                print(
                    f"{kind} x{n} kill {k + 1}/{args.kills}: median "
                    f"{statistics.median(times) if times else float('nan'):.2f} s, "
                    f"missed {len(run['missed'])}, load {load()}",
                    file=sys.stderr,
                    flush=True,
                )
    report = {
        "command": shlex.join(["python", "benchmarks/bench_kill.py", *(argv or sys.argv[1:])]),
        "clock": CLOCK,
        "host": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": load_before,
            "load_after": load(),
        },
        "wall_s": round(time.monotonic() - started, 1),
        "settings": compare_settings(configs),
        "configs": configs,
        "runs": runs,
        "summary": summarise(runs, args.sizes, args.kinds),
    }
    if args.save is not None:
        args.save.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1) if args.json else markdown(report))


if __name__ == "__main__":
    main()
