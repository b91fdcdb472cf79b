"""The deterministic cluster simulator: a virtual clock, an in-memory faulty network, thousands
of real swimcore nodes exchanging real bytes, invariant checkers and measurements.

* :class:`SimNetwork` (``network``): event heap, links with :class:`LinkFaults`, cuts, hosts
  that crash, restart, leave and pause; a trace digest for byte-identical replay.
* :class:`SimCluster` (``cluster``): builds nodes with per-node seeds, bootstrapped on one
  shared roster or joining through seeds, and applies the operations of ``ops``.
* ``plan``: random fault plans (:class:`FaultRates`, :func:`random_plan`).
* :class:`SafetyChecker` and the liveness deadlines (``checkers``), :class:`Recorder` and its
  :class:`Report` (``metrics``), :class:`Scenario` and :func:`run_scenario` (``scenario``,
  what ``swimcore simulate`` runs), figures (``plot``, needs matplotlib).
"""

from swimcore.timing import detection_deadline
from swimcore.transports.sim.checkers import SafetyChecker, convergence_deadline
from swimcore.transports.sim.cluster import SimCluster, address_of
from swimcore.transports.sim.faults import Cut, LinkFaults
from swimcore.transports.sim.metrics import Recorder, Report
from swimcore.transports.sim.network import Host, SimNetwork
from swimcore.transports.sim.plan import FaultRates, random_plan
from swimcore.transports.sim.rng import derive_rng, derive_seed, node_rng
from swimcore.transports.sim.scenario import Outcome, Scenario, run_scenario

__all__ = [
    "Cut",
    "FaultRates",
    "Host",
    "LinkFaults",
    "Outcome",
    "Recorder",
    "Report",
    "SafetyChecker",
    "Scenario",
    "SimCluster",
    "SimNetwork",
    "address_of",
    "convergence_deadline",
    "derive_rng",
    "derive_seed",
    "detection_deadline",
    "node_rng",
    "random_plan",
    "run_scenario",
]
