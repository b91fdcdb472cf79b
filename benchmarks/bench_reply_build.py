"""How long building a push-pull reply holds a node: the longest step against the whole.

A node whose table holds ``--rows`` members answers a push-pull (a request of no rows).  Built
at once (``handle_exchange``, the only way before :class:`swimcore.Outgoing`), the reply is
one call of time linear in the table; built a step at a time (``answer_exchange``, what every
driver does now), each step encodes at most ``ENCODE_SLICE`` rows.  For each wire profile the
table shows the whole build and the longest step, in wall and CPU time (``time.thread_time``:
what preemption on a loaded machine does not inflate), best of ``--repeat``.

``--baseline PATH`` times the whole build in a subprocess importing swimcore from ``PATH`` (a
source tree of an older commit: ``git archive COMMIT swimcore transports``)::

    .venv/bin/python benchmarks/bench_reply_build.py --rows 60000 --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time

from swimcore import Address, Config, Node
from swimcore.messages import PushPull
from swimcore.wire.loading import for_node

WIRES = ("native", "memberlist", "memberlist+lzw")


def _node(wire: str, rows: int) -> tuple[Node, bytes]:
    config = Config.lan(wire=wire)
    node = Node(config, Address("10.255.255.1", 7946), seed=1)
    roster = [
        (f"member-{i:07d}", Address(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 7946))
        for i in range(rows)
    ]
    node.start(0.0, roster)
    node.set_metadata(b"m" * 100, 0.0)
    peer = for_node(config, "peer", Address("10.255.255.2", 7946), None, random.Random(0))
    return node, peer.encode_push_pull(PushPull(config.label, False, ()))


def whole(wire: str, rows: int, repeat: int) -> dict[str, float]:
    node, request = _node(wire, rows)
    best = (float("inf"), float("inf"))
    for i in range(repeat):
        t, cpu = time.perf_counter(), time.thread_time()
        node.handle_exchange(request, 1.0 + i)
        best = min(best, (time.perf_counter() - t, time.thread_time() - cpu))
    return {"whole_ms": 1000 * best[0], "whole_cpu_ms": 1000 * best[1]}


def stepped(wire: str, rows: int, repeat: int) -> dict[str, float]:
    node, request = _node(wire, rows)
    best = (float("inf"), float("inf"), 0)
    for i in range(repeat):
        reply, _ = node.answer_exchange(request, 1.0 + i)
        assert reply is not None
        longest = longest_cpu = 0.0
        steps = 0
        done = False
        while not done:
            t, cpu = time.perf_counter(), time.thread_time()
            done = reply.step()
            longest = max(longest, time.perf_counter() - t)
            longest_cpu = max(longest_cpu, time.thread_time() - cpu)
            steps += 1
        best = min(best, (longest, longest_cpu, steps))
    return {"step_ms": 1000 * best[0], "step_cpu_ms": 1000 * best[1], "steps": best[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="source tree of the version to compare with")
    parser.add_argument("--json", help=argparse.SUPPRESS)  # one measurement, in a subprocess
    args = parser.parse_args()
    if args.json:
        print(json.dumps(whole(args.json, args.rows, args.repeat)))
        return
    print(
        f"# {args.rows} rows; nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(
        "| wire | baseline: whole | whole | whole (CPU) | longest step | longest step (CPU)"
        " | steps |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for wire in WIRES:
        base = "-"
        if args.baseline:
            env = {**os.environ, "PYTHONPATH": args.baseline}
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--rows",
                    str(args.rows),
                    "--repeat",
                    str(args.repeat),
                    "--json",
                    wire,
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            base = f"{json.loads(done.stdout)['whole_ms']:.0f} ms"
        w, s = whole(wire, args.rows, args.repeat), stepped(wire, args.rows, args.repeat)
        print(
            f"| {wire} | {base} | {w['whole_ms']:.0f} ms | {w['whole_cpu_ms']:.0f} ms "
            f"| {s['step_ms']:.1f} ms | {s['step_cpu_ms']:.1f} ms | {s['steps']:.0f} |"
        )


if __name__ == "__main__":
    main()
