"""Every driver takes ``keyring=``; ``swimcore run`` takes ``--key-file`` and ``--driver thread``.

A keyed pair converges on each driver, and a datagram that is not sealed is dropped as
``dropped.auth_failed``, which only a node holding the keyring counts.  The key file holds one
key per line (hex or base64, comments and blank lines skipped, the first one primary); a bad
or missing file is a clear error (exit status 2) that never shows the key.
"""

from __future__ import annotations

import base64
import logging
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest
from security_support import KEY_A, KEY_B, KEY_C
from support.configs import fast
from support.poll import eventually, eventually_blocking

from swimcore import Keyring
from swimcore.cli import main
from swimcore.cli.run import read_key_file
from swimcore.transports import AnyioMember, BridgedMember, ThreadMember

#: support's FAST in a labelled group: the label is bound into every sealed datagram.
LABELLED = fast(label="k")
SHORT = ["--preset", "local", "--duration", "0.4", "--print-every", "0.1"]


def poke(address: Any) -> None:
    """One datagram that is not sealed, from a raw socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(b"\x00" * 64, (str(address.ip), address.port))


async def keyed_pair(cls: Any) -> None:
    ring = Keyring(KEY_A)
    async with (
        cls(LABELLED, keyring=ring, leave_on_exit=False) as a,
        cls(LABELLED, seeds=[a.address], keyring=ring, leave_on_exit=False) as b,
    ):
        await eventually(
            lambda: len(a.members()) == 2 and len(b.members()) == 2,
            "the keyed pair did not converge",
        )
        poke(a.address)
        await eventually(
            lambda: a.counters().get("dropped.auth_failed", 0) >= 1,
            "an unsealed datagram was not refused",
        )


@pytest.mark.parametrize(
    ("cls", "backend"),
    [(AnyioMember, "asyncio"), (AnyioMember, "trio"), (BridgedMember, "asyncio")],
    ids=["anyio-asyncio", "anyio-trio", "bridged"],
)
def test_async_drivers_take_a_keyring(cls: Any, backend: str) -> None:
    anyio.run(keyed_pair, cls, backend=backend)


def test_the_thread_driver_takes_a_keyring() -> None:
    ring = Keyring(KEY_A)
    with (
        ThreadMember(LABELLED, keyring=ring, leave_on_exit=False) as a,
        ThreadMember(LABELLED, seeds=[a.address], keyring=ring, leave_on_exit=False) as b,
    ):
        eventually_blocking(
            lambda: len(a.members()) == 2 and len(b.members()) == 2,
            "the keyed pair did not converge",
        )
        poke(a.address)
        eventually_blocking(
            lambda: a.counters().get("dropped.auth_failed", 0) >= 1,
            "an unsealed datagram was not refused",
        )


def test_a_key_file_holds_hex_and_base64_keys_primary_first(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(
        f"# rotation in progress\n{KEY_B.hex()}\n\n  {base64.b64encode(KEY_A).decode()}  \n"
        f"{KEY_C.hex().upper()}\n"
    )
    ring = read_key_file(str(path))
    assert ring.keys == (KEY_B, KEY_A, KEY_C)
    assert ring.primary == KEY_B


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no key in it"),
        ("# only a comment\n", "no key in it"),
        (f"{KEY_A.hex()}\nnot-a-key\n", "line 2: not a key"),
        (f"{KEY_A.hex()[:-2]}\n", "line 1: not a key"),  # 31 bytes
        (base64.b64encode(b"x" * 20).decode(), "line 1: not a key"),  # 20 bytes
    ],
)
def test_a_bad_key_file_is_a_clear_error_without_the_key(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys"
    path.write_text(text)
    assert main(["run", "g", "127.0.0.1:0", "127.0.0.1:0", "--key-file", str(path), *SHORT]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert KEY_A.hex()[:16] not in err


def test_a_missing_key_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent"
    assert main(["run", "g", "127.0.0.1:0", "127.0.0.1:0", "--key-file", str(path), *SHORT]) == 2
    assert "cannot read it" in capsys.readouterr().err


@pytest.mark.parametrize("driver", ["asyncio", "thread"])
def test_swimcore_run_with_a_key_file(
    driver: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys"
    path.write_text(KEY_A.hex() + "\n")
    caplog.set_level(logging.INFO, logger="swimcore")
    argv = ["run", "g", "127.0.0.1:0", "127.0.0.1:0", "--key-file", str(path), "--driver", driver]
    assert main([*argv, *SHORT]) == 0
    started = [r for r in caplog.records if r.name == "swimcore.cli" and "in group" in r.message]
    assert len(started) == 1
    assert f"(driver {driver}, encrypted)" in started[0].message
