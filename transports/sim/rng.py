"""Seeds for every random stream of a simulation, derived from one master seed.

Each stream (the network's link decisions, node ``i`` in its ``life``-th run, the fault plan)
gets its own ``random.Random`` seeded from SHA-256 of the master seed and the stream's name, so
adding a node or a fault never shifts the numbers any other stream draws, and nothing depends
on Python's per-process string hashing.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(master: int, *parts: int | str) -> int:
    """A 64-bit seed for the stream named by ``parts`` under ``master``."""
    text = ":".join([str(master), *(str(part) for part in parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def derive_rng(master: int, *parts: int | str) -> random.Random:
    """A ``random.Random`` for the stream named by ``parts`` under ``master``."""
    return random.Random(derive_seed(master, *parts))


def node_rng(master: int, index: int, life: int = 0) -> random.Random:
    """The randomness of node ``index`` in its ``life``-th run (0 first, +1 per restart)."""
    return derive_rng(master, "node", index, life)
