"""One real swimcore member in its own process, driven by a test through stdin and stdout.

Runs an :class:`swimcore.transports.asyncio.AsyncioMember` and speaks JSON lines:

* stdout: ``{"ready": {"name", "address", "pid"}}`` once bound, then one line per event,
  ``{"event": "MemberFailed", "member": name, "incarnation": n, "t": monotonic}`` (``t`` is
  ``time.monotonic()``, which every process of one host shares, network namespaces included),
  and one line answering each command;
* stdin, one command per line: ``members`` (live members), ``all`` (every member with its state),
  ``counters``, ``config`` (the effective :class:`~swimcore.Config`, every field),
  ``rss`` (resident memory in KiB), ``reload-keys`` (re-read ``--key-file`` and
  rotate: install every listed key, make the first primary, remove the others), ``leave``
  (graceful) and ``quit`` (stop silently, as a crash would look).  ``SIGHUP`` also reloads keys.

With ``--trace`` the core's debug lines (failed probes, refutations and whom they answer) come
as events too: ``{"event": "Log", "text": line, "t": monotonic}``.

The key file holds one hex AES key per line, the primary first; ``#`` starts a comment.

    python tests/netns/member.py --bind 10.77.0.2:7946 --seeds 10.77.0.1:7946 --preset local
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import pathlib
import signal
import sys
import time
from typing import Any

import attrs

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from swimcore import Config, JoinFailed, JoinResult, Keyring  # noqa: E402
from swimcore.transports.asyncio import AsyncioMember  # noqa: E402
from swimcore.transports.logs import CORE_LOGGER  # noqa: E402


def read_keys(path: str) -> list[bytes]:
    keys = []
    for line in pathlib.Path(path).read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            keys.append(bytes.fromhex(text))
    if not keys:
        raise SystemExit(f"{path}: no key in the key file")
    return keys


def rotate(ring: Keyring, keys: list[bytes]) -> None:
    """Make ``ring`` accept exactly ``keys`` with ``keys[0]`` primary, in a safe order."""
    for key in keys:
        ring.install(key)
    ring.use(keys[0])
    for key in ring.keys:
        if key not in keys:
            ring.remove(key)


def rss_kib() -> int:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class TraceHandler(logging.Handler):
    """The core's log lines as ``Log`` events."""

    def emit(self, record: logging.LogRecord) -> None:
        emit({"event": "Log", "text": record.getMessage(), "t": time.monotonic()})


def describe(event: object) -> dict[str, Any]:
    out: dict[str, Any] = {"event": type(event).__name__, "t": time.monotonic()}
    member = getattr(event, "member", None) or getattr(event, "leader", None)
    if member is not None:
        out.update(member=member.name, incarnation=member.incarnation)
    if isinstance(event, JoinFailed):
        out["seed"] = str(event.seed)
    elif isinstance(event, JoinResult):
        out["reached"] = [str(seed) for seed in event.reached]
        out["failed"] = [str(seed) for seed, _ in event.failures]
    return out


def build_config(args: argparse.Namespace) -> Config:
    changes: dict[str, Any] = json.loads(args.config) if args.config else {}
    if args.label is not None:
        changes["label"] = args.label
    return Config.preset(args.preset, **changes)


async def commands(member: AsyncioMember, ring: Keyring | None, key_file: str | None) -> str:
    """Answer commands from stdin until ``leave``, ``quit`` or end of input."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line:
            return "quit"
        if line == "members":
            emit({"members": sorted(m.name for m in member.members())})
        elif line == "all":
            emit({"all": {m.name: m.state.name for m in member.node.all_members()}})
        elif line == "counters":
            emit({"counters": member.counters()})
        elif line == "config":
            emit({"config": attrs.asdict(member.config)})
        elif line == "rss":
            emit({"rss": rss_kib()})
        elif line == "reload-keys":
            if ring is None or key_file is None:
                emit({"error": "no keyring: start with --key-file"})
            else:
                rotate(ring, read_keys(key_file))
                emit({"keys": len(ring.keys), "primary": ring.primary[:4].hex()})
        elif line in ("leave", "quit"):
            return line
        else:
            emit({"error": f"unknown command {line!r}"})


async def run(args: argparse.Namespace) -> None:
    config = build_config(args)
    if args.trace:
        core = logging.getLogger(CORE_LOGGER)
        core.setLevel(logging.DEBUG)
        core.addHandler(TraceHandler())
    ring = Keyring(*read_keys(args.key_file)) if args.key_file else None
    extra: dict[str, Any] = {}
    if ring is not None:
        extra["keyring"] = ring
    seeds = [s for s in args.seeds.split(",") if s]
    member = AsyncioMember(
        config, args.bind, name=args.name, seeds=seeds, leave_on_exit=False, **extra
    )
    await member.start()
    loop = asyncio.get_running_loop()
    if ring is not None and args.key_file is not None:
        key_file = args.key_file
        loop.add_signal_handler(signal.SIGHUP, lambda: rotate(ring, read_keys(key_file)))
    member.on_event(lambda event: emit(describe(event)))
    emit({"ready": {"name": member.name, "address": str(member.address), "pid": os.getpid()}})
    how = await commands(member, ring, args.key_file)
    await member.close(leave=how == "leave")
    emit({"closed": how})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bind", required=True, help="ip:port (port 0 picks one)")
    parser.add_argument("--seeds", default="", help="comma-separated IP:PORT or HOST:PORT seeds")
    parser.add_argument("--name", default=None)
    parser.add_argument("--preset", default="lan", choices=["lan", "wan", "local"])
    parser.add_argument("--config", default="", help="JSON object of Config field overrides")
    parser.add_argument("--label", default=None)
    parser.add_argument("--key-file", default=None, help="hex AES keys, one a line, primary first")
    parser.add_argument("--trace", action="store_true", help="the core's debug lines as events")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
