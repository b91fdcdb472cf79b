"""A deterministic in-memory network of swimcore nodes on a virtual clock."""

from transports.sim.network import Host, LinkFaults, SimNetwork

__all__ = ["Host", "LinkFaults", "SimNetwork"]
