"""Capture what a real memberlist (Go) node sends, for tests/test_memberlist_captures.py.

Run from the repository root after tests/memberlist_peer/build.sh:

    .venv/bin/python tests/data/memberlist/capture.py

It plays a minimal memberlist member on loopback (UDP and TCP on one port), lets the Go test
peer join it, provokes every message memberlist sends (pings, indirect pings, acks, nacks,
suspect, alive with new metadata, dead for a leave, user messages by gossip and over TCP,
push-pull state, the TCP fallback ping, an error reply) in four variants (plain, compressed,
encrypted, both), and writes every datagram and stream the Go node sent, in hex, to
captures.json beside this file, with the context the tests check the decoding against.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from swimcore.transports.sockets import free_port  # noqa: E402
from swimcore.wire.memberlist import packet, stream  # noqa: E402
from swimcore.wire.memberlist.messages import (  # noqa: E402
    MlAck,
    MlAlive,
    MlIndirectPing,
    MlMessage,
    MlPing,
    MlPushNodeState,
    MlPushPull,
    NodeState,
    vsn_bytes,
)

PEER = ROOT / "build" / "memberlist-peer" / "memberlist-peer"
OUT = Path(__file__).with_name("captures.json")
LOOPBACK = "127.0.0.1"
IP = bytes([127, 0, 0, 1])
KEY = bytes(range(16))
PER_KIND = 3


class FakeMember:
    """A scripted memberlist member: records what it receives, answers what it must."""

    def __init__(self, name: str, keys: tuple[bytes, ...], compress: bool, ghost_port: int):
        self.name = name
        self.keys = keys
        self.compress = compress
        self.ghost_port = ghost_port
        self.port = free_port()
        self.rng = random.Random(7)
        self.records: list[dict[str, str]] = []
        self.counts: dict[str, int] = {}
        self.answer_pings = True
        self.lock = threading.Lock()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((LOOPBACK, self.port))
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((LOOPBACK, self.port))
        self.tcp.listen(8)
        self.stop = False
        for target in (self._udp_loop, self._tcp_loop):
            threading.Thread(target=target, daemon=True).start()

    def record(self, transport: str, kind: str, data: bytes) -> None:
        with self.lock:
            key = f"{transport}:{kind}"
            if self.counts.get(key, 0) >= PER_KIND:
                return
            self.counts[key] = self.counts.get(key, 0) + 1
            self.records.append({"transport": transport, "kind": kind, "hex": data.hex()})

    def send(self, messages: Sequence[MlMessage], port: int) -> None:
        data = packet.encode_datagram(messages, keys=self.keys, rng=self.rng)
        self.udp.sendto(data, (LOOPBACK, port))

    def _udp_loop(self) -> None:
        self.udp.settimeout(0.2)
        while not self.stop:
            try:
                data, source = self.udp.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            messages = packet.decode_datagram(data, keys=self.keys)
            kind = "+".join(type(m).__name__ for m in messages)
            self.record("udp", kind, data)
            for m in messages:
                if isinstance(m, MlPing) and self.answer_pings:
                    self.send([MlAck(m.seq)], m.source_port or source[1])

    def state(self, join: bool) -> MlPushPull:
        me = MlPushNodeState(self.name, IP, self.port, b"", 1, NodeState.ALIVE, vsn_bytes())
        ghost = MlPushNodeState("ghost", IP, self.ghost_port, b"", 1, NodeState.ALIVE, vsn_bytes())
        return MlPushPull(join, (me, ghost))

    def _tcp_loop(self) -> None:
        self.tcp.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                buf = b""
                result = None
                while result is None:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                    result = stream.read_stream(buf, keys=self.keys)
                if result is None:
                    continue
                message, used = result
                self.record("tcp", type(message).__name__, buf[:used])
                reply: MlPushPull | MlAck | None = None
                if isinstance(message, MlPushPull):
                    reply = self.state(join=False)
                elif isinstance(message, MlPing):
                    reply = MlAck(message.seq)
                if reply is not None:
                    conn.sendall(
                        stream.encode_stream(
                            reply, keys=self.keys, compress=self.compress, rng=self.rng
                        )
                    )

    def request_stream(self, port: int, data: bytes) -> bytes:
        with socket.create_connection((LOOPBACK, port), timeout=2) as conn:
            conn.sendall(data)
            buf = b""
            while True:
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                buf += chunk
            return buf

    def close(self) -> None:
        self.stop = True
        self.udp.close()
        self.tcp.close()


class Scenario(TypedDict):
    """One scenario in ``captures.json``: its ports and settings, and what was captured."""

    context: dict[str, object]
    records: list[dict[str, str]]


def run_scenario(name: str, *, compress: bool, encrypt: bool) -> Scenario:
    keys = (KEY,) if encrypt else ()
    ghost_port = free_port()
    fake = FakeMember("py-capture", keys, compress, ghost_port)
    go_port = free_port()
    args = [
        str(PEER),
        "-name",
        "go-capture",
        "-port",
        str(go_port),
        "-meta",
        "role=go",
        "-join",
        f"{LOOPBACK}:{fake.port}",
        "-probe-interval",
        "300",
        "-probe-timeout",
        "150",
        "-gossip-interval",
        "100",
        "-push-pull-interval",
        "0",
        "-tcp-timeout",
        "1000",
    ]
    if compress:
        args.append("-compress")
    if encrypt:
        args += ["-key", KEY.hex()]
    go = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert go.stdin is not None

    def command(line: str, pause: float) -> None:
        assert go.stdin is not None
        go.stdin.write(line + "\n")
        go.stdin.flush()
        time.sleep(pause)

    try:
        time.sleep(1.5)  # join, first probes of us and of the ghost, suspicion of the ghost
        # Our own probes: an ack back; an indirect probe of the ghost: a nack back.
        fake.send([MlPing(1, "go-capture", IP, fake.port, fake.name)], go_port)
        ind = MlIndirectPing(2, IP, ghost_port, "ghost", True, IP, fake.port, fake.name)
        fake.send([ind], go_port)
        alive = MlAlive(1, fake.name, IP, fake.port, b"", vsn_bytes())
        fake.send([MlPing(3, "go-capture", IP, fake.port, fake.name), alive], go_port)
        time.sleep(0.5)
        command("set-meta role=go2", 0.5)
        command("broadcast hello-by-gossip", 0.5)
        command(f"send-reliable {fake.name} hello-by-tcp", 0.5)
        command(f"send-best-effort {fake.name} hello-by-udp", 0.5)
        # Go asks us for our state over TCP ping when UDP probes of us fail.
        fake.answer_pings = False
        time.sleep(1.5)
        fake.answer_pings = True
        # A push-pull we start, and an encrypted stream a node without keys answers with an error.
        reply = fake.request_stream(
            go_port, stream.encode_stream(fake.state(join=False), keys=keys, rng=fake.rng)
        )
        fake.record("tcp-reply", "MlPushPull", reply)
        if not encrypt:
            reply = fake.request_stream(go_port, bytes([10, 0, 0, 0, 0]))
            fake.record("tcp-reply", "MlErr", reply)
        command("leave", 1.0)
        command("quit", 0.3)
    finally:
        go.kill()
        go.wait()
        fake.close()
    return {
        "context": {
            "go_name": "go-capture",
            "go_port": go_port,
            "go_meta": ["role=go", "role=go2"],
            "py_name": fake.name,
            "py_port": fake.port,
            "ghost_port": ghost_port,
            "compress": compress,
            "key": KEY.hex() if encrypt else "",
        },
        "records": fake.records,
    }


def main() -> None:
    if not PEER.exists():
        sys.exit(f"build the peer first: tests/memberlist_peer/build.sh ({PEER} is missing)")
    scenarios = {
        "plain": run_scenario("plain", compress=False, encrypt=False),
        "compressed": run_scenario("compressed", compress=True, encrypt=False),
        "encrypted": run_scenario("encrypted", compress=False, encrypt=True),
        "encrypted_compressed": run_scenario("encrypted_compressed", compress=True, encrypt=True),
    }
    OUT.write_text(json.dumps({"memberlist": "0.2.2 (Debian)", "scenarios": scenarios}, indent=1))
    for name, scenario in scenarios.items():
        kinds = sorted({f"{r['transport']}:{r['kind']}" for r in scenario["records"]})
        print(name, len(scenario["records"]), kinds)


if __name__ == "__main__":
    main()
