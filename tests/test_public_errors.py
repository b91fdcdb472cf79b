"""Bad arguments to the public API outside the core raise typed errors.

Every error swimcore raises for local misuse is a :class:`SwimError`; the ones for bad values
are also :class:`ValueError` (``ConfigError``, ``AddressError``), so code that caught the
builtin still does.  The core's own entry points are covered in ``test_node_inputs.py`` and
``test_config.py``; these are the discovery stores, the simulator, the tuner and the sweeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from swimcore import Address, AddressError, Config, ConfigError, Node, SwimError
from swimcore.transports.discovery import DnsStore, HostStore, HttpStore, store_from_spec
from swimcore.transports.sim import LinkFaults, SimCluster, SimNetwork
from swimcore.transports.sim.executors import open_executor
from swimcore.transports.sim.stability import apply_fault
from swimcore.transports.sim.sweep import SweepOptions
from swimcore.transports.sim.tuning.model import NetworkModel
from swimcore.transports.sim.tuning.search import TuneRequest


def _enter(kind: str, **options: str) -> Callable[[], object]:
    def call() -> None:
        with open_executor(kind, **options):  # type: ignore[arg-type]
            pass

    return call


def _second_node_at_one_address() -> None:
    net = SimNetwork(seed=1)
    net.add(Node(Config.lan(), Address("127.0.0.1", 7001), seed=1))
    net.add(Node(Config.lan(), Address("127.0.0.1", 7001), seed=2))


def _restart_under_another_name() -> None:
    net = SimNetwork(seed=1)
    net.add(Node(Config.lan(), Address("127.0.0.1", 7001), name="a", seed=1))
    net.restart(Node(Config.lan(), Address("127.0.0.1", 7001), name="b", seed=2))


BAD_CALLS: dict[str, tuple[Callable[[], object], type[SwimError]]] = {
    "store spec of no known kind": (lambda: store_from_spec("ftp:x", group="g"), ConfigError),
    "store spec without a target": (lambda: store_from_spec("hosts", group="g"), ConfigError),
    "http option for a file store": (
        lambda: store_from_spec("file:/tmp/j", group="g", prefix="p"),
        ConfigError,
    ),
    "http headers for a dns store": (
        lambda: store_from_spec("dns:x.local:7946", group="g", headers={"a": "b"}),
        ConfigError,
    ),
    "dns spec without a port": (lambda: store_from_spec("dns:example", group="g"), AddressError),
    "no hosts": (lambda: HostStore([]), ConfigError),
    "a host without a port": (lambda: HostStore(["localhost"]), AddressError),
    "a host port out of range": (lambda: HostStore(["localhost:70000"]), AddressError),
    "http store of another scheme": (lambda: HttpStore("ftp://x/{group}", group="g"), ConfigError),
    "http template naming no field": (
        lambda: HttpStore("http://x/{nothing}", group="g"),
        ConfigError,
    ),
    "dns lookup without a port": (lambda: DnsStore("example"), ConfigError),
    "dns family unknown": (lambda: DnsStore("example", 80, family="ipv5"), ConfigError),
    "loss above one": (lambda: LinkFaults(loss=1.5), ConfigError),
    "negative latency": (lambda: LinkFaults(latency=-0.1), ConfigError),
    "infinite latency": (lambda: LinkFaults(latency=math.inf), ConfigError),
    "jitter not a number": (lambda: LinkFaults(jitter=math.nan), ConfigError),
    "empty cluster": (lambda: SimCluster(0), ConfigError),
    "address taken in the network": (_second_node_at_one_address, AddressError),
    "restart under another name": (_restart_under_another_name, ConfigError),
    "unknown fault": (
        lambda: apply_fault(SimCluster(3), "meteor", [0], rate=0.1, start=0, end=1),
        ConfigError,
    ),
    "unknown executor": (_enter("cloud"), ConfigError),
    "scheduler without dask": (_enter("local", scheduler="tcp://127.0.0.1:1"), ConfigError),
    "sweep window of zero": (lambda: SweepOptions(window=0), ConfigError),
    "network loss of one": (lambda: NetworkModel(loss=1.0), ConfigError),
    "network round trip infinite": (lambda: NetworkModel(rtt=math.inf), ConfigError),
    "stall shape unknown": (lambda: NetworkModel(stall_shape="gamma"), ConfigError),
    "tuning two members": (lambda: TuneRequest(nodes=2, network=NetworkModel()), ConfigError),
    "tuning no seeds": (lambda: TuneRequest(nodes=5, network=NetworkModel(), seeds=0), ConfigError),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_arguments_raise_a_typed_error(case: str) -> None:
    call, kind = BAD_CALLS[case]
    with pytest.raises(kind) as raised:
        call()
    assert isinstance(raised.value, ValueError)  # what these raised before: still caught
    assert str(raised.value)  # and the message says what is wrong
