"""examples/kv_store.py in a mixed cluster: a Go memberlist node and swimcore members share one
last-writer-wins store through the push-pull user state (memberlist's LocalState and
MergeRemoteState on the Go side, ``local_state``/``merge_state`` on ours).

The Go peer's store (tests/memberlist_peer/kv.go, flag ``-kv``) writes the example's JSON byte
for byte and keeps its merge rule: first checked without a cluster, entry by entry, then with
writes at the Go node and at swimcore members converging everywhere, on every driver, and with
the example's own live mode joined to a Go node.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from memberlist_peer.harness import FAST, GoPeer, peer_binary
from support.configs import fast
from support.matrix import Driver
from support.poll import eventually

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import kv_store  # noqa: E402

#: The Go side exchanges state every second; ours every half second (config below).
GO_SETTINGS = {**FAST, "push-pull-interval": 1000}


def _dump(go: GoPeer) -> dict[str, Any]:
    return go.ask("kv-dump")


def test_the_go_store_writes_and_merges_exactly_as_the_example() -> None:
    peer_binary()
    ours = kv_store.LwwStore("py")
    # Floats that Python prints in each of its notations, strings with every kind of escape.
    for key, stamp, value in [
        ("plain", 1796000000.1234567, "v"),
        ("big", 1e16, "ü ☃ 😀"),  # ASCII-only JSON: \u escapes, a surrogate pair
        ("small", 1e-05, '"quoted" \\ back\tslash\n'),
        ("zero", -0.0, "\x7f\x01"),
        ("fixed", 1234567.0, ""),
        ("Ünïcode key", 0.1, "x"),
    ]:
        ours.set(key, value, stamp)
    go = GoPeer("go1", kv=True)
    try:
        merged = go.ask("kv-merge", line="kv-merge " + ours.local_state(False).decode())
        assert "error" not in merged and merged["merged"] == 1
        # Same store, same bytes: Go's LocalState is the example's local_state.
        assert merged["state"].encode() == ours.local_state(False)

        # The rule: (stamp, writer) decides, whichever copy hears it first.
        newer = kv_store.LwwStore("a-writer")
        newer.set("plain", "newer", 1796000000.1234567 + 1)  # later stamp
        newer.set("fixed", "tie, larger writer", 1234567.0)  # "py" > "a-writer": loses
        newer.set("zero", "tie at +0.0", 0.0)  # -0.0 == 0.0, "py" > "a-writer": loses
        state = newer.local_state(False)
        ours.merge_state(state, False)
        after = go.ask("kv-merge", line="kv-merge " + state.decode())
        assert after["state"].encode() == ours.local_state(False)
        assert ours.items["plain"][2] == "newer" and ours.items["fixed"][2] == ""

        # What either refuses, both refuse, whole (nothing of it merged).
        before = ours.local_state(False)
        refused = [
            '{"a": 1}',
            '[["k", [1, "w"]]]',
            '[["k", [null, "w", "v"]]]',
            '[["k", [true, "w", "v"]]]',
            '[["k", ["1", "w", "v"]]]',
            '[["k", [1, "w", null]]]',
            '[["k", [1, 2, "v"]]]',
            '[["k", [NaN, "w", "v"]]]',
            '[["k", [1e999, "w", "v"]]]',
            '[["k", [1, "w", "\\ud800"]]]',
            '[["ok", [9e9, "w", "v"]], ["k", [1, "w", "v", "extra"]]]',
        ]
        for bad in refused:
            with pytest.raises((ValueError, TypeError)):
                ours.merge_state(bad.encode(), False)
            answer = go.ask("kv-merge", line="kv-merge " + bad)
            assert "error" in answer, bad
            assert answer["state"].encode() == before, bad
        assert ours.local_state(False) == before
        assert _dump(go)["rejected"] == len(refused)
    finally:
        go.stop()


def test_a_go_node_and_swimcore_members_share_one_store(driver: Driver) -> None:
    """Writes at the Go node and at swimcore members, before and after the join, reach every
    member; the latest write of a key wins everywhere; both sides end with the same bytes."""
    peer_binary()
    config = fast("memberlist", push_pull_interval=0.5)
    stores = {name: kv_store.LwwStore(name) for name in ("sc1", "sc2")}

    async def story(driver: Driver) -> None:
        go = await anyio.to_thread.run_sync(lambda: GoPeer("go1", kv=True, settings=GO_SETTINGS))
        try:
            green = go.ask("kv-set", line="kv-set color green")
            written = {("color", "go1"): (green["stamp"], "go1", "green")}
            async with (
                driver.member(config, name="sc1", seeds=[go.address], leave_on_exit=False,
                              **stores["sc1"].hooks()) as sc1,
                driver.member(config, name="sc2", seeds=[go.address], leave_on_exit=False,
                              **stores["sc2"].hooks()) as sc2,
            ):  # fmt: skip
                # The joins' exchanges carry the Go node's store.
                await eventually(
                    lambda: all(s.snapshot().get("color") == written[("color", "go1")]
                                for s in stores.values()),
                    f"{driver.id}: the Go node's write did not come with the join",
                )  # fmt: skip
                written[("color", "sc1")] = stores["sc1"].set("color", 'blue "ü" \\')
                written[("size", "sc2")] = stores["sc2"].set("size", "M")
                shape = await anyio.to_thread.run_sync(
                    lambda: go.ask("kv-set", line="kv-set shape round ☃")
                )
                written[("shape", "go1")] = (shape["stamp"], "go1", "round ☃")
                expected: dict[str, tuple[float, str, str]] = {}
                for (key, _), entry in written.items():
                    if key not in expected or entry[:2] > expected[key][:2]:
                        expected[key] = entry

                go_state = b""
                with anyio.fail_after(15):
                    while True:
                        go_state = (await anyio.to_thread.run_sync(_dump, go))["state"].encode()
                        states = {s.local_state(False) for s in stores.values()} | {go_state}
                        if len(states) == 1 and len(stores["sc1"].snapshot()) == len(expected):
                            break
                        await anyio.sleep(0.1)
                as_read = kv_store.LwwStore("reader")
                as_read.merge_state(go_state, False)
                assert as_read.snapshot() == expected
                for member in (sc1, sc2):
                    assert member.counters().get("state_errors", 0) == 0
                    assert {m.name for m in member.members()} == {"go1", "sc1", "sc2"}
            final = _dump(go)
            assert final["rejected"] == 0 and final["merged"] >= 2
        finally:
            await anyio.to_thread.run_sync(go.stop)

    driver.run(story)


def test_the_live_example_joins_a_go_node() -> None:
    """``examples/kv_store.py --driver thread --wire memberlist --join GO``: the example's
    members and the Go node end with one store."""
    peer_binary()
    go = GoPeer("go1", kv=True, settings=GO_SETTINGS)
    try:
        go.ask("kv-set", line="kv-set from-go hi")
        done = subprocess.run(
            [sys.executable, "examples/kv_store.py", "--driver", "thread", "--wire", "memberlist",
             "--join", go.address, "--seconds", "20"],
            check=False, capture_output=True, text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "3 members (thread), all the same:" in done.stdout
        assert "from-go = 'hi' (written by go1" in done.stdout
        keys = {key for key, _ in json.loads(_dump(go)["state"])}
        assert keys == {"from-go", "written-by-kv0", "written-by-kv1", "written-by-kv2"}
    finally:
        go.stop()
