"""A member that serves its counters to Prometheus over HTTP (``/metrics``).

It runs one member on the asyncio driver and serves every counter and gauge of ``counters()``
(the node's and the driver's: messages and bytes by type and direction, drops by reason,
probes, suspicions, health, members by state, exchanges and their durations) in the
Prometheus text format, with :func:`swimcore.transports.prometheus.serve` (the ``metrics`` extra:
``pip install 'swimcore[metrics]'``).  Without ``--join`` it also starts ``--peers`` local
members that join it, so the numbers move out of the box.

    python examples/prometheus_metrics.py                        # then: curl 127.0.0.1:9464/metrics
    python examples/prometheus_metrics.py --bind 127.0.0.1:7946 --join 127.0.0.1:7947 --peers 0

It prints ``metrics at http://ADDR:PORT/metrics`` once serving and stops on SIGINT/SIGTERM (or
after ``--duration`` seconds), leaving the group first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from prometheus_client import CollectorRegistry

from swimcore import Config
from swimcore.transports import AsyncioMember
from swimcore.transports.prometheus import serve


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:0", help="IP:PORT of the member")
    parser.add_argument("--join", action="append", default=[], help="IP:PORT to join through")
    parser.add_argument("--peers", type=int, default=2, help="local members joining it")
    parser.add_argument("--label", default="metrics-demo", help="cluster label")
    parser.add_argument("--metrics-addr", default="127.0.0.1", help="address of /metrics")
    parser.add_argument("--metrics-port", type=int, default=9464, help="port of /metrics")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after N s (0: never)")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    # A short protocol period, so that a scrape every few seconds sees the counters move.
    config = Config.local(label=args.label, probe_interval=0.5, push_pull_interval=2.0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        member = await stack.enter_async_context(
            AsyncioMember(config, args.bind, name="main", seeds=args.join)
        )
        if not args.join:
            for number in range(args.peers):
                await stack.enter_async_context(
                    AsyncioMember(config, name=f"peer-{number}", seeds=[member.address])
                )
        # Its own registry: the process-wide default one also exports Python's own metrics.
        registry = CollectorRegistry()
        serve(member.counters, member.name, args.metrics_port, args.metrics_addr, registry)
        print(f"metrics at http://{args.metrics_addr}:{args.metrics_port}/metrics", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.duration or None)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
