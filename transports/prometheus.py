"""Prometheus export of a node's counters and gauges (the ``metrics`` extra).

:class:`SwimCollector` turns the flat snapshot of ``counters()`` (the core's, or a driver's,
which adds socket-level counts) into Prometheus metric families, labelled with the member name:

- ``sent.<type>`` / ``received.<type>`` -> ``swimcore_messages_total{direction,type}``
- ``packets_*`` / ``bytes_*`` -> ``swimcore_packets_total{direction}`` and ``swimcore_bytes_total``
- ``dropped.<reason>`` -> ``swimcore_dropped_total{reason}``
- ``members.<state>`` -> ``swimcore_members_by_state{state}`` (gauge)
- the gauges below keep their name; every other counter ``c`` becomes ``swimcore_c_total``.

The names themselves, and what each counts, are in :mod:`swimcore.counter_names`.

Register it with :func:`serve` (an HTTP endpoint on its own thread, from prometheus_client) or
with any registry of the application's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from swimcore import counter_names as cn

Snapshot = Callable[[], Mapping[str, int]]

#: The names exported as gauges under their own name (``swimcore_<name>``), not as counters:
#: the levels of :mod:`swimcore.counter_names`.
GAUGES = cn.LEVELS


class SwimCollector(Collector):
    """Collects ``snapshot()`` on every scrape, labelled ``member=name``."""

    def __init__(self, snapshot: Snapshot, name: str) -> None:
        self._snapshot = snapshot
        self._name = name

    def collect(self) -> Iterator[Metric]:
        counts = self._snapshot()
        member = self._name
        messages = CounterMetricFamily(
            "swimcore_messages",
            "Messages by direction and type",
            labels=["member", "direction", "type"],
        )
        packets = CounterMetricFamily(
            "swimcore_packets", "Datagrams by direction", labels=["member", "direction"]
        )
        volume = CounterMetricFamily(
            "swimcore_bytes", "Datagram bytes by direction", labels=["member", "direction"]
        )
        dropped = CounterMetricFamily(
            "swimcore_dropped", "Input dropped, by reason", labels=["member", "reason"]
        )
        states = GaugeMetricFamily(
            "swimcore_members_by_state", "Members in the table by state", labels=["member", "state"]
        )
        others: list[Metric] = []
        for key, value in counts.items():
            prefix, _, rest = key.partition(".")
            if prefix in ("sent", "received") and rest:
                messages.add_metric([member, prefix, rest], value)
            elif prefix == "dropped" and rest:
                dropped.add_metric([member, rest], value)
            elif prefix == "members" and rest:
                states.add_metric([member, rest], value)
            elif key in (cn.PACKETS_SENT, cn.PACKETS_RECEIVED):
                packets.add_metric([member, key.removeprefix("packets_")], value)
            elif key in (cn.BYTES_SENT, cn.BYTES_RECEIVED):
                volume.add_metric([member, key.removeprefix("bytes_")], value)
            elif key in GAUGES:
                gauge = GaugeMetricFamily(f"swimcore_{key}", f"swimcore {key}", labels=["member"])
                gauge.add_metric([member], value)
                others.append(gauge)
            else:
                safe = key.replace(".", "_").replace("-", "_")
                counter = CounterMetricFamily(
                    f"swimcore_{safe}", f"swimcore {key}", labels=["member"]
                )
                counter.add_metric([member], value)
                others.append(counter)
        yield from (messages, packets, volume, dropped, states, *others)


def serve(
    snapshot: Snapshot,
    name: str,
    port: int,
    addr: str = "127.0.0.1",
    registry: CollectorRegistry = REGISTRY,
) -> SwimCollector:
    """Register a collector for ``snapshot`` and serve ``/metrics`` on ``addr:port``."""
    collector = SwimCollector(snapshot, name)
    registry.register(collector)
    start_http_server(port, addr=addr, registry=registry)
    return collector
