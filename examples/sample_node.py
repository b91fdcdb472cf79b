"""The zgroup sample as a program of your own, with the same options as ``swimcore run``.

The command line is read by ``swimcore run``'s own parser (``swimcore.cli.run.make_parser``)
and turned into a Config and the member's arguments by ``member_settings``, so every option of
``swimcore run`` works here and is checked the same way.  What follows is the part to copy
into an application: a member on the asyncio driver (or the thread driver under asyncio with
``--driver thread``), its events printed, the member list every ``--print-every`` seconds,
and a graceful leave on Ctrl-C or SIGTERM.  ``--driver anyio|trio`` hands over to
``swimcore run`` itself (its anyio loop is in ``swimcore/cli/run.py``).

    python examples/sample_node.py group1 127.0.0.1:8080 127.0.0.1:8080   # first, alone
    python examples/sample_node.py group1 127.0.0.1:8081 127.0.0.1:8080   # joins the first
    python examples/sample_node.py group1 127.0.0.1:8082 --store file:/tmp/group1.join
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time

from swimcore import (
    AddressError,
    Config,
    ConfigError,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberSuspected,
)
from swimcore.cli.run import make_parser, member_settings, run
from swimcore.transports import AsyncioMember, BridgedMember, MemberOptions


async def serve(config: Config, options: MemberOptions, args: argparse.Namespace) -> None:
    """One member until a signal or ``--duration``: print its events and its member list."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    member_class = BridgedMember if args.driver == "thread" else AsyncioMember
    async with member_class(config, options=options) as member:
        print(f"{member.name}: running in group {config.label!r}", flush=True)

        def log(event: object) -> None:
            if isinstance(event, MemberJoined | MemberSuspected | MemberFailed | MemberLeft):
                what = type(event).__name__.removeprefix("Member").lower()
                print(f"{member.name}: {event.member.name} {what}", flush=True)

        member.on_event(log)
        ends = time.monotonic() + args.duration if args.duration > 0 else float("inf")
        while not stop.is_set() and time.monotonic() < ends:
            names = [m.name for m in member.members()]
            print(f"{member.name}: {len(names)} members: {', '.join(names)}", flush=True)
            with contextlib.suppress(TimeoutError):
                wait = min(args.print_every, max(0.0, ends - time.monotonic()))
                await asyncio.wait_for(stop.wait(), timeout=wait)
    print(f"{member.name}: {'stopped' if args.no_leave else 'left the group'}", flush=True)


def main() -> int:
    args = make_parser("sample_node.py").parse_intermixed_args()
    if args.driver in ("anyio", "trio"):
        return run(args)
    logging.basicConfig(level=args.log_level)
    try:
        config, options = member_settings(args)
        asyncio.run(serve(config, options, args))
    except (AddressError, ConfigError, ValueError) as exc:
        print(f"sample_node.py: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sample_node.py: cannot bind {args.member_addr}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
