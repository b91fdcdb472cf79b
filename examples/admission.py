"""Admit only members that carry a metadata tag (memberlist's alive delegate).

Each database member runs with ``admit=``: a rule that sees a member's name, address and
metadata before the member first enters its table.  Here it requires the tag ``role=db``: the
web member that joins through the first database member is never admitted there nor spread
by it, so the database members' views hold the database members only.  The web member still
sees them (its own rule admits everyone) and they answer its probes: admission shapes a view,
it is not access control (a keyring is).  Runs on the
deterministic simulator (virtual time, a second of real time).

    python examples/admission.py
"""

from __future__ import annotations

from swimcore import Address, Config, MemberInfo, Node
from swimcore.transports.sim import SimNetwork


def requires_db_tag(member: MemberInfo) -> bool:
    """The admission rule: the metadata, comma-separated ``key=value``, holds ``role=db``."""
    return b"role=db" in member.meta.split(b",")


def main() -> None:
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
    for db in dbs:
        names = ", ".join(sorted(m.name for m in db.members()))
        print(f"{db.name} admits: {names} (refused {db.counters().get('dropped.not_admitted', 0)})")
    print(f"web-0 sees: {', '.join(sorted(m.name for m in web.members()))}")
    if all("web-0" not in {m.name for m in db.members()} for db in dbs):
        print("web-0 was refused by every db member")


if __name__ == "__main__":
    main()
