"""The zgroup sample, as a program of your own: ``GROUP MEMBER_ADDR [JOIN_ADDR]``.

This is what ``swimcore run`` does, cut down to the library calls, so it can be copied into an
application.  With JOIN_ADDR the member joins through it; without it, it looks up the join
address in the HTTP key-value store named by $SWIMCORE_STORE (a URL template such as
``http://127.0.0.1:8000/kv/{prefix}/{group}``) and, while it is the leader, writes its own
address there every 10 protocol periods.  It logs membership changes and prints the member
list every 5 seconds until Ctrl-C, then leaves the group gracefully.

    python examples/sample_node.py group1 127.0.0.1:8080 127.0.0.1:8080   # first, alone
    python examples/sample_node.py group1 127.0.0.1:8081 127.0.0.1:8080   # joins the first
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

from swimcore import Config, MemberFailed, MemberJoined, MemberLeft, MemberSuspected
from swimcore.transports.aio import AsyncioMember
from swimcore.transports.discovery import HttpStore


async def main(group: str, member_addr: str, join_addr: str | None) -> None:
    config = Config.lan(label=group, join_address_every=10)
    store = None
    if join_addr is None:
        store = HttpStore(os.environ["SWIMCORE_STORE"], group=group)
    seeds = [join_addr] if join_addr and join_addr != member_addr else []

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async with AsyncioMember(config, bind=member_addr, seeds=seeds, discovery=store) as member:
        print(f"{member.name}: running in group {group!r}", flush=True)

        def log(event: object) -> None:
            if isinstance(event, MemberJoined | MemberSuspected | MemberFailed | MemberLeft):
                what = type(event).__name__.removeprefix("Member").lower()
                print(f"{member.name}: {event.member.name} {what}", flush=True)

        member.on_event(log)
        while not stop.is_set():
            names = [m.name for m in member.members()]
            print(f"{member.name}: {len(names)} members: {', '.join(names)}", flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5.0)
    print(f"{member.name}: left the group", flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else None))
