"""Admit only members that carry a metadata tag (memberlist's alive delegate).

Each database member runs with ``admit=``: a rule that sees a member's name, address and
metadata before the member first enters its table.  Here it requires the tag ``role=db``: the
web member that joins through the first database member is never admitted there nor spread
by it, so the database members' views hold the database members only.  The web member still
sees them (its own rule admits everyone) and they answer its probes: admission shapes a view,
it is not access control (a keyring is).  Runs on the deterministic simulator (virtual time,
a second of real time), or on real members on loopback with any driver, the rule given as an
option like any other (``AsyncioMember(config, admit=requires_db_tag, ...)``).

    python examples/admission.py                    # the simulator
    python examples/admission.py --driver asyncio   # or anyio, trio, thread (loopback)
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Sequence
from typing import Any, Protocol

import anyio

from swimcore import Address, Config, MemberInfo, Node
from swimcore.transports import AnyioMember, AsyncioMember, BridgedMember
from swimcore.transports.sim import SimNetwork


class _Member(Protocol):
    """What the report below reads of a member: a node or a driver's member."""

    @property
    def name(self) -> str: ...

    def members(self) -> list[MemberInfo]: ...

    def counters(self) -> dict[str, int]: ...


def requires_db_tag(member: MemberInfo) -> bool:
    """The admission rule: the metadata, comma-separated ``key=value``, holds ``role=db``."""
    return b"role=db" in member.meta.split(b",")


def report(dbs: Sequence[_Member], web: _Member) -> None:
    for db in dbs:
        names = ", ".join(sorted(m.name for m in db.members()))
        print(f"{db.name} admits: {names} (refused {db.counters().get('dropped.not_admitted', 0)})")
    print(f"web-0 sees: {', '.join(sorted(m.name for m in web.members()))}")
    if all("web-0" not in {m.name for m in db.members()} for db in dbs):
        print("web-0 was refused by every db member")


async def live(driver: str) -> None:
    """The same group on real sockets on loopback, with ``driver``."""
    kind: Any = {"asyncio": AsyncioMember, "thread": BridgedMember}.get(driver, AnyioMember)
    config = Config.local(label="admission")
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            kind(config, name="db-0", meta=b"role=db", admit=requires_db_tag)
        )
        dbs = [first]
        for i in (1, 2):
            dbs.append(await stack.enter_async_context(kind(
                config, name=f"db-{i}", meta=b"role=db", seeds=[first.address],
                admit=requires_db_tag,
            )))  # fmt: skip
        web = await stack.enter_async_context(
            kind(config, name="web-0", meta=b"role=web", seeds=[first.address])
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            all(len(db.members()) == 3 for db in dbs)
            and len(web.members()) == 4
            and first.counters().get("dropped.not_admitted", 0) > 0
        ):
            await anyio.sleep(0.05)
        await anyio.sleep(1.0)  # a few more periods of gossip about web-0
        report(dbs, web)


def simulated() -> None:
    net = SimNetwork(seed=1)
    dbs = [
        Node(Config.lan(), Address("10.0.0.1", 7946 + i), name=f"db-{i}", meta=b"role=db",
             seed=i, admit=requires_db_tag)
        for i in range(3)
    ]  # fmt: skip
    web = Node(Config.lan(), Address("10.0.0.2", 7946), name="web-0", meta=b"role=web", seed=9)
    for node in [*dbs, web]:
        net.add(node)
    net.start(dbs[0])
    for node in [*dbs[1:], web]:
        net.join(node, [dbs[0].address])
    net.run_for(30.0)
    report(dbs, web)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=("asyncio", "anyio", "trio", "thread"))
    driver = parser.parse_args().driver
    if driver is None:
        simulated()
    else:
        anyio.run(live, driver, backend="trio" if driver == "trio" else "asyncio")


if __name__ == "__main__":
    main()
