"""What one crash costs the group in datagrams, by cluster size: the protocol's work, not time.

For each size, two simulated runs from the same seed (bootstrapped, LAN preset): one steady,
one where a member crashes after ``--warmup`` seconds; both then run ``--duration`` more
seconds.  The table gives, per surviving member over that window, the datagrams sent in each
run, what the crash added (in all, and as gossip datagrams), the updates sent more, and the
retransmission limit at that size (``retransmit_mult * ceil(log10(n + 1))``, memberlist's): each
member sends each update that many times, so a crash's suspect and dead updates cost each
member about twice the limit, and the limit steps up at 10, 100, 1,000, 10,000 members
(9,999 members: 16; 10,000: 20).  Counts only: deterministic for a seed, whatever the machine.

Usage::

    python benchmarks/bench_crash_traffic.py --sizes 100,1000,9999,10000
"""

from __future__ import annotations

import argparse
import platform
from collections import Counter

from swimcore import Config
from swimcore import counter_names as cn
from swimcore.timing import retransmit_limit
from swimcore.transports.sim import SimCluster
from swimcore.transports.sim.ops import Crash

#: Counters read, each as a per-member figure over the window.
SENT = cn.PACKETS_SENT
GOSSIP = cn.SENT_PREFIX + "gossip"
UPDATES = cn.UPDATES_SENT


def window(size: int, *, crash: bool, warmup: float, duration: float, seed: int) -> Counter[str]:
    """Each counter's total over the surviving members for ``duration`` s after ``warmup``."""
    cluster = SimCluster(size, seed=seed, config=Config.lan(), trace=False)
    cluster.run_for(warmup)
    crashed = size // 2
    if crash:
        cluster.apply(Crash(crashed))
    survivors = [i for i in range(size) if i != crashed]
    before = [Counter(cluster.node(i).counters()) for i in survivors]
    cluster.run_for(duration)
    total: Counter[str] = Counter()
    for i, start in zip(survivors, before, strict=True):
        total.update(Counter(cluster.node(i).counters()) - start)
    return total


def row(size: int, warmup: float, duration: float, seed: int) -> dict[str, float]:
    steady = window(size, crash=False, warmup=warmup, duration=duration, seed=seed)
    crashed = window(size, crash=True, warmup=warmup, duration=duration, seed=seed)
    each = size - 1
    return {
        "members": size,
        "limit": retransmit_limit(Config.lan().retransmit_mult, size),
        "steady": steady[SENT] / each,
        "crash": crashed[SENT] / each,
        "extra": (crashed[SENT] - steady[SENT]) / each,
        "extra_gossip": (crashed[GOSSIP] - steady[GOSSIP]) / each,
        "extra_updates": (crashed[UPDATES] - steady[UPDATES]) / each,
        "deaths": crashed[cn.DEATHS] / each,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,9999,10000")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(
        f"# Python {platform.python_version()}; {args.duration:g} simulated s after "
        f"{args.warmup:g}, seed {args.seed}; figures per surviving member"
    )
    print(
        "| members | retransmit limit | datagrams, steady | with a crash | the crash's extra "
        "| of which gossip | updates sent extra | extra updates / limit | deaths seen |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        r = row(size, args.warmup, args.duration, args.seed)
        print(
            f"| {size:,} | {r['limit']} | {r['steady']:.1f} | {r['crash']:.1f} "
            f"| {r['extra']:.1f} | {r['extra_gossip']:.1f} | {r['extra_updates']:.1f} "
            f"| {r['extra_updates'] / r['limit']:.2f} | {r['deaths']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
