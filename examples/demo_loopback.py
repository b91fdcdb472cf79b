"""Real members on loopback: they converge, one crashes and is detected, one leaves gracefully.

Six members run in this process on 127.0.0.1, each with its own UDP and TCP sockets, joining
through the first.  The demo prints the member lists converging, then stops one member without
a word (a crash) and shows every survivor declare it failed, then makes another leave and shows
every survivor record it as left (not failed).  It takes a few seconds.

    python examples/demo_loopback.py            # asyncio driver
    python examples/demo_loopback.py --trio     # anyio driver on trio
    python examples/demo_loopback.py --anyio    # anyio driver on asyncio
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import anyio

from swimcore import Config, Event, MemberFailed, MemberLeft, MemberSuspected, State
from swimcore.transports import AnyioMember, AsyncioMember

MEMBERS = 6
#: memberlist's local preset with a 0.5 s protocol period, so the story fits in seconds.
CONFIG = Config.local(
    label="demo", probe_interval=0.5, probe_timeout=0.2, retransmit_mult=4, push_pull_interval=2.0
)

Member = AsyncioMember | AnyioMember


class Clock:
    def __init__(self) -> None:
        self.start = anyio.current_time()

    def __call__(self) -> str:
        return f"t={anyio.current_time() - self.start:5.2f}s"


def table(members: list[Member]) -> str:
    lines = []
    for m in members:
        names = ", ".join(
            f"{x.name}{'' if x.state is State.ALIVE else '(suspect)'}" for x in m.members()
        )
        lines.append(f"    {m.name:<7} sees {len(m.members())}: {names}")
    return "\n".join(lines)


async def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.05)


async def main(kind: str) -> None:
    build: Callable[..., Member] = AsyncioMember if kind == "asyncio" else AnyioMember
    now = Clock()
    print(f"{now()}  starting {MEMBERS} members on 127.0.0.1 ({kind} driver)")
    async with contextlib.AsyncExitStack() as stack:
        first: Member = await stack.enter_async_context(build(CONFIG, name="node-0", seed=0))
        members = [first]
        for i in range(1, MEMBERS):
            member = build(CONFIG, name=f"node-{i}", seeds=[first.address], seed=i)
            members.append(await stack.enter_async_context(member))
        print("         " + ", ".join(f"{m.name}={m.address}" for m in members))

        # Convergence: print the list sizes until every member sees everyone.
        last = None
        while True:
            sizes = [len(m.members()) for m in members]
            if sizes != last:
                print(f"{now()}  member list sizes: {sizes}")
                last = sizes
            if all(size == MEMBERS for size in sizes):
                break
            await anyio.sleep(0.02)
        print(f"{now()}  converged:\n{table(members)}")

        story: list[str] = []

        def narrate(member: Member) -> Callable[[Event], Any]:
            def hear(event: Event) -> None:
                if isinstance(event, MemberSuspected | MemberFailed | MemberLeft):
                    kind = type(event).__name__.removeprefix("Member").lower()
                    story.append(f"{now()}  {member.name} says {event.member.name}: {kind}")

            return hear

        for m in members:
            m.on_event(narrate(m))

        async def tell() -> None:
            while story:
                print(story.pop(0))

        # A crash: the member stops without leaving; the others must find out by themselves.
        victim = members[3]
        print(f"{now()}  crashing {victim.name} (sockets closed, no goodbye)")
        await victim.close(leave=False)
        survivors = [m for m in members if m is not victim]
        await wait_until(lambda: all(_state(m, victim.name) is State.DEAD for m in survivors))
        await tell()
        print(f"{now()}  every survivor declared {victim.name} failed:\n{table(survivors)}")

        # A graceful leave: the member announces it, and nobody has to suspect it.
        leaver = members[5]
        print(f"{now()}  {leaver.name} leaves gracefully")
        await leaver.close()
        survivors = [m for m in survivors if m is not leaver]
        await wait_until(lambda: all(_state(m, leaver.name) is State.LEFT for m in survivors))
        await anyio.sleep(0.1)
        await tell()
        verdicts = {m.name: _state(m, leaver.name) for m in survivors}
        print(
            f"{now()}  every survivor records {leaver.name} as left (not failed): "
            + ", ".join(f"{n}={s.name.lower() if s else '?'}" for n, s in verdicts.items())
        )
        print(f"{now()}  final member lists:\n{table(survivors)}")
        print(f"{now()}  stopping: the rest leave the group")
    print(f"{now()}  done")


def _state(member: Member, name: str) -> State | None:
    info = member.member(name)
    return None if info is None else info.state


if __name__ == "__main__":
    if "--trio" in sys.argv:
        anyio.run(main, "anyio/trio", backend="trio")
    elif "--anyio" in sys.argv:
        anyio.run(main, "anyio/asyncio", backend="asyncio")
    else:
        anyio.run(main, "asyncio", backend="asyncio")
