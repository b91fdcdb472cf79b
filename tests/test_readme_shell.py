"""The shell commands of the README and of the docs pages, run as written but on loopback.

Every ``swimcore ...`` line of their ``sh`` blocks (and every full command quoted in tables)
parses with the program's own parser.  The ``swimcore run`` lines of a block (or of one part of
it, between blank lines) start together, with other machines' addresses mapped to 127.0.0.1,
every address given a free port of its own, ``/tmp`` files moved to a temporary folder and the
HTTP store served locally; those sharing a store, or given join addresses, must form one group.
``examples/sample_node.py`` takes the same options as ``swimcore run`` and joins a
``swimcore run`` member.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from discovery_servers import key_value_server
from support.poll import eventually_blocking
from test_run_cli_processes import Process

from swimcore.cli import _subcommands, build_parser
from swimcore.transports.sockets import free_port

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
TEXT = "\n".join(source.read_text(encoding="utf-8") for source in SOURCES)
BLOCKS = re.findall(r"```sh\n(.*?)```", TEXT, flags=re.S)
_ADDRESS = re.compile(r"\b(\d+\.\d+\.\d+\.\d+):(\d+)\b")
_REMOTE_IP = re.compile(r"\b10\.\d+\.\d+\.\d+\b")
# Each process stops by itself; the member list every half second shows the group forming.
STOP_BY_ITSELF = ["--duration", "90", "--print-every", "0.5"]


def _commands(block: str) -> list[str]:
    block = re.sub(r"\\\n\s*", " ", block)  # a line continued with a backslash
    lines = [line.split(" #")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line.startswith("swimcore ")]


# The sh blocks' commands, and the full command lines quoted in tables (the tuner's runs).
INLINE = re.findall(r"`(swimcore \w+ --nodes [^`]*)`", TEXT)
ALL = [command for block in BLOCKS for command in _commands(block)] + INLINE
# A blank line inside a block separates sessions meant to run apart ("a)", "b)").
SESSIONS = [session for block in BLOCKS for session in block.split("\n\n")]
RUN_BLOCKS = [
    [c for c in _commands(session) if c.startswith("swimcore run ")]
    for session in SESSIONS
    if any(c.startswith("swimcore run ") for c in _commands(session))
]


class Loopback:
    """Rewrites a README command for this machine: each IP:PORT its own free loopback port."""

    def __init__(self, tmp: Path, http: str) -> None:
        self.ports: dict[str, int] = {}
        self.tmp, self.http = tmp, http

    def address(self, written: str) -> str:
        """The loopback address standing for ``written`` (one port per written address)."""
        if written not in self.ports:
            self.ports[written] = free_port()
        port = self.ports[written]
        ip = written.rpartition(":")[0]
        return f"{'0.0.0.0' if ip == '0.0.0.0' else '127.0.0.1'}:{port}"

    def __call__(self, command: str) -> list[str]:
        command = command.replace("http://127.0.0.1:8000", self.http)
        command = command.replace("/tmp/", f"{self.tmp}/")
        command = _ADDRESS.sub(lambda m: self.address(m.group(0)), command)
        command = _REMOTE_IP.sub("127.0.0.1", command)  # --advertise 10.0.0.5 -> loopback
        return shlex.split(command)[2:]  # after "swimcore run"


def test_the_readme_has_shell_commands_for_each_subcommand() -> None:
    assert {command.split()[1] for command in ALL} >= {"run", "simulate", "tune"}
    assert len(RUN_BLOCKS) >= 2


@pytest.mark.parametrize("command", ALL)
def test_every_readme_command_parses(command: str) -> None:
    words = shlex.split(command.split(">", maxsplit=1)[0])[1:]
    parser = _subcommands(build_parser())[words[0]]
    args = parser.parse_intermixed_args(words[1:])
    assert args.func is not None


@pytest.mark.parametrize("block", range(len(RUN_BLOCKS)))
def test_the_readme_run_commands_form_their_groups_on_loopback(block: int, tmp_path: Path) -> None:
    """Commands sharing a --store form one group; so do the ones given join addresses."""
    parser = _subcommands(build_parser())["run"]
    with key_value_server() as server:
        rewrite = Loopback(tmp_path, server.url)
        argvs = [rewrite(command) for command in RUN_BLOCKS[block]]
        parsed = [parser.parse_intermixed_args(argv) for argv in argvs]
        # A join address no command binds stands for another machine's member: start one.
        bound = {args.member_addr.replace("0.0.0.0", "127.0.0.1") for args in parsed}
        missing = sorted({args.join_addr for args in parsed if args.join_addr} - bound)
        helpers = [[parsed[0].group, address, address] for address in missing]
        groups = [args.store or "join" for args in parsed]
        groups = ["join"] * len(helpers) + groups
        processes = [Process(*argv, *STOP_BY_ITSELF) for argv in [*helpers, *argvs]]
        sizes = [groups.count(group) for group in groups]
        try:
            formed: Callable[[], bool] = lambda: all(  # noqa: E731
                p.member_count() == size for p, size in zip(processes, sizes, strict=True)
            )
            eventually_blocking(
                formed, lambda: [(p.out[-1:], p.err[-3:]) for p in processes], timeout=60
            )
        finally:
            codes = [p.stop() for p in processes]
    assert codes == [0] * len(processes)


def test_the_sample_node_takes_the_run_options_and_joins_a_run_member(tmp_path: Path) -> None:
    first = Process("g", "127.0.0.1:0", "127.0.0.1:0", "--preset", "local", *STOP_BY_ITSELF)
    try:
        eventually_blocking(lambda: first.address is not None, lambda: first.err, timeout=20)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        sample = subprocess.run(
            [sys.executable, "examples/sample_node.py", "--preset", "local", "g",
             "--duration", "3", "127.0.0.1:0", "--print-every", "0.2", str(first.address),
             "--name", "sample"],
            check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
        )  # fmt: skip
    finally:
        first.stop()
    assert sample.returncode == 0, sample.stderr
    assert "sample: 2 members:" in sample.stdout
    assert "sample: left the group" in sample.stdout
    assert any("sample" in line and line.startswith("members (2)") for line in first.out)


def test_the_sample_node_refuses_a_bad_option_like_swimcore_run() -> None:
    done = subprocess.run(
        [sys.executable, "examples/sample_node.py", "g", "127.0.0.1:0", "127.0.0.1:0",
         "--print-every", "0"],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "sample_node.py: error: argument --print-every: want a number of seconds >= 0.1, "
        "got '0' (see sample_node.py --help)"
    ]
