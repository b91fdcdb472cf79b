"""Network namespaces for the multi-host tests, and member processes to run in them.

:class:`Hosts` builds ``n`` hosts on one bridge without touching the host's own network: a hub
namespace holds the bridge, each host namespace gets one end of a veth pair (``eth0``) whose
other end is created directly inside the hub, so no interface ever appears in the root
namespace.  Addresses come from ``10.77.0.0/24`` and exist only inside these namespaces.
Names carry the test process id, so concurrent runs never collide, and namespaces left behind
by a process that died are removed on the next run.

:meth:`Hosts.etc_hosts` gives a host its own ``/etc/hosts``: ``ip netns exec`` bind-mounts
``/etc/netns/<namespace>/hosts`` over ``/etc/hosts`` for the command it runs, so names resolve
inside one namespace only; the files go with the namespaces.

Loss and partitions are iptables rules inside the host namespaces (the kernel here has no
``netem``): :meth:`Hosts.lose` drops a random fraction of incoming UDP, :meth:`Hosts.partition`
drops everything between two groups, :meth:`Hosts.heal` flushes the rules.

:class:`MemberProcess` runs ``tests/netns/member.py`` (optionally inside a namespace) and reads
its JSON lines in a background thread: events accumulate in :attr:`MemberProcess.events`,
answers to commands come back from :meth:`MemberProcess.ask`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
PREFIX = "swcore"
SUBNET = "10.77.0"
PORT = 7946
#: Per-namespace files that ``ip netns exec`` bind-mounts over ``/etc`` (see ip-netns(8)).
ETC_NETNS = pathlib.Path("/etc/netns")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def why_not() -> str | None:
    """``None`` when namespaces, veth, bridges and iptables can be used here, else the reason."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (apt-get install -y iproute2 iptables)"
    probe = f"{PREFIX}probe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    try:
        bridge = _ip("-n", probe, "link", "add", "br0", "type", "bridge", check=False)
        if bridge.returncode != 0:
            return f"cannot create a bridge: {bridge.stderr.strip()}"
        rule = subprocess.run(
            ["ip", "netns", "exec", probe, "iptables", "-A", "INPUT", "-p", "udp", "-m",
             "statistic", "--mode", "random", "--probability", "0.1", "-j", "DROP"],
            check=False, capture_output=True, text=True,
        )  # fmt: skip
        if rule.returncode != 0:
            return f"iptables does not work in a namespace: {rule.stderr.strip()}"
    finally:
        _ip("netns", "del", probe, check=False)
    return None


def remove_leftovers(prefix: str = PREFIX) -> None:
    """Delete namespaces of ours whose creating process is gone (a run that was killed)."""
    listing = _ip("netns", "list", check=False).stdout
    for name in re.findall(rf"^({prefix}\S*)", listing, re.MULTILINE):
        match = re.match(rf"{prefix}(?:hub|h\d+-|probe)(\d+)", name)
        if match and not pathlib.Path(f"/proc/{match.group(1)}").exists():
            _ip("netns", "del", name, check=False)
    for folder in ETC_NETNS.glob(f"{prefix}h*-*") if ETC_NETNS.is_dir() else ():
        match = re.fullmatch(rf"{prefix}h\d+-(\d+)", folder.name)
        if match and not pathlib.Path(f"/proc/{match.group(1)}").exists():
            _remove_etc(folder)


def _remove_etc(folder: pathlib.Path) -> None:
    """Remove a namespace's ``/etc/netns`` folder, and ``/etc/netns`` once it is empty."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        ETC_NETNS.rmdir()  # only when no other namespace has files there


class Hosts:
    """``n`` network namespaces on one bridge: host ``i`` is ``10.77.0.<i + 1>``."""

    def __init__(self, n: int, prefix: str = PREFIX) -> None:
        self.n = n
        self.prefix = prefix
        tag = os.getpid()
        self.hub = f"{prefix}hub{tag}"
        self.names = [f"{prefix}h{i}-{tag}" for i in range(n)]
        self.addresses = [f"{SUBNET}.{i + 1}" for i in range(n)]
        self._made: list[str] = []

    def __enter__(self) -> Hosts:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        remove_leftovers(self.prefix)
        _ip("netns", "add", self.hub)
        self._made.append(self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        for i, (name, address) in enumerate(zip(self.names, self.addresses, strict=True)):
            _ip("netns", "add", name)
            self._made.append(name)
            _ip("-n", self.hub, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0",
                "netns", name)  # fmt: skip
            _ip("-n", self.hub, "link", "set", f"v{i}", "master", "br0", "up")
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", name, "link", "set", "eth0", "up")
            _ip("-n", name, "link", "set", "lo", "up")

    def close(self) -> None:
        """Delete every namespace (their veths, rules and /etc files go with them); never
        raises."""
        for name in reversed(self._made):
            _ip("netns", "del", name, check=False)
            if (ETC_NETNS / name).is_dir():
                _remove_etc(ETC_NETNS / name)
        self._made.clear()

    def etc_hosts(self, i: int, entries: Sequence[tuple[str, str]]) -> None:
        """Make ``/etc/hosts`` for what runs in host ``i`` from now on: localhost and
        ``entries`` (address, name), in order.  Rewritten in place, so that processes already
        running there read the new entries at their next lookup."""
        folder = ETC_NETNS / self.names[i]
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost", "::1 localhost"]
        lines += [f"{address} {name}" for address, name in entries]
        with open(folder / "hosts", "w") as hosts:  # same inode: the bind mount sees it
            hosts.write("\n".join(lines) + "\n")

    def exec_prefix(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.names[i]]

    def iptables(self, i: int, *rule: str) -> None:
        subprocess.run(
            [*self.exec_prefix(i), "iptables", *rule], check=True, capture_output=True, text=True
        )

    def lose(self, fraction: float, hosts: Sequence[int] | None = None) -> None:
        """Drop ``fraction`` of the UDP datagrams arriving at each of ``hosts`` (default all)."""
        for i in range(self.n) if hosts is None else hosts:
            self.iptables(i, "-A", "INPUT", "-p", "udp", "-m", "statistic", "--mode", "random",
                          "--probability", str(fraction), "-j", "DROP")  # fmt: skip

    def partition(self, side_a: Sequence[int], side_b: Sequence[int]) -> None:
        """Cut all traffic (UDP and TCP, both ways) between the two sides."""
        for a in side_a:
            for b in side_b:
                for here, there in ((a, b), (b, a)):
                    self.iptables(here, "-A", "INPUT", "-s", self.addresses[there], "-j", "DROP")
                    self.iptables(here, "-A", "OUTPUT", "-d", self.addresses[there], "-j", "DROP")

    def heal(self) -> None:
        """Remove every rule from every host."""
        for i in range(self.n):
            self.iptables(i, "-F")

    def udp_stats(self, i: int) -> dict[str, int]:
        """The kernel's UDP counters inside host ``i`` (receive-buffer drops among them)."""
        out = subprocess.run(
            [*self.exec_prefix(i), "cat", "/proc/net/snmp"], check=True, capture_output=True,
            text=True,
        ).stdout  # fmt: skip
        return parse_udp_stats(out)


def parse_udp_stats(snmp: str) -> dict[str, int]:
    lines = [line.split() for line in snmp.splitlines() if line.startswith("Udp:")]
    if len(lines) < 2:
        return {}
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:], strict=False)}


class MemberProcess:
    """``tests/netns/member.py`` in a child process (inside a namespace when ``prefix`` says)."""

    def __init__(
        self, args: Sequence[str], prefix: Sequence[str] = (), label: str = "", wait: bool = True
    ) -> None:
        self.label = label
        command = [*prefix, sys.executable, str(HERE / "member.py"), *args]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.events: list[dict[str, Any]] = []
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.name = self.address = ""
        self.pid = 0
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait for the process to bind and start (``name``, ``address``, ``pid`` are set)."""
        ready = self._reply("ready", timeout=30.0)["ready"]
        self.name = ready["name"]
        self.address = ready["address"]
        self.pid = ready["pid"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if "event" in obj:
                with self._lock:
                    self.events.append(obj)
            else:
                self._replies.put(obj)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-200]

    def _reply(self, key: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self._replies.empty()):
                raise RuntimeError(
                    f"{self.label}: no {key!r} reply (exit {self.proc.poll()}):\n"
                    + "".join(self._stderr[-40:])
                )
            try:
                obj = self._replies.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            if key in obj:
                return obj
            if "error" in obj:
                raise RuntimeError(f"{self.label}: {obj['error']}")

    def ask(self, command: str, key: str, timeout: float = 10.0) -> Any:
        """Send ``command`` and return the ``key`` field of its answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._reply(key, timeout)[key]

    def members(self) -> list[str]:
        return list(self.ask("members", "members"))

    def counters(self) -> dict[str, int]:
        return dict(self.ask("counters", "counters"))

    def events_of(self, kind: str, member: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                e
                for e in self.events
                if e["event"] == kind and (member is None or e.get("member") == member)
            ]

    def kill(self) -> None:
        """SIGKILL: the process vanishes without a word, as a crashed host would."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Ask the process to quit (kill it if it does not), then release its pipes."""
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                self.ask("quit", "closed", timeout=5.0)
        if self.proc.poll() is None:
            self.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@contextlib.contextmanager
def members(processes: list[MemberProcess]) -> Iterator[list[MemberProcess]]:
    """Stop every process at the end, whatever happened."""
    try:
        yield processes
    finally:
        for process in processes:
            process.stop()


def wait_until(predicate: Any, timeout: float, step: float = 0.1) -> float:
    """Poll ``predicate`` until true; returns the seconds it took, raises on timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(step)
    return time.monotonic() - start


#: memberlist's LAN parameters (k = 3 indirect probes, suspicion multiplier 4, 4 retransmits)
#: with a 0.5 s protocol period, and frequent anti-entropy so that partitions heal quickly.
FAST = {
    "probe_interval": 0.5,
    "probe_timeout": 0.25,
    "indirect_checks": 3,
    "suspicion_mult": 4,
    "retransmit_mult": 4,
    "push_pull_interval": 2.0,
    "gossip_to_the_dead_time": 10.0,
}


def require() -> None:
    """Skip the calling test when namespaces cannot be made here, or fail it where they must
    (CI, or ``SWIMCORE_REQUIRE_NETNS=1``): a test that must run never passes by skipping."""
    import pytest  # noqa: PLC0415 - only the tests call this

    reason = why_not()
    if reason is None:
        return
    if os.environ.get("CI") or os.environ.get("SWIMCORE_REQUIRE_NETNS") == "1":
        pytest.fail(f"namespace tests are required here but cannot run: {reason}")
    pytest.skip(f"network namespaces cannot be made here: {reason}")


def start_group(
    hosts: Hosts, config: dict[str, Any], wait: float = 60.0, *, trace: bool = False
) -> list[MemberProcess]:
    """A member on every host, all joining through the first, with ``config`` (Config fields
    over the local preset; ``trace``: the core's debug lines as ``Log`` events); returns once
    every member lists every member."""
    seed = f"{hosts.addresses[0]}:{PORT}"
    processes = []
    for i in range(hosts.n):
        args = ["--bind", f"{hosts.addresses[i]}:{PORT}", "--preset", "local"]
        args += ["--config", json.dumps(config)] + (["--trace"] if trace else [])
        if i:
            args += ["--seeds", seed]
        processes.append(MemberProcess(args, hosts.exec_prefix(i), label=f"h{i}", wait=False))
    for process in processes:
        process.wait_ready()
    names = sorted(p.name for p in processes)
    wait_until(lambda: all(p.members() == names for p in processes), wait, 0.05)
    return processes
