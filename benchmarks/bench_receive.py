"""Datagrams handled per second by one Node: ping in, ack out, updates piggybacked both ways.

One node with a table of N members receives a stream of pings from a peer and answers each
with an ack.  Two kinds of stream:

* ``fresh``: every ping carries ``--updates`` alive updates at a higher incarnation than the
  node knows, so each one is judged, applied and queued, and the acks go out full of news;
* ``known``: the updates repeat news the node already has (judged and ignored); the node's own
  metadata changes every 50 datagrams so that its acks still carry a little news.

The datagrams are encoded before the clock starts; the timed loop is only ``Node.receive``.
Prints a markdown table.  Run from the repository root::

    .venv/bin/python benchmarks/bench_receive.py
    .venv/bin/python benchmarks/bench_receive.py --profile        # cProfile of the hot path
    git show <commit>:swimcore/wire/native/codec.py > /tmp/codec_old.py  # older: swimcore/codec.py
    .venv/bin/python benchmarks/bench_receive.py --baseline-codec /tmp/codec_old.py
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.util
import platform
import pstats
import time
from collections.abc import Iterator
from types import ModuleType

from swimcore import Address, Config, Node, Send
from swimcore.messages import Ack, Alive, Ping
from swimcore.wire.native import codec

#: The codec functions a node calls; an A/B run swaps them for an older codec's.
CODEC_API = (
    "header",
    "encode_message",
    "encode_update",
    "assemble",
    "encode_packet",
    "encode_push_pull",
    "encode_direct_message",
    "encode_exchange_ack",
    "is_exchange_ack",
    "read_label",
    "decode_packet",
    "decode_push_pull",
    "decode_exchange",
)


def address(i: int) -> Address:
    return Address(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", 7946)


def build_node(members: int) -> Node:
    node = Node(Config.lan(), address(1), seed=1)
    node.start(0.0, [(str(address(i)), address(i)) for i in range(2, members + 1)])
    return node


def datagrams(node: Node, members: int, count: int, updates: int, fresh: bool) -> list[bytes]:
    """``count`` pings to ``node`` from member 2, each carrying ``updates`` alive updates."""
    out = []
    header = codec.header(node.config.label)
    peers = list(range(2, members + 1))
    for seq in range(count):
        batch = []
        for j in range(updates):
            i = peers[(seq * updates + j) % len(peers)]
            incarnation = 1 + (seq * updates + j) // len(peers) if fresh else 0
            batch.append(codec.encode_update(Alive(str(address(i)), address(i), incarnation)))
        message = codec.encode_message(Ping(seq, node.name, str(address(2))))
        out.append(codec.assemble(header, message, batch))
    return out


def run(node: Node, stream: list[bytes], refresh: int) -> float:
    """Feed ``stream`` to ``node``; returns the seconds spent."""
    source = address(2)
    receive = node.receive
    now = 1.0
    start = time.perf_counter()
    for i, data in enumerate(stream):
        if refresh and i % refresh == 0:
            node.set_metadata(b"v%d" % i, now)
        receive(data, source, now)
        now += 1e-5
    return time.perf_counter() - start


@contextlib.contextmanager
def codec_from(module: ModuleType | None) -> Iterator[None]:
    """Run nodes with ``module``'s codec functions (an older codec.py, for A/B runs)."""
    if module is None:
        yield
        return
    saved = {name: getattr(codec, name) for name in CODEC_API}
    try:
        for name in CODEC_API:
            setattr(codec, name, getattr(module, name))
        yield
    finally:
        for name, value in saved.items():
            setattr(codec, name, value)


def load_codec(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("baseline_codec", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(
    members: int, kind: str, count: int, updates: int, codec_module: ModuleType | None = None
) -> dict[str, float]:
    """One timed run on a fresh node."""
    fresh = kind == "fresh"
    with codec_from(codec_module):
        node = build_node(members)
        stream = datagrams(node, members, count, updates, fresh)
        seconds = run(node, stream, 0 if fresh else 50)
    counters = node.counters()
    assert counters["sent.ack"] == count, counters
    assert "dropped.internal_error" not in counters
    return {
        "rate": count / seconds,
        "us": seconds / count * 1e6,
        "out": counters["updates_sent"] / counters["packets_sent"],
        "bytes_out": counters["bytes_sent"] / counters["packets_sent"],
    }


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    return max(runs, key=lambda r: r["rate"])


def check_answers(members: int) -> None:
    """Sanity: each ping gets one ack with the same seq, carrying piggybacked updates."""
    node = build_node(members)
    for seq, data in enumerate(datagrams(node, members, 10, 4, True)):
        (send,) = [a for a in node.receive(data, address(2), 1.0) if isinstance(a, Send)]
        packet = codec.decode_packet(send.data)
        assert packet.message == Ack(seq), packet.message
        assert packet.updates


def profile(members: int, count: int, updates: int, top: int = 30) -> None:
    node = build_node(members)
    stream = datagrams(node, members, count, updates, True)
    profiler = cProfile.Profile()
    profiler.enable()
    run(node, stream, 0)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--kinds", nargs="+", default=["fresh", "known"])
    parser.add_argument("--datagrams", type=int, default=20_000)
    parser.add_argument("--updates", type=int, default=4, help="updates piggybacked per ping")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--profile", action="store_true", help="cProfile one run instead")
    parser.add_argument(
        "--baseline-codec",
        metavar="FILE",
        help="an older swimcore/codec.py to compare with (runs interleaved with the current)",
    )
    args = parser.parse_args()
    check_answers(args.members[0])
    if args.profile:
        profile(args.members[-1], args.datagrams, args.updates)
        return
    baseline = load_codec(args.baseline_codec) if args.baseline_codec else None
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{args.datagrams} datagrams per run, {args.updates} updates per ping, "
        f"best of {args.repeat}\n"
    )
    if baseline is None:
        print("| members | stream | datagrams/s | µs/datagram | updates per ack | ack bytes |")
        print("|---:|---|---:|---:|---:|---:|")
    else:
        print("| members | stream | baseline codec, datagrams/s | datagrams/s | speed-up |")
        print("|---:|---|---:|---:|---:|")
    for members in args.members:
        for kind in args.kinds:
            if baseline is None:
                r = best(
                    [
                        measure(members, kind, args.datagrams, args.updates)
                        for _ in range(args.repeat)
                    ]
                )
                print(
                    f"| {members} | {kind} | {r['rate']:,.0f} | {r['us']:.1f} "
                    f"| {r['out']:.1f} | {r['bytes_out']:.0f} |"
                )
                continue
            # Interleave the two codecs so that both see the same machine load.
            before, after = [], []
            for _ in range(args.repeat):
                before.append(measure(members, kind, args.datagrams, args.updates, baseline))
                after.append(measure(members, kind, args.datagrams, args.updates))
            old, new = best(before)["rate"], best(after)["rate"]
            print(f"| {members} | {kind} | {old:,.0f} | {new:,.0f} | {new / old:.2f}x |")


if __name__ == "__main__":
    main()
