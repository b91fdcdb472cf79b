"""Several ``python -m swimcore run`` processes on loopback form one group through an HTTP store.

No process is given a join address: each finds it in the store, the leader (highest address)
writes its own there, and when the leader is killed (SIGKILL, no leave) the survivors declare it
dead and the new leader's address replaces it in the store.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pytest
from discovery_servers import key_value_server
from support.poll import eventually_blocking

from swimcore import Address

ROOT = Path(__file__).resolve().parent.parent
_ADDRESS = re.compile(r"member \S+ at (\S+) in group")
_MEMBERS = re.compile(r"^members \((\d+)\)")


class Process:
    """One ``swimcore run`` process with its output collected by reader threads (``prefix``:
    what to run it under, such as ``ip netns exec NAME``)."""

    def __init__(self, *args: str, prefix: Sequence[str] = ()) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.popen = subprocess.Popen(
            [*prefix, sys.executable, "-m", "swimcore", "run", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        assert self.popen.stdout is not None and self.popen.stderr is not None
        self._readers = [
            threading.Thread(target=_collect, args=(self.popen.stdout, self.out), daemon=True),
            threading.Thread(target=_collect, args=(self.popen.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def address(self) -> Address | None:
        for line in list(self.err):
            match = _ADDRESS.search(line)
            if match:
                return Address.parse(match.group(1))
        return None

    def bound_address(self) -> Address:
        """The address it reported binding; fails if it has not reported one yet."""
        address = self.address
        assert address is not None, self.err
        return address

    def member_count(self) -> int:
        counts = [int(m.group(1)) for line in list(self.out) if (m := _MEMBERS.match(line))]
        return counts[-1] if counts else 0

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)
        try:
            code = self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        assert self.popen.stdout is not None and self.popen.stderr is not None
        self.popen.stdout.close()
        self.popen.stderr.close()
        return code


def _collect(stream: Iterable[str], lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


FAST_ARGS = [
    "--preset", "local",
    "--set", "probe_interval=0.2",
    "--set", "probe_timeout=0.1",
    "--set", "gossip_interval=0.05",
    "--set", "push_pull_interval=2",
    "--set", "join_retry_interval=0.3",
    "--join-every", "2",
    "--discovery-interval", "1",
    "--print-every", "0.3",
]  # fmt: skip


def test_processes_form_one_group_through_the_http_store_and_the_join_address_moves() -> None:
    with key_value_server() as server:
        store = server.url + "/kv/{prefix}/{group}"
        processes = [
            Process("procs", "127.0.0.1:0", "--store", store, *FAST_ARGS) for _ in range(4)
        ]
        try:
            eventually_blocking(
                lambda: all(p.address is not None for p in processes),
                lambda: [p.err for p in processes],
                timeout=30,
            )
            addresses = {p: p.bound_address() for p in processes}
            eventually_blocking(
                lambda: all(p.member_count() == 4 for p in processes),
                lambda: [p.out[-3:] for p in processes],
                timeout=30,
            )
            key = "/kv/swimcore/procs"
            ranked = sorted(processes, key=lambda p: addresses[p].leader_key())
            leader, runner_up = ranked[-1], ranked[-2]
            eventually_blocking(
                lambda: server.values.get(key) == str(addresses[leader]),
                lambda: f"the store holds {server.values}, not the leader",
            )

            # Kill the leader outright: no leave.  The survivors detect it and the new leader
            # (the next highest address) writes its own address to the store.
            leader.stop(signal.SIGKILL)
            survivors = [p for p in processes if p is not leader]
            eventually_blocking(
                lambda: all(p.member_count() == 3 for p in survivors),
                lambda: [p.out[-3:] for p in survivors],
                timeout=30,
            )
            eventually_blocking(
                lambda: server.values.get(key) == str(addresses[runner_up]),
                lambda: f"the store holds {server.values}, not the runner-up",
            )
            assert any("MemberFailed" in line for line in survivors[0].err)
        finally:
            codes = [p.stop() for p in processes]
        # The survivors stopped on SIGTERM by leaving gracefully: exit code 0.
        assert all(code == 0 for p, code in zip(processes, codes, strict=True) if p is not leader)


def test_a_bad_command_line_exits_with_status_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "swimcore", "run", "g", "0.0.0.0:0", "127.0.0.1:1"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert "advertise" in done.stderr


@pytest.mark.slow
def test_six_processes_survive_two_leader_kills() -> None:
    with key_value_server() as server:
        store = server.url + "/kv/{prefix}/{group}"
        processes = [Process("six", "127.0.0.1:0", "--store", store, *FAST_ARGS) for _ in range(6)]
        try:
            eventually_blocking(
                lambda: all(p.address is not None for p in processes),
                lambda: [p.err for p in processes],
                timeout=30,
            )
            addresses = {p: p.bound_address() for p in processes}
            ranked = sorted(processes, key=lambda p: addresses[p].leader_key())
            eventually_blocking(
                lambda: all(p.member_count() == 6 for p in processes),
                lambda: [p.out[-3:] for p in processes],
                timeout=30,
            )
            key = "/kv/swimcore/six"
            for round_ in range(2):
                victim = ranked.pop()
                victim.stop(signal.SIGKILL)
                eventually_blocking(
                    _all_count(list(ranked)), f"round {round_}: the survivors lost count", 30
                )
                eventually_blocking(
                    lambda: server.values.get(key) == str(addresses[ranked[-1]]),
                    lambda: f"the store holds {server.values}, not the new leader",
                )
        finally:
            for p in processes:
                p.stop()


def _all_count(processes: list[Process]) -> Callable[[], bool]:
    """A check that every one of ``processes`` prints exactly ``len(processes)`` members."""
    return lambda: all(p.member_count() == len(processes) for p in processes)
