"""The Prometheus endpoint of a running member shows its counters moving as traffic flows.

``examples/prometheus_metrics.py`` runs a member (with two local peers, so probes flow) and
serves ``/metrics`` on a free loopback port; the test scrapes it twice with urllib and finds
the datagram counters grown, the exchange-duration counters present, and the member gauges.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from swimcore.transports.sockets import free_port

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "prometheus_metrics.py"
SAMPLE = re.compile(r"^(swimcore_[a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$", re.M)


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {f"{name}{labels or ''}": float(value) for name, labels, value in SAMPLE.findall(text)}


def wait_for(url: str, timeout: float = 30.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(url)
        except OSError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.1)


def test_scraped_counters_move_while_traffic_flows() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--metrics-port", str(port), "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == f"metrics at http://127.0.0.1:{port}/metrics", line
        url = line.split()[-1]
        received = 'swimcore_packets_total{direction="received",member="main"}'
        sent = 'swimcore_packets_total{direction="sent",member="main"}'
        # main asks for an exchange of its own at its first push-pull (within ~2 s).
        timed = 'swimcore_driver_exchange_duration_count_total{member="main"}'
        first = wait_for(url)
        deadline = time.monotonic() + 30
        while True:
            second = scrape(url)
            if second.get(received, 0) > first.get(received, 0) and second.get(timed, 0) >= 1:
                break
            assert time.monotonic() < deadline, f"the counters never moved: {second}"
            time.sleep(0.2)
        assert second[sent] > first.get(sent, 0)
        assert second['swimcore_members_by_state{member="main",state="alive"}'] >= 2
        assert second['swimcore_driver_exchange_duration_us_total{member="main"}'] > 0
        assert 'swimcore_health{member="main"}' in second
        # Levels are gauges under their own name, never counters that only grow.
        assert 'swimcore_merge_backlog{member="main"}' in second
        assert 'swimcore_broadcast_keys{member="main"}' in second
        assert not [
            k
            for k in second
            if k.startswith(("swimcore_merge_backlog_total", "swimcore_snapshots_pending_total"))
        ]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _out, err = process.communicate()
    assert process.returncode == 0, err
