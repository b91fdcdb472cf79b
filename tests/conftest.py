"""Shared pytest configuration: the slow-test switch, hypothesis profiles, the driver matrix."""

from __future__ import annotations

import os

import pytest
from helpers import SLOW
from hypothesis import HealthCheck, settings
from support.configs import WIRES
from support.matrix import DRIVERS, Driver

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

LONG = os.environ.get("SWIMCORE_LONG") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``slow`` unless SWIMCORE_SLOW=1 (CI sets it), and tests marked
    ``long`` (the hour-scale sweeps, also marked ``slow``) unless SWIMCORE_LONG=1."""
    skip_slow = pytest.mark.skip(reason="long sweep: set SWIMCORE_SLOW=1 to run it")
    skip_long = pytest.mark.skip(reason="hour-scale sweep: set SWIMCORE_LONG=1 to run it")
    for item in items:
        if "long" in item.keywords and not LONG:
            item.add_marker(skip_long)
        elif "slow" in item.keywords and not (SLOW or LONG):
            item.add_marker(skip_slow)


@pytest.fixture(params=DRIVERS, ids=[driver.id for driver in DRIVERS])
def driver(request: pytest.FixtureRequest) -> Driver:
    """Each driver in turn (asyncio, anyio on asyncio and on trio, thread, bridged)."""
    chosen: Driver = request.param
    return chosen


@pytest.fixture(params=WIRES)
def wire(request: pytest.FixtureRequest) -> str:
    """Each wire profile in turn (native, memberlist, memberlist+lzw)."""
    chosen: str = request.param
    return chosen
