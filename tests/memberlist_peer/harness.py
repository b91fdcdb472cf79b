"""Running the Go memberlist test peer from tests: build it once, start nodes, read their events.

The peer (main.go beside this file) prints JSON lines; a reader thread collects them with the
monotonic time they arrived.  Tests skip, saying why, only when Go or Debian's memberlist
package cannot be installed or the peer cannot be built.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from swimcore.transports.sockets import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BINARY = Path(
    os.environ.get(
        "SWIMCORE_MEMBERLIST_PEER", ROOT / "build" / "memberlist-peer" / "memberlist-peer"
    )
)
_build_error: list[str] = []


def peer_binary() -> Path:
    """The built peer; builds it on first use (build.sh) or skips the test with the reason."""
    if BINARY.exists():
        return BINARY
    if _build_error:
        pytest.skip(_build_error[0])
    if shutil.which("bash") is None:
        _build_error.append("memberlist peer: no bash to run build.sh")
        pytest.skip(_build_error[0])
    result = subprocess.run(
        ["bash", str(HERE / "build.sh")], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0 or not BINARY.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        _build_error.append(
            "memberlist peer could not be built (needs golang-go and "
            f"golang-github-hashicorp-memberlist-dev): {' | '.join(tail)}"
        )
        pytest.skip(_build_error[0])
    return BINARY


#: Faster than memberlist's LAN preset by five, for both sides of the mixed clusters.
FAST = {
    "probe-interval": 200,
    "probe-timeout": 100,
    "gossip-interval": 50,
    "push-pull-interval": 3000,
    "suspicion-mult": 4,
    "retransmit-mult": 4,
    "tcp-timeout": 1000,
}


class GoPeer:
    """One memberlist node in a Go process."""

    def __init__(
        self,
        name: str,
        *,
        join: str = "",
        key: bytes = b"",
        compress: bool = False,
        meta: str = "",
        settings: dict[str, int] | None = None,
        kv: bool = False,
    ) -> None:
        self.name = name
        args = [str(peer_binary()), "-name", name]
        for flag, value in (settings or FAST).items():
            args += [f"-{flag}", str(value)]
        if join:
            args += ["-join", join]
        if key:
            args += ["-key", key.hex()]
        if compress:
            args.append("-compress")
        if meta:
            args += ["-meta", meta]
        if kv:
            args.append("-kv")  # the last-writer-wins store of examples/kv_store.py (kv.go)
        self._lock = threading.Lock()
        # The port is free when chosen, but another process may take it before Go binds it:
        # then the peer reports a fatal error and starts again on another port.
        for _ in range(5):
            self.port = free_port()
            self.events: list[tuple[float, dict[str, Any]]] = []
            self.process = subprocess.Popen(
                [*args, "-port", str(self.port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
            if self._started():
                return
            self.stop()
        raise RuntimeError(f"memberlist peer {name} did not start: {self.events}")

    def _started(self, timeout: float = 10.0) -> bool:
        """Wait for the peer to report ``ready`` (True) or to fail (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.last("ready") is not None:
                return True
            if self.last("fatal") is not None or self.process.poll() is not None:
                return False
            time.sleep(0.01)
        return False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.events.append((time.monotonic(), event))

    def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def seen(
        self, predicate: Callable[[dict[str, Any]], bool]
    ) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return [(t, e) for t, e in self.events if predicate(e)]

    def last(self, kind: str) -> dict[str, Any] | None:
        found = self.seen(lambda e: e.get("event") == kind)
        return found[-1][1] if found else None

    def ask(self, kind: str, timeout: float = 5.0, *, line: str = "") -> dict[str, Any]:
        """Send ``line`` (default ``kind``: "members", "states", "kv-dump") and return the
        answer, the next event of ``kind``."""
        before = len(self.seen(lambda e: e.get("event") == kind))
        self.command(line or kind)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.seen(lambda e: e.get("event") == kind)
            if len(found) > before:
                return found[-1][1]
            time.sleep(0.01)
        raise TimeoutError(f"{self.name} did not answer {kind}")

    def member_names(self) -> set[str]:
        return {m["name"] for m in self.ask("members")["members"]}

    def kill(self) -> None:
        """Crash: SIGKILL, no leave."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=5)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.command("quit")
                self.process.wait(timeout=3)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=5)
        self._reader.join(timeout=5)  # the pipe reached its end: the reader is done with it
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        if self.process.stdout is not None and not self._reader.is_alive():
            self.process.stdout.close()
