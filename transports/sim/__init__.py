"""A deterministic in-memory network of swimcore nodes on a virtual clock, with faults."""

from transports.sim.faults import Cut, LinkFaults
from transports.sim.network import Host, SimNetwork
from transports.sim.rng import derive_rng, derive_seed, node_rng

__all__ = ["Cut", "Host", "LinkFaults", "SimNetwork", "derive_rng", "derive_seed", "node_rng"]
