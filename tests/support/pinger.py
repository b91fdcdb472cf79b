"""A peer that pings a real member over UDP from a thread, to see how long datagrams wait.

Tests of what may hold a member's loop (a large exchange read, merged or built) ping it every
10 ms meanwhile and read each ack's wait: a loop held for a second leaves every ping of that
second waiting, which no load on the machine does to a loop that is not held.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable

from swimcore import Address, Config, Keyring
from swimcore.messages import Ack, Ping
from swimcore.wire.loading import for_node


def longest_waits(run: Callable[[], object], longest: list[float], bound: float) -> list[float]:
    """``longest`` after ``run()``, which appends the longest wait one run of a test saw, and
    after a second run if that reached ``bound``: the caller asserts on the last.  Work that
    holds a member's loop holds pings in every run; a machine loaded by other tests (three
    workers on two cores) now and then stops a process for half a second, which a second run
    does not repeat."""
    run()
    if longest[-1] >= bound:
        run()
    return longest


class Pinger:
    """Pings the member named ``target`` at ``address`` on ``config``'s wire until stopped."""

    def __init__(
        self, config: Config, target: str, address: Address, keyring: Keyring | None = None
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.01)
        here = Address(*self._sock.getsockname())
        self._wire = for_node(config, "pinger", here, keyring, random.Random(0))
        self._target, self._to = target, (str(address.ip), address.port)
        self.sent: dict[int, float] = {}
        self.acked: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()

    def waits(self, since: float, until: float, unanswered: float) -> list[float]:
        """How long each ping waiting for its ack at some time between ``since`` and ``until``
        (``time.monotonic``) waited: those sent in that window, and those sent up to
        ``unanswered`` before it and not yet answered when it began (a window shorter than
        the pinger's 10 ms between pings may hold none of the first kind); ``unanswered`` for
        one never answered."""
        waits = []
        for seq, at in self.sent.items():
            if not since - unanswered <= at <= until:
                continue
            acked = self.acked.get(seq)
            if at < since and acked is not None and acked < since:
                continue  # answered before the window
            waits.append(unanswered if acked is None else acked - at)
        return waits

    def _run(self) -> None:
        wire, seq = self._wire, 0
        while not self._stop.is_set():
            seq += 1
            message = wire.encode_message(Ping(seq, self._target, "pinger"))
            data = wire.seal(wire.assemble(wire.header, message, []))
            self.sent[seq] = time.monotonic()
            self._sock.sendto(data, self._to)
            try:
                while True:
                    opened = wire.open(self._sock.recv(65536))
                    reply = wire.decode_packet(opened or b"")
                    if isinstance(reply.message, Ack):
                        self.acked.setdefault(reply.message.seq, time.monotonic())
            except (TimeoutError, BlockingIOError):
                pass
