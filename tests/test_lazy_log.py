"""The drivers' loggers load ``logging`` only once a record could be written.

Without ``logging`` imported, nothing configured a level, so the root logger's WARNING drops
DEBUG and INFO: :class:`LazyLogger` drops them too, and makes the real logger for anything
louder or once the program imported ``logging``.  Records still name the line that logged.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest

from swimcore.transports.lazy_log import LazyLogger, deferred
from swimcore.transports.logs import MemberLogger


class Recorder:
    """Stands for a real logger: records the calls it gets."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, object, tuple[object, ...], dict[str, Any]]] = []

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        self.calls.append((level, msg, args, kwargs))

    def isEnabledFor(self, level: int) -> bool:
        return True


def lazy_recorder() -> tuple[LazyLogger, list[Recorder]]:
    made: list[Recorder] = []

    def make() -> Any:
        made.append(Recorder())
        return made[-1]

    return LazyLogger(make), made


def test_without_logging_loaded_debug_and_info_are_dropped_unmade(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "logging")
    lazy, made = lazy_recorder()
    lazy.debug("detail %d", 1)
    lazy.info("started")
    lazy.log(15, "between")
    assert not lazy.isEnabledFor(logging.INFO)
    assert made == []
    lazy.warning("louder %s", "x")
    assert len(made) == 1
    assert made[0].calls == [(logging.WARNING, "louder %s", ("x",), {"stacklevel": 2})]


def test_once_logging_is_loaded_every_record_goes_to_the_real_logger() -> None:
    assert "logging" in sys.modules  # (imported above, as a program that logs would)
    lazy, made = lazy_recorder()
    lazy.debug("detail")
    lazy.exception("failed")
    assert [(level, msg) for level, msg, _, _ in made[0].calls] == [
        (logging.DEBUG, "detail"),
        (logging.ERROR, "failed"),
    ]
    assert made[0].calls[1][3]["exc_info"] is True
    assert len(made) == 1  # made once


def test_deferred_gives_the_real_logger_when_logging_is_loaded() -> None:
    real = logging.getLogger("swimcore.test")
    assert deferred(lambda: real) is real


@pytest.mark.parametrize("adapter", [False, True])
def test_records_name_the_line_that_logged(adapter: bool, caplog: pytest.LogCaptureFixture) -> None:
    real = logging.getLogger("swimcore.test.lines")
    lazy = LazyLogger(lambda: MemberLogger(real, "m") if adapter else real)
    caplog.set_level(logging.DEBUG, logger="swimcore.test.lines")
    lazy.info("one")
    lazy.warning("two")
    lazy.log(logging.DEBUG, "three")
    try:
        raise ValueError("four")
    except ValueError:
        lazy.exception("four")
    records = [r for r in caplog.records if r.name == "swimcore.test.lines"]
    assert len(records) == 4
    for record in records:
        assert record.funcName == "test_records_name_the_line_that_logged", record
        assert record.pathname == __file__
    assert records[3].exc_info is not None
    if adapter:
        assert records[0].getMessage() == "[m] one"


THREAD_MEMBERS = """
import sys, time, swimcore
from swimcore.transports.thread import ThreadMember
config = swimcore.Config.local()
with ThreadMember(config, name="a") as a:
    print("after start:", "logging" in sys.modules, flush=True)
    a.on_event(lambda event: 1 / 0)
    with ThreadMember(config, name="b", seeds=[a.address]) as b:
        deadline = time.monotonic() + 20
        while "logging" not in sys.modules and time.monotonic() < deadline:
            time.sleep(0.05)
print("at the end:", "logging" in sys.modules, flush=True)
"""


def test_a_thread_member_logs_its_warnings_without_logging_loaded_at_start() -> None:
    # Two members join; a's event callback fails: its ERROR record loads logging and reaches
    # stderr through logging's last-resort handler, as before; the INFO records never do.
    out = subprocess.run(
        [sys.executable, "-c", THREAD_MEMBERS],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.split("\n")[:2] == ["after start: False", "at the end: True"]
    assert "event callback" in out.stderr
    assert "ZeroDivisionError" in out.stderr
    assert "started at" not in out.stderr
