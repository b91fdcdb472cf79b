"""The core stays pure: no I/O or concurrency modules, no clock, no global randomness.

Also pins the public API: ``swimcore.__all__`` is the list below, so nothing leaks out (or
disappears) by accident.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import swimcore

PACKAGE = Path(swimcore.__file__).parent
FORBIDDEN = ("socket", "asyncio", "trio", "anyio", "threading", "selectors")
#: Also banned from source anywhere in the core, outside the command line.
FORBIDDEN_IMPORTS = (*FORBIDDEN, "time")


def _loaded_after(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


@pytest.fixture(scope="module")
def loaded() -> list[str]:
    return _loaded_after("import swimcore")


#: attrs, the core's one dependency, imports threading (attr/_compat.py keeps a thread-local
#: guard for recursive reprs); nothing of swimcore's own does.
FROM_ATTRS = ("threading",)


@pytest.mark.parametrize(
    "module",
    [
        pytest.param(
            m,
            marks=pytest.mark.xfail(
                strict=True, reason="attrs itself imports threading (attr._compat)"
            ),
        )
        if m in FROM_ATTRS
        else m
        for m in FORBIDDEN
    ],
)
def test_import_swimcore_loads_no_io_or_concurrency(loaded: list[str], module: str) -> None:
    assert [m for m in loaded if m == module or m.startswith(module + ".")] == []


def test_swimcore_adds_no_io_or_concurrency_module_to_its_dependency() -> None:
    baseline = set(_loaded_after("import attrs"))
    added = set(_loaded_after("import attrs\nimport swimcore")) - baseline
    assert sorted(m for m in added if m.split(".")[0] in FORBIDDEN_IMPORTS) == []


def test_import_swimcore_loads_neither_the_cli_nor_transports(loaded: list[str]) -> None:
    assert "swimcore" in loaded  # the probe did import it
    assert [m for m in loaded if m.startswith(("swimcore.cli", "swimcore.transports"))] == []


def _memberlist_modules(loaded: list[str]) -> list[str]:
    return [m for m in loaded if m.startswith("swimcore.wire.memberlist") or m == "msgpack"]


def test_import_swimcore_loads_neither_the_memberlist_wire_nor_msgpack(loaded: list[str]) -> None:
    assert "swimcore.wire" in loaded  # the registry of profiles is loaded, not the profiles
    assert _memberlist_modules(loaded) == []


NODE = "swimcore.Node(swimcore.Config.lan(wire={wire!r}), swimcore.Address('127.0.0.1', 7946), "
NODE += "name='a', seed=1).start(0.0)"


def test_a_native_node_loads_neither_the_memberlist_wire_nor_msgpack() -> None:
    loaded = _loaded_after("import swimcore\n" + NODE.format(wire="native"))
    assert "swimcore.node" in loaded
    assert _memberlist_modules(loaded) == []
    # ... while a memberlist node loads both: the check above can fail.
    loaded = _loaded_after("import swimcore\n" + NODE.format(wire="memberlist"))
    assert "swimcore.wire.memberlist.packing" in loaded
    assert "msgpack" in loaded


@pytest.mark.parametrize("wire", ["native", "memberlist"])
def test_a_node_without_a_keyring_does_not_load_openssl(wire: str) -> None:
    # hashlib's OpenSSL bindings cost a member about 3.5 MiB; the built-in hashes suffice.
    loaded = _loaded_after("import swimcore\n" + NODE.format(wire=wire))
    assert "swimcore.node" in loaded
    assert [m for m in loaded if m in ("hashlib", "_hashlib", "ssl", "_ssl")] == []
    assert "_hashlib" in _loaded_after("import hashlib")  # the check can fail


#: What a member that discovers nothing has no use for: the DNS and HTTP stores' libraries
#: (dnspython, urllib, http.client and the email parser they pull in: about 6 MiB resident).
DISCOVERY_BACKENDS = ("dns", "urllib", "http", "email")
#: What ``import swimcore`` has no use for before a node runs: logging, the command line, the
#: simulator, the drivers, OpenSSL hashes, msgpack, the discovery backends, and mypyc's
#: decorators (``mypy_extensions``: mypyc reads them at compile time, see swimcore._compiling).
NOT_AT_IMPORT = (
    "logging",
    "argparse",
    "hashlib",
    "msgpack",
    "mypy_extensions",
    *DISCOVERY_BACKENDS,
)
#: What a driver has no use for until a member has a store (host-name seeds or ``discovery=``):
#: the discovery package itself (its loop, host resolver and stores) and the backends.
NOT_WITHOUT_A_STORE = ("swimcore.transports.discovery", "mypy_extensions", *DISCOVERY_BACKENDS)
#: One member started on loopback and closed, per driver (``import swimcore`` first).
STARTED = {
    "thread": (
        "from swimcore.transports.thread import ThreadMember\n"
        "m = ThreadMember(swimcore.Config.lan(), name='a')\n"
        "m.start()\nm.close(leave=False)"
    ),
    "asyncio": (
        "import asyncio\nfrom swimcore.transports.asyncio import AsyncioMember\n"
        "async def run():\n"
        "    m = AsyncioMember(swimcore.Config.lan(), name='a')\n"
        "    await m.start()\n    await m.close(leave=False)\n"
        "asyncio.run(run())"
    ),
}


def _under(loaded: list[str], roots: tuple[str, ...]) -> list[str]:
    """The modules of ``loaded`` under ``roots`` (dotted prefixes) that the bare interpreter
    does not load already (an editable install's import hook, for one, loads pathlib and
    urllib.parse)."""
    bare = set(_loaded_after("pass"))
    return [
        m
        for m in loaded
        if any(m == root or m.startswith(root + ".") for root in roots) and m not in bare
    ]


def test_import_swimcore_loads_nothing_it_does_not_need_yet(loaded: list[str]) -> None:
    assert _under(loaded, NOT_AT_IMPORT) == []
    assert [m for m in loaded if m.startswith(("swimcore.sim", "swimcore.cli"))] == []


def test_the_diet_checks_would_notice() -> None:
    # Each module these tests keep out is loaded where it is used: the checks can fail.
    assert _under(_loaded_after("import logging"), NOT_AT_IMPORT) == ["logging"]
    pytest.importorskip("mypy_extensions")  # (installed with mypy, as in make test)
    assert _under(_loaded_after("import mypy_extensions"), NOT_AT_IMPORT) == ["mypy_extensions"]


@pytest.mark.parametrize("driver", ["asyncio", "thread"])
def test_a_driver_import_loads_no_discovery(driver: str) -> None:
    loaded = _loaded_after(f"import swimcore.transports.{driver}")
    assert f"swimcore.transports.{driver}" in loaded
    assert _under(loaded, NOT_WITHOUT_A_STORE) == []
    # ... and asking for a store loads its backend: the check above can fail.
    loaded = _loaded_after("from swimcore.transports.discovery import HttpStore")
    assert "urllib.request" in loaded


@pytest.mark.parametrize("driver", ["asyncio", "thread"])
def test_a_started_member_without_a_store_loads_no_discovery(driver: str) -> None:
    loaded = _loaded_after("import swimcore\n" + STARTED[driver])
    assert "swimcore.transports.member" in loaded
    assert _under(loaded, NOT_WITHOUT_A_STORE) == []


def test_a_member_with_host_name_seeds_loads_the_discovery_loop() -> None:
    # Built, not started: seeds given as host names make a store, so the loop is loaded.
    loaded = _loaded_after(
        "import swimcore\nfrom swimcore.transports.thread import ThreadMember\n"
        "ThreadMember(swimcore.Config.lan(), seeds=['localhost:7946'])"
    )
    assert "swimcore.transports.discovery.loop" in loaded
    assert "swimcore.transports.discovery.hosts" in loaded
    assert _under(loaded, NOT_UNTIL_LOGGED) == []  # the loop logs lazily too


#: What a thread member has no use for until a record could be written (see
#: swimcore.transports.lazy_log): logging, and concurrent.futures, which imports it.
NOT_UNTIL_LOGGED = ("logging", "concurrent")


def test_a_thread_member_loads_no_logging_until_it_logs() -> None:
    loaded = _loaded_after("import swimcore.transports.thread")
    assert "swimcore.transports.thread.member" in loaded
    assert _under(loaded, NOT_UNTIL_LOGGED) == []
    loaded = _loaded_after("import swimcore\n" + STARTED["thread"])
    assert "swimcore.transports.thread.tasks" in loaded
    assert _under(loaded, NOT_UNTIL_LOGGED) == []
    # ... while the asyncio driver has logging from asyncio itself: the check can fail.
    assert "logging" in _loaded_after("import swimcore.transports.asyncio")


def test_the_thread_driver_loads_no_asyncio() -> None:
    # asyncio costs about 4 MiB resident; only BridgedMember (loaded on first use) needs it.
    loaded = _loaded_after("import swimcore.transports.thread")
    assert "swimcore.transports.thread.member" in loaded
    assert _under(loaded, ("asyncio",)) == []
    assert "asyncio" in _loaded_after("from swimcore.transports.thread import BridgedMember")


def test_the_check_would_notice_a_forbidden_import() -> None:
    assert "socket" in _loaded_after("import socket")


def _core_sources() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    # swimcore.testing stands on the simulator, as the command line stands on the drivers.
    outer = {"cli", "transports", "__main__.py", "testing.py"}
    return [f for f in files if not outer & set(f.relative_to(PACKAGE).parts)]


def _violations(source: str) -> list[str]:
    """Forbidden imports and uses of the global ``random`` functions in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_IMPORTS:
                    found.append(f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if node.module.startswith(("swimcore.transports", "swimcore.cli")):
                found.append(f"from {node.module} import ... (an outer layer)")
            if root in FORBIDDEN_IMPORTS:
                found.append(f"from {node.module} import ...")
            if root == "random" and any(a.name != "Random" for a in node.names):
                found.append(f"from random import {', '.join(a.name for a in node.names)}")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "random"
            and node.attr != "Random"
        ):
            found.append(f"random.{node.attr}")
    return found


@pytest.mark.parametrize("path", _core_sources(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_core_source_has_no_clock_io_or_global_random(path: Path) -> None:
    assert _violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import time",
        "from swimcore.transports.sim import SimCluster",
        "import socket as s",
        "from asyncio import sleep",
        "import threading.local",
        "from random import random",
        "import random\nrandom.shuffle(x)",
        "import random\nrandom.seed(1)",
    ],
)
def test_the_scan_would_notice(source: str) -> None:
    assert _violations(source)


def test_the_scan_allows_an_injected_generator() -> None:
    assert _violations("import random\nrng: random.Random = random.Random(3)") == []
    assert _violations("from random import Random") == []


EXPECTED_API = [
    "Action",
    "Command",
    "Event",
    "Address",
    "AddressError",
    "AuthError",
    "BroadcastReceived",
    "ClockError",
    "Config",
    "ConfigError",
    "DecodeError",
    "DeliveryError",
    "ExchangeRefused",
    "ExchangeRequest",
    "JoinAddress",
    "JoinFailed",
    "JoinResult",
    "JoinError",
    "NameConflict",
    "Keyring",
    "LeaderChanged",
    "LogSink",
    "MemberAlive",
    "MemberFailed",
    "MemberInfo",
    "MemberJoined",
    "MemberLeft",
    "MemberStable",
    "MemberSuspected",
    "MemberUnstable",
    "MemberUpdated",
    "MembershipEvent",
    "MessageDelivered",
    "MessageFailed",
    "MessageReceived",
    "Node",
    "Outgoing",
    "RoundTrip",
    "Send",
    "State",
    "StateError",
    "SwimError",
    "__version__",
]


def test_public_api_surface() -> None:
    assert sorted(swimcore.__all__) == sorted(EXPECTED_API)
    assert len(set(swimcore.__all__)) == len(swimcore.__all__)


@pytest.mark.parametrize("name", EXPECTED_API)
def test_every_public_name_exists(name: str) -> None:
    assert hasattr(swimcore, name)


def test_no_public_module_level_name_escapes_all() -> None:
    public = {
        name
        for name, value in vars(swimcore).items()
        if not name.startswith("_") and not isinstance(value, type(swimcore))
    }
    assert public <= set(swimcore.__all__)


def _imported_modules(path: Path) -> set[str]:
    """The swimcore modules ``path`` imports anywhere: at the top, in functions, for typing."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("swimcore.")}


def _module_path(name: str) -> Path | None:
    relative = Path(*name.split(".")[1:])
    for candidate in (PACKAGE / relative / "__init__.py", PACKAGE / relative.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None  # a name imported from a module, not a module


def _reaches(start: str, target: str) -> list[str]:
    """An import path from ``start`` to ``target`` (every kind of import counts), or ``[]``."""
    paths = {start: [start]}
    todo = [start]
    while todo:
        name = todo.pop()
        path = _module_path(name)
        if path is None:
            continue
        for imported in sorted(_imported_modules(path)):
            if imported == target:
                return [*paths[name], target]
            if imported not in paths and _module_path(imported) is not None:
                paths[imported] = [*paths[name], imported]
                todo.append(imported)
    return []


def test_the_configuration_and_the_wire_contract_do_not_import_each_other() -> None:
    # The configuration checks ``wire`` against the profile names in swimcore.wire; the wire
    # contract must not lead back to it, not even for typing (the circle this replaced).
    assert _reaches("swimcore.config", "swimcore.config") == []
    assert _reaches("swimcore.wire", "swimcore.config") == []
    # ... while the loader of profiles does import the configuration: the walk can find one.
    assert _reaches("swimcore.wire.loading", "swimcore.config") == [
        "swimcore.wire.loading",
        "swimcore.config",
    ]
