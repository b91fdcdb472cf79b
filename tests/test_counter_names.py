"""The counter catalog (:mod:`swimcore.counter_names`) is whole and the code keeps to it.

Counter names are a public contract (Prometheus metrics, dashboards, alerts).  Three checks
keep a new string counter from slipping in: the catalog's own consistency (every constant listed
once, no two names alike), a scan of the sources (no counter incremented with a literal
string), and runs that report counters (the simulator through every fault kind with
broadcasts and messages; every driver on loopback) whose every key must be in the catalog.
"""

from __future__ import annotations

import ast
import errno
import socket
from pathlib import Path
from typing import Any, get_args

import anyio
import attrs
import pytest
from sim_helpers import FAST as SIM_FAST
from sim_helpers import run_every_fault
from support.configs import FAST
from support.matrix import Driver
from support.poll import eventually

import swimcore
from swimcore import BroadcastReceived, MessageReceived, State
from swimcore import counter_names as cn
from swimcore.messages import Message
from swimcore.transports.counters import Counters
from swimcore.transports.sim.cluster import SimCluster

ROOT = Path(swimcore.__file__).parent.parent


def _constants() -> dict[str, str]:
    """The catalog's names: every upper-case string constant of the module but the prefixes."""
    return {
        name: value
        for name, value in vars(cn).items()
        if name.isupper() and isinstance(value, str) and not name.endswith("PREFIX")
    }


def test_every_constant_is_listed_once_and_no_two_share_a_name() -> None:
    constants = _constants()
    listed = [*cn.NODE_COUNTERS, *cn.DRIVER_COUNTERS]
    assert len(listed) == len(set(listed)), "a name listed twice"
    assert len(set(constants.values())) == len(constants), "two constants, one name"
    assert sorted(listed) == sorted(constants.values()), "a constant missing from the lists"


def test_the_levels_are_the_names_documented_as_levels() -> None:
    """What Prometheus exports as gauges: every name whose comment says ``Level:``."""
    lines = Path(cn.__file__).read_text().splitlines()
    documented = {
        lines[i + 1].split(" = ")[0] for i, line in enumerate(lines) if line.startswith("#: Level:")
    }
    constants = _constants()
    assert {constants[name] for name in documented} == cn.LEVELS
    assert set(cn.NODE_COUNTERS) >= cn.LEVELS


def test_the_prefixes_are_distinct_and_no_plain_name_hides_in_a_family() -> None:
    prefixes = [cn.SENT_PREFIX, cn.RECEIVED_PREFIX, cn.MEMBERS_PREFIX]
    assert len(set(prefixes)) == len(prefixes)
    assert [n for n in cn.NODE_COUNTERS if n.startswith(tuple(prefixes))] == []
    driver_family = [n for n in cn.DRIVER_COUNTERS if n.startswith(cn.SOCKET_ERRORS_PREFIX)]
    assert driver_family == []


def test_the_families_name_every_message_kind_and_state() -> None:
    kinds = sorted(kind.__name__.lower() for kind in get_args(Message))
    assert sorted(cn.MESSAGE_KINDS) == kinds
    assert sorted(cn.MEMBER_STATES) == sorted(state.name.lower() for state in State)


@pytest.mark.parametrize(
    "key",
    [
        "deaths",
        "dropped.table_full",
        "sent.ping",
        "received.usermessage",
        "members.suspect",
        "driver.dropped.events",
        "driver.socket_errors",
        "driver.socket_errors.send.ECONNREFUSED",
        "driver.socket_errors.tcp.other",
    ],
)
def test_is_known_accepts_the_catalog(key: str) -> None:
    assert cn.is_known(key)


@pytest.mark.parametrize(
    "key",
    [
        "death",
        "dropped.tables_full",
        "sent.pong",
        "members.zombie",
        "dropped.events",  # a driver's name without the driver's prefix
        "driver.deaths",  # a node's name with it
        "driver.socket_errors.nowhere.EIO",
        "driver.socket_errors.send.eio",
        "driver.socket_errors.send",
    ],
)
def test_is_known_refuses_what_is_not_in_it(key: str) -> None:
    assert not cn.is_known(key)


# ------------------------------------------------------------------------------- the sources


def _counted_sources() -> list[Path]:
    core = [p for p in (ROOT / "swimcore").rglob("*.py") if "cli" not in p.parts]
    drivers = [p for p in (ROOT / "transports").rglob("*.py") if "sim" not in p.parts]
    return sorted(p for p in core + drivers if p.name != "counter_names.py")


def _literal_counts(source: str) -> list[str]:
    """Counter increments (``_count(...)``, ``<counters>.add(...)``) named by a literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = ast.unparse(node.func.value)
        counting = node.func.attr == "_count" or (
            node.func.attr == "add" and "counters" in receiver.lower()
        )
        if counting and node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr):
            found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("path", _counted_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_counter_is_named_by_a_literal_string(path: Path) -> None:
    assert _literal_counts(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        'self._count("deaths")',
        'self._counters.add("dropped.events")',
        'core.counters.add(f"x.{y}")',
    ],
)
def test_the_scan_would_notice(source: str) -> None:
    assert _literal_counts(source) != []


def test_the_scan_finds_the_places_that_count() -> None:
    # The scan looks at the right files: they do count, with the catalog's constants.
    text = "\n".join(p.read_text() for p in _counted_sources())
    assert text.count("self._count(cn.") > 50
    assert text.count("counters.add(cn.") > 10


# --------------------------------------------------------------------------- what is reported


def test_every_key_the_simulator_reports_is_in_the_catalog() -> None:
    cluster, _, _ = run_every_fault(seed=5)  # crashes, partitions, loss, corruption, ...
    net = cluster.net
    for index in (0, 3):
        node = cluster.node(index)
        net.feed(node, node.broadcast(f"key{index}", b"value", net.now))
        net.feed(node, node.set_metadata(b"meta", net.now))
    sender, peer = cluster.node(2), cluster.node(4)
    net.feed(sender, sender.send_message(peer.name, b"best effort", net.now))
    net.feed(sender, sender.send_message(peer.name, b"reliable", net.now, reliable=True))
    cluster.run_for(10.0)
    reported: dict[str, int] = {}
    for host in cluster.hosts:
        for key, value in host.node.counters().items():
            reported[key] = reported.get(key, 0) + value
    assert sorted(k for k in reported if not cn.is_known(k)) == []
    # The run did exercise the counters: faults, drops, gossip and exchanges all counted.
    for key in (
        cn.DEATHS,
        cn.LEAVES,
        cn.SUSPICIONS,
        cn.REFUTATIONS,
        cn.PROBES_FAILED,
        cn.INDIRECT_PROBES,
        cn.DROPPED_MALFORMED,
        cn.EXCHANGES_COMPLETED,
        cn.MESSAGES_DELIVERED,
        cn.sent("usermessage"),
        cn.received("indirectping"),
    ):
        assert reported.get(key, 0) > 0, key


def test_a_node_reports_the_same_catalog_on_the_memberlist_wire() -> None:
    cluster = SimCluster(6, seed=2, config=attrs.evolve(SIM_FAST, wire="memberlist"))
    cluster.run_for(5.0)
    cluster.net.crash(cluster.node(1))
    cluster.run_for(20.0)
    keys = {k for host in cluster.hosts for k in host.node.counters()}
    assert sorted(k for k in keys if not cn.is_known(k)) == []
    assert sum(host.node.counters()[cn.DEATHS] for host in cluster.hosts if host.up) > 0


def test_every_key_a_driver_reports_is_in_the_catalog(driver: Driver) -> None:
    seen: list[Any] = []

    async def story(driver: Driver) -> None:
        async with driver.member(FAST, name="a", leave_on_exit=False) as a:
            a.on_event(seen.append)
            async with (
                driver.member(FAST, name="b", seeds=[a.address]) as b,
                driver.member(FAST, name="c", seeds=[a.address]) as c,
            ):
                await eventually(
                    lambda: all(len(m.members()) == 3 for m in (a, b, c)), "no convergence"
                )
                await b.send("a", b"reliable", reliable=True)
                b.broadcast("k", b"v")
                await eventually(
                    lambda: (
                        any(isinstance(e, MessageReceived) for e in seen)
                        and any(isinstance(e, BroadcastReceived) for e in seen)
                    ),
                    "the message or the broadcast did not arrive",
                )
                # A stream cut in the middle of a message: a driver drop.
                with socket.create_connection((str(a.address.ip), a.address.port)) as stream:
                    stream.sendall(b"\x00\x00\x01\x00half")
                await c.close(leave=False)
                await anyio.sleep(1.5)
                reported = {**a.counters(), **b.counters()}
        assert sorted(k for k in reported if not cn.is_known(k)) == []
        driver_keys = {k for k in reported if k.startswith(cn.DRIVER_PREFIX)}
        assert cn.DRIVER_PREFIX + cn.EXCHANGE_SERVED_IN in driver_keys
        assert cn.DRIVER_PREFIX + cn.EXCHANGE_COMPLETED_OUT in driver_keys

    driver.run(story)


def test_socket_errors_are_counted_under_catalog_names() -> None:
    counters = Counters()
    counters.socket_error(OSError(errno.ECONNREFUSED, "refused"), "send")
    counters.socket_error(OSError("no errno"), "tcp")
    snapshot = counters.snapshot()
    assert snapshot == {
        "driver.socket_errors": 2,
        "driver.socket_errors.send.ECONNREFUSED": 1,
        "driver.socket_errors.tcp.other": 1,
    }
    assert all(cn.is_known(key) for key in snapshot)
