"""A member in a process of its own, for the stall and CPU tests of the thread driver.

Started by ``tests/threaded_support.py`` with ``--driver`` (``thread-asyncio``: a
:class:`BridgedMember` in an asyncio program; ``thread-trio``: the same under trio;
``asyncio``: the plain :class:`AsyncioMember`; ``thread``: a :class:`ThreadMember` in a program
with no event loop), ``--seed`` (join address) and ``--config`` (JSON fields for
``Config.local``, or ``{"preset": "lan"}`` for the default LAN preset).

It prints one JSON object per line: first ``{"name", "address"}``, then one answer per command
read from stdin:

* ``members``: ``{"members": n}``, the live members it sees;
* ``stall S``: blocks the application's event loop with a busy loop for S seconds (in the
  ``thread`` driver, the main thread), then ``{"stalled": seconds}``;
* ``spin S``: a pure-Python thread holds the GIL as much as it can for S seconds while the
  application waits, then ``{"spun": seconds, "loops": n}``;
* ``stop``: leaves, closes and answers ``{"counters", "incarnation", "threads"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from swimcore import Config


def say(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def busy(seconds: float) -> float:
    """Spin in pure Python for ``seconds``; returns the time it really took."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        pass
    return time.monotonic() - start


def spin_thread(seconds: float) -> dict[str, Any]:
    """A pure-Python thread counting for ``seconds`` (it holds the GIL whenever it can)."""
    loops = [0]

    def spin() -> None:
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            n += 1
        loops[0] = n

    thread = threading.Thread(target=spin, name="cpu-hog")
    start = time.monotonic()
    thread.start()
    thread.join()
    return {"spun": time.monotonic() - start, "loops": loops[0]}


def config_from(text: str) -> Config:
    fields: dict[str, Any] = json.loads(text)
    preset = fields.pop("preset", "local")
    return Config.preset(preset, **fields)


def answer(line: str, member: Any, stall: Callable[[float], float]) -> bool:
    """Carry out one command; False once the subject should stop."""
    command, _, argument = line.strip().partition(" ")
    if command == "members":
        say({"members": len(member.members())})
    elif command == "stall":
        say({"stalled": stall(float(argument))})
    elif command == "spin":
        say(spin_thread(float(argument)))
    else:
        return False
    return True


def report(member: Any) -> dict[str, Any]:
    return {
        "counters": member.counters(),
        "incarnation": member.incarnation,
        "threads": sorted(t.name for t in threading.enumerate()),
    }


def run_thread(config: Config, seed: str) -> None:
    from swimcore.transports.thread.member import ThreadMember  # noqa: PLC0415

    with ThreadMember(config, name="subject", seeds=[seed]) as member:
        say({"name": member.name, "address": str(member.address)})
        while answer(sys.stdin.readline(), member, busy):
            pass
        final = report(member)
    final["threads"] = sorted(t.name for t in threading.enumerate())
    say(final)


async def serve_async(member: Any, readline: Callable[[], Awaitable[str]]) -> dict[str, Any]:
    say({"name": member.name, "address": str(member.address)})
    while answer(await readline(), member, busy):
        pass
    return report(member)


def run_asyncio(config: Config, seed: str, bridged: bool) -> None:
    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()

        async def readline() -> str:
            return await loop.run_in_executor(None, sys.stdin.readline)

        if bridged:
            from swimcore.transports.thread.bridge import BridgedMember  # noqa: PLC0415

            async with BridgedMember(config, name="subject", seeds=[seed]) as member:
                return await serve_async(member, readline)
        from swimcore.transports.asyncio import AsyncioMember  # noqa: PLC0415

        async with AsyncioMember(config, name="subject", seeds=[seed]) as plain:
            return await serve_async(plain, readline)

    final = asyncio.run(main())
    final["threads"] = sorted(t.name for t in threading.enumerate())
    say(final)


def run_trio(config: Config, seed: str) -> None:
    import trio  # noqa: PLC0415

    from swimcore.transports.thread.bridge import BridgedMember  # noqa: PLC0415

    async def main() -> dict[str, Any]:
        async def readline() -> str:
            return await trio.to_thread.run_sync(sys.stdin.readline)

        async with BridgedMember(config, name="subject", seeds=[seed]) as member:
            return await serve_async(member, readline)

    say(trio.run(main))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--driver", required=True)
    parser.add_argument("--seed", required=True)
    parser.add_argument("--config", default="{}")
    args = parser.parse_args()
    config = config_from(args.config)
    if args.driver == "thread":
        run_thread(config, args.seed)
    elif args.driver == "thread-asyncio":
        run_asyncio(config, args.seed, bridged=True)
    elif args.driver == "asyncio":
        run_asyncio(config, args.seed, bridged=False)
    elif args.driver == "thread-trio":
        run_trio(config, args.seed)
    else:
        raise SystemExit(f"unknown driver {args.driver!r}")


if __name__ == "__main__":
    main()
