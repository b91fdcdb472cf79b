"""Helpers for the security, bounds and flood tests: keys, sealed links, captures, memory.

:class:`SealedLink` is :class:`helpers.Link` for encrypted nodes: it moves datagrams as
opaque bytes (it never decodes them, since they are sealed) and can record every datagram it
delivers, which is how the replay tests "capture" traffic off the wire.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterable

import attrs
from helpers import Link, make_node

from swimcore import Action, Address, Config, ExchangeRequest, Keyring, Node, Send
from swimcore.messages import Packet
from swimcore.wire.native import codec

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
KEY_C = bytes(range(200, 216))


@attrs.define
class SealedLink(Link):
    """A :class:`Link` that delivers sealed datagrams without decoding them.

    ``captured`` keeps (source, destination, bytes) of every delivered datagram and
    ``captured_exchanges`` every (destination, request bytes) of an exchange, as an attacker on
    the path would see them.
    """

    captured: list[tuple[Address, Address, bytes]] = attrs.field(factory=list)
    captured_exchanges: list[tuple[Address, bytes]] = attrs.field(factory=list)

    def carry(self, node: Node, actions: Iterable[Action], now: float) -> None:
        for action in actions:
            if isinstance(action, ExchangeRequest):
                self.captured_exchanges.append((action.to, action.data))
        super().carry(node, actions, now)

    def deliver(self, now: float, rounds: int = 100) -> int:
        delivered = 0
        for _ in range(rounds):
            if not self.inflight:
                return delivered
            batch, self.inflight = self.inflight, []
            for source, send in batch:
                node = self.nodes.get(send.to)
                if node is None or send.to in self.silent or (source, send.to) in self.cut:
                    continue
                delivered += 1
                self.captured.append((source, send.to, send.data))
                self.carry(node, node.receive(send.data, source, now), now)
        raise AssertionError(f"datagrams still in flight after {rounds} rounds")


def sealed_cluster(
    n: int, keys: tuple[bytes, ...] = (KEY_A,), config: Config | None = None
) -> tuple[SealedLink, list[Node], list[Keyring]]:
    """``n`` bootstrapped nodes, each with its own keyring (as separate processes would)."""
    rings = [Keyring(*keys) for _ in range(n)]
    nodes = [make_node(i, config, keyring=rings[i]) for i in range(n)]
    link = SealedLink()
    link.add(*nodes)
    members = [(node.name, node.address) for node in nodes]
    for node in nodes:
        link.carry(node, node.start(0.0, members), 0.0)
    return link, nodes, rings


def open_all(records: Iterable[tuple[Address, Address, bytes]], key: bytes = KEY_A) -> list[Packet]:
    """Decode captured sealed datagrams (as someone holding ``key`` would)."""
    ring = Keyring(key)
    out = []
    for _, _, data in records:
        plain = ring.open(data, "")
        assert plain is not None
        out.append(codec.decode_packet(plain))
    return out


def sent_data(actions: Iterable[Action]) -> list[bytes]:
    """The bytes of every datagram in ``actions``."""
    return [a.data for a in actions if isinstance(a, Send)]


def live_view(node: Node) -> list[str]:
    """Names of the members ``node`` sees alive or suspect, sorted."""
    return sorted(m.name for m in node.members())


def traced_growth(step: Callable[[int], None], rounds: int, warmup: int = 2) -> list[int]:
    """Traced memory (bytes) after each of ``rounds`` calls of ``step(round)``, after warm-up.

    The first ``warmup`` rounds fill caches and reach steady state; the returned list starts
    after them, so a flat run gives numbers that do not grow round after round.
    """
    tracemalloc.start()
    try:
        for i in range(warmup):
            step(i)
        sizes = []
        for i in range(warmup, warmup + rounds):
            step(i)
            gc.collect()
            sizes.append(tracemalloc.get_traced_memory()[0])
        return sizes
    finally:
        tracemalloc.stop()
