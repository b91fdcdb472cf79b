"""Datagrams one Node handles per second on each wire profile: native against memberlist.

A peer sends pings, each carrying ``--updates`` alive updates at a higher incarnation than the
node knows (so every update is judged, applied and queued), and the node answers each with an
ack full of piggybacked news.  The same stream is encoded for every profile before the clock
starts; the timed loop is only ``Node.receive``.  Also times the codec alone: encoding and
decoding one full memberlist datagram against the native one, and Go-compatible LZW.

Prints a markdown table; compare rows as ratios (one run, one machine).  From the repository
root::

    .venv/bin/python benchmarks/bench_memberlist_wire.py
"""

from __future__ import annotations

import argparse
import platform
import random
import time

from swimcore import Address, Config, Node, Send
from swimcore.keyring import Keyring
from swimcore.messages import Alive, Ping
from swimcore.wire.memberlist import lzw

PROFILES = [
    ("native", "native", False),
    ("native + keyring", "native", True),
    ("memberlist", "memberlist", False),
    ("memberlist + LZW", "memberlist+lzw", False),
    ("memberlist + AES-GCM", "memberlist", True),
]
KEY = bytes(range(16))


def _stream(wire: str, encrypted: bool, count: int, updates: int, size: int) -> list[bytes]:
    keyring = Keyring(KEY) if encrypted else None
    sender = Node(
        Config.lan(wire=wire), Address("127.0.0.1", 9000), name="peer", keyring=keyring, seed=1
    )
    profile = sender.wire
    out = []
    for i in range(count):
        body = profile.encode_message(Ping(i + 1, "subject", "peer"))
        news = [
            profile.encode_update(
                Alive(f"m{(i * updates + j) % size}", Address("10.0.0.1", 7000 + j), i + 1)
            )
            for j in range(updates)
        ]
        out.append(profile.seal(profile.assemble(profile.header, body, news)))
    return out


def _rate(wire: str, encrypted: bool, count: int, updates: int, size: int) -> tuple[float, int]:
    data = _stream(wire, encrypted, count, updates, size)
    keyring = Keyring(KEY) if encrypted else None
    node = Node(
        Config.lan(wire=wire), Address("127.0.0.1", 9001), name="subject", keyring=keyring, seed=2
    )
    node.start(0.0)
    source = Address("127.0.0.1", 9000)
    sent = 0
    start = time.perf_counter()
    for i, datagram in enumerate(data):
        for action in node.receive(datagram, source, 1.0 + i * 1e-4):
            if isinstance(action, Send):
                sent += len(action.data)
    elapsed = time.perf_counter() - start
    dropped = sum(v for k, v in node.counters().items() if k.startswith("dropped."))
    assert dropped == 0, node.counters()
    return count / elapsed, sent // count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--updates", type=int, default=8)
    parser.add_argument("--members", type=int, default=200)
    args = parser.parse_args()
    python = platform.python_version()
    print(f"Python {python}, {args.count} datagrams, {args.updates} updates each")
    print()
    print("| profile | datagrams/s | ratio to native | mean reply bytes |")
    print("|---|---:|---:|---:|")
    base = 0.0
    for label, wire, encrypted in PROFILES:
        rate, reply = _rate(wire, encrypted, args.count, args.updates, args.members)
        base = base or rate
        print(f"| {label} | {rate:,.0f} | {rate / base:.2f} | {reply} |")
    rng = random.Random(1)
    text = bytes(rng.choice(b"abcdefgh ") for _ in range(1400))
    rounds = 200
    start = time.perf_counter()
    for _ in range(rounds):
        packed = lzw.compress(text)
    mid = time.perf_counter()
    for _ in range(rounds):
        lzw.decompress(packed, 4096)
    end = time.perf_counter()
    print()
    pack_us = (mid - start) / rounds * 1e6
    unpack_us = (end - mid) / rounds * 1e6
    print(
        f"LZW on 1,400 bytes ({len(packed)} packed): compress {pack_us:.0f} us, "
        f"decompress {unpack_us:.0f} us"
    )


if __name__ == "__main__":
    main()
