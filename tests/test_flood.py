"""A member under a flood of junk: 100,000 datagrams a second for 5 s from another process.

Three real members (``tests/netns/member.py``, the asyncio driver, each in its own process) form
a group on loopback; a fourth process (``tests/netns/flood.py``) floods one of them with junk
(random bytes, bad bodies behind a valid header, a foreign label, oversized datagrams) from
eight source ports, bounded to 500,000 datagrams and 5 seconds.  The flooded member must keep
its resident memory flat, keep answering its peers' probes, and nobody may be declared dead.

When network namespaces can be made (root), everything runs inside a private one, so the
kernel's UDP counters (receive-buffer drops) belong to this test alone; otherwise on the host's
loopback.  The figures are printed: datagrams sent, dropped by reason, RSS before and after.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "netns"))

import nslib

# Real processes flooding one another and a measured rate: run alone, not beside other tests.
pytestmark = pytest.mark.exclusive

RATE = 100_000
SECONDS = 5.0
COUNT = 500_000
#: Generous bound on resident-memory growth of the flooded process (interpreter noise).
RSS_SLACK_KIB = 32 * 1024
JUNK_REASONS = ("dropped.malformed", "dropped.foreign_label", "dropped.oversized")


@pytest.fixture(scope="module")
def place() -> Iterator[tuple[list[str], str]]:
    """(command prefix, where) for the processes: a private namespace when possible."""
    reason = nslib.why_not()
    if reason is not None:
        yield [], f"host loopback ({reason})"
        return
    with nslib.Hosts(1) as hosts:
        yield hosts.exec_prefix(0), f"namespace {hosts.names[0]}"


def kernel_udp(prefix: list[str]) -> dict[str, int]:
    command = [*prefix, "cat", "/proc/net/snmp"]
    out = subprocess.run(command, check=False, capture_output=True, text=True)
    return nslib.parse_udp_stats(out.stdout)


def delta(after: dict[str, int], before: dict[str, int], key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


def test_a_flooded_member_stays_flat_answers_probes_and_nobody_dies(
    place: tuple[list[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    prefix, where = place
    processes: list[nslib.MemberProcess] = []
    with nslib.members(processes):
        target = nslib.MemberProcess(["--bind", "127.0.0.1:0"], prefix, label="flooded")
        processes.append(target)
        for i in range(2):
            processes.append(
                nslib.MemberProcess(
                    ["--bind", "127.0.0.1:0", "--seeds", target.address], prefix, label=f"p{i}"
                )
            )
        nslib.wait_until(lambda: all(len(p.members()) == 3 for p in processes), timeout=30)
        time.sleep(2.0)  # warm up: a few protocol periods
        rss_before = target.ask("rss", "rss")
        before = [p.counters() for p in processes]
        kernel_before = kernel_udp(prefix)

        command = [
            *prefix, sys.executable, str(nslib.HERE / "flood.py"), "--target", target.address,
            "--rate", str(RATE), "--seconds", str(SECONDS), "--count", str(COUNT),
        ]  # fmt: skip
        run = subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
        flood = json.loads(run.stdout)
        just_after = [p.counters() for p in processes[1:]]
        time.sleep(3.0)  # let the backlog drain and any suspicion run its course
        rss_after = target.ask("rss", "rss")
        after = [p.counters() for p in processes]
        kernel_after = kernel_udp(prefix)
        failed = [(p.label, e["member"]) for p in processes for e in p.events_of("MemberFailed")]
        suspected = [
            (p.label, e["member"]) for p in processes for e in p.events_of("MemberSuspected")
        ]

    t_before, t_after = before[0], after[0]
    drops = {k: delta(t_after, t_before, k) for k in sorted(t_after) if k.startswith("dropped.")}
    drops = {k: v for k, v in drops.items() if v}
    kernel_drops = delta(kernel_after, kernel_before, "RcvbufErrors")
    acked = [delta(j, b, "probes_acked") for j, b in zip(just_after, before[1:], strict=True)]
    answered = delta(t_after, t_before, "sent.ack")
    with capsys.disabled():
        print(
            f"\nflood ({where}): sent {flood['sent']} junk datagrams in {flood['seconds']} s "
            f"({flood['rate']}/s, mix {flood['mix']})\n"
            f"  dropped by the node, by reason: {drops}\n"
            f"  dropped by the kernel (receive buffer full, whole namespace): {kernel_drops}\n"
            f"  RSS of the flooded member: {rss_before} KiB before, {rss_after} KiB after "
            f"({rss_after - rss_before:+d} KiB)\n"
            f"  acks sent by the flooded member: {answered}; probes of it acked per peer "
            f"during the flood: {acked}\n"
            f"  suspicions raised: {suspected or 'none'}; deaths declared: {failed or 'none'}"
        )
    assert flood["sent"] >= 50_000, "the flood itself was too weak to show anything"
    for reason in JUNK_REASONS:
        assert drops.get(reason, 0) > 0, f"{reason} was never counted"
    assert "dropped.internal_error" not in drops
    assert rss_after - rss_before < RSS_SLACK_KIB, "resident memory grew under the flood"
    assert all(n > 0 for n in acked), "the flooded member stopped answering probes"
    assert failed == [], "a member was declared dead"
    assert [c["live_members"] for c in after] == [3, 3, 3], "the group lost a member"
