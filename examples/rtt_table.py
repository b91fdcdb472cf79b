"""A latency table from the failure detector's own probes (memberlist's ping delegate).

With ``Config(report_round_trips=True)`` every member emits a :class:`~swimcore.RoundTrip`
event each time one of its direct probes is answered.  This program starts a few members on
loopback, keeps the last round trip each member measured to each other member, and prints the
table once they have all known each other for ``--seconds``: what an application would use to
prefer near members (send to the lowest RTT first).

    python examples/rtt_table.py                  # asyncio driver
    python examples/rtt_table.py --driver thread  # the protocol on its own thread
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from swimcore import Config, RoundTrip
from swimcore.transports import AsyncioMember, BridgedMember

CONFIG = Config.local(label="rtt", probe_interval=0.2, probe_timeout=0.1, report_round_trips=True)


def render(names: list[str], rtts: dict[tuple[str, str], float]) -> str:
    """The table: one row per prober, one column per probed member, milliseconds."""
    width = max(8, *(len(name) for name in names)) + 2
    lines = ["from \\ to".ljust(width) + "".join(name.rjust(width) for name in names)]
    for source in names:
        cells = []
        for target in names:
            rtt = rtts.get((source, target))
            cells.append(("-" if rtt is None else f"{rtt * 1000:.2f}").rjust(width))
        lines.append(source.ljust(width) + "".join(cells))
    return "\n".join(lines)


async def main(driver: str, members: int, seconds: float) -> dict[tuple[str, str], float]:
    kind: Any = BridgedMember if driver == "thread" else AsyncioMember
    rtts: dict[tuple[str, str], float] = {}
    started: list[Any] = []
    try:
        for i in range(members):
            seeds = [started[0].address] if started else []
            member = kind(CONFIG, "127.0.0.1:0", name=f"m{i}", seeds=seeds)
            await member.__aenter__()
            started.append(member)

            def record(event: object, prober: str = member.name) -> None:
                if isinstance(event, RoundTrip):
                    rtts[(prober, event.name)] = event.rtt

            member.on_event(record)
        # The window starts once every member knows every other (at most 30 s of joining).
        loop = asyncio.get_running_loop()
        joined_by = loop.time() + 30
        while loop.time() < joined_by and any(len(m.members()) < members for m in started):
            await asyncio.sleep(0.05)
        await asyncio.sleep(seconds)
    finally:
        for member in reversed(started):
            await member.__aexit__(None, None, None)
    print(render([m.name for m in started], rtts), flush=True)
    return rtts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=("asyncio", "thread"), default="asyncio")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    options = parser.parse_args()
    asyncio.run(main(options.driver, options.members, options.seconds))
