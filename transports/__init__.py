"""Drivers that run :class:`swimcore.Node` over a network: a simulator and real sockets."""
