"""Send junk UDP datagrams at a target, paced to a rate, bounded in count and time.

The junk is a fixed, seeded mix: random bytes, packets with the right header but garbage after
it, packets of a foreign cluster label, and oversized datagrams; it comes from several source
ports.  Prints one JSON line when done: ``{"sent", "send_errors", "seconds", "rate", "mix"}``.

    python tests/netns/flood.py --target 127.0.0.1:7946 --rate 100000 --seconds 5
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import time

SOCKETS = 8
#: Datagrams sent back to back between two looks at the clock.
BURST = 200


def junk_pool(label: str, seed: int = 1) -> tuple[list[bytes], dict[str, int]]:
    """4,096 junk datagrams and how many of each kind."""
    rng = random.Random(seed)
    ours = b"SW\x01\x00" + bytes((len(label.encode()),)) + label.encode()
    foreign = b"SW\x01\x00\x07foreign"
    pool, mix = [], {"random": 0, "bad_body": 0, "foreign_label": 0, "oversized": 0}
    for _ in range(4096):
        kind = rng.choices(list(mix), weights=[40, 30, 20, 10])[0]
        mix[kind] += 1
        if kind == "random":
            data = rng.randbytes(rng.randint(1, 300))
        elif kind == "bad_body":
            data = ours + rng.randbytes(rng.randint(0, 200))
        elif kind == "foreign_label":
            data = foreign + rng.randbytes(rng.randint(0, 200))
        else:
            data = rng.randbytes(rng.randint(1500, 4000))
        pool.append(data)
    return pool, mix


def flood(
    target: tuple[str, int], rate: float, seconds: float, count: int, label: str
) -> dict[str, object]:
    family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
    socks = [socket.socket(family, socket.SOCK_DGRAM) for _ in range(SOCKETS)]
    for sock in socks:
        sock.setblocking(False)
    pool, mix = junk_pool(label)
    sent = errors = 0
    start = time.monotonic()
    end = start + seconds
    i = 0
    try:
        while sent + errors < count:
            now = time.monotonic()
            if now >= end:
                break
            due = min(count, int((now - start) * rate) + BURST)
            if sent + errors >= due:
                time.sleep(min(0.001, end - now))
                continue
            for _ in range(min(BURST, due - sent - errors)):
                try:
                    socks[i % SOCKETS].sendto(pool[i % len(pool)], target)
                    sent += 1
                except OSError:
                    errors += 1
                i += 1
    finally:
        for sock in socks:
            sock.close()
    elapsed = time.monotonic() - start
    return {
        "sent": sent,
        "send_errors": errors,
        "seconds": round(elapsed, 3),
        "rate": round(sent / elapsed) if elapsed else 0,
        "mix": mix,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="ip:port")
    parser.add_argument("--rate", type=float, default=100_000.0, help="datagrams per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--count", type=int, default=10**9)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    result = flood((host.strip("[]"), int(port)), args.rate, args.seconds, args.count, args.label)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
