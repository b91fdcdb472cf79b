"""Helpers for the thread driver's tests: fast configs, thread accounting, probe timing
and a member in a process of its own (``threaded_subject.py``) driven over stdin/stdout.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import attrs
from support.poll import eventually_blocking

from swimcore import Address, Config, Event, MemberFailed, MemberSuspected
from swimcore.messages import Ack, Ping
from swimcore.transports import ThreadMember
from swimcore.transports.member import MemberCore
from swimcore.wire.native import codec

SUBJECT = Path(__file__).with_name("threaded_subject.py")

#: Fast protocol for loopback tests: 0.3 s periods, quick suspicion, frequent anti-entropy.
FAST = Config.local(
    probe_interval=0.3,
    probe_timeout=0.15,
    gossip_interval=0.1,
    push_pull_interval=3.0,
    reclaim_time=10.0,
    join_retry_interval=0.3,
)

#: The stall tests' protocol: 0.4 s periods, so a 5 s stall is many probe periods long.
STALL = Config.local(
    probe_interval=0.4,
    probe_timeout=0.2,
    gossip_interval=0.1,
    push_pull_interval=5.0,
    join_retry_interval=0.3,
)


def new_threads(before: set[threading.Thread], grace: float = 5.0) -> list[str]:
    """Names of threads started since ``before`` that are still alive after ``grace`` seconds."""

    def extra() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in before and t.is_alive()]

    with contextlib.suppress(AssertionError):  # any still alive are the answer
        eventually_blocking(lambda: not extra(), "threads still running", timeout=grace)
    return sorted(t.name for t in extra())


def start_cluster(size: int, config: Config = FAST, **kwargs: Any) -> list[ThreadMember]:
    """``size`` members on loopback, every one joining through the first."""
    first = ThreadMember(config, name="m00", **kwargs)
    first.start()
    members = [first]
    try:
        for i in range(1, size):
            member = ThreadMember(config, name=f"m{i:02d}", seeds=[first.address], **kwargs)
            member.start()
            members.append(member)
    except BaseException:
        stop_all(members)
        raise
    return members


def stop_all(members: list[ThreadMember]) -> None:
    """Stop every member at once, without leaving (fast teardown)."""
    for member in members:
        member.close(leave=False)


def converged(members: list[ThreadMember]) -> bool:
    """True when every member sees exactly the given members, all alive."""
    names = sorted(m.name for m in members)
    return all(
        sorted(i.name for i in m.members()) == names
        and all(i.state.name == "ALIVE" for i in m.members())
        for m in members
    )


class Recorder:
    """Collects the events of several members (callbacks on their delivery threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, Event]] = []

    def attach(self, member: ThreadMember) -> None:
        name = member.name
        member.on_event(lambda event: self._add(name, event))

    def _add(self, observer: str, event: Event) -> None:
        with self._lock:
            self.events.append((observer, event))

    def about(self, name: str, kind: type[Any]) -> list[str]:
        """Observers that reported an event of ``kind`` about member ``name``."""
        with self._lock:
            return [
                observer
                for observer, event in self.events
                if isinstance(event, kind)
                and getattr(event, "member", None) is not None
                and event.member.name == name
            ]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()


class ProbeTimer(ThreadMember):
    """A member that times its probes of one member on the wire (ping sent -> ack read)."""

    watch: Address | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sent: dict[int, float] = {}
        self.round_trips: list[float] = []

    def _send(self, to: Address, data: bytes) -> None:
        if self.watch is not None and to == self.watch:
            message = codec.decode_packet(data).message
            if isinstance(message, Ping):
                self._sent[message.seq] = time.monotonic()
        super()._send(to, data)

    def _receive(self, core: MemberCore, data: bytes, source: tuple[Any, ...]) -> None:
        watch = self.watch
        if watch is not None and source[1] == watch.port and source[0] == str(watch.ip):
            arrived = time.monotonic()
            try:
                message = codec.decode_packet(data).message
            except Exception:
                message = None
            if isinstance(message, Ack) and message.seq in self._sent:
                self.round_trips.append(arrived - self._sent.pop(message.seq))
        super()._receive(core, data, source)


@attrs.define
class Subject:
    """A member running in a child process (``threaded_subject.py``), driven line by line."""

    process: subprocess.Popen[str]
    name: str
    address: Address

    @classmethod
    def launch(cls, driver: str, seed: Address, config: dict[str, Any] | None = None) -> Subject:
        process = subprocess.Popen(
            [
                sys.executable,
                str(SUBJECT),
                "--driver",
                driver,
                "--seed",
                str(seed),
                "--config",
                json.dumps(config or {}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            hello = cls._read(process, 30.0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        return cls(process, hello["name"], Address.parse(hello["address"]))

    @staticmethod
    def _read(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        stdout = process.stdout
        assert stdout is not None
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(stdout.readline()))
        reader.start()
        reader.join(timeout)
        if reader.is_alive() or not box or not box[0]:
            raise RuntimeError(f"subject process gave no answer (exit code {process.poll()})")
        answer: dict[str, Any] = json.loads(box[0])
        return answer

    def ask(self, command: str, timeout: float = 60.0) -> dict[str, Any]:
        """Send one command line and return the subject's JSON answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read(self.process, timeout)

    def stop(self) -> dict[str, Any]:
        """Leave and exit; returns the subject's final report."""
        try:
            report = self.ask("stop", 30.0)
            self.process.wait(10)
        finally:
            self.kill()
        return report

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def suspicions_and_deaths(recorder: Recorder, name: str) -> tuple[int, int]:
    return len(recorder.about(name, MemberSuspected)), len(recorder.about(name, MemberFailed))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
