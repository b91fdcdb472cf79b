"""The thread driver's Outcome behaves as the part of concurrent.futures.Future it replaces."""

from __future__ import annotations

import threading

import pytest

from swimcore.transports.thread.tasks import Outcome


def test_result_waits_for_the_value_set_by_another_thread() -> None:
    outcome: Outcome[int] = Outcome()
    assert not outcome.done()
    threading.Timer(0.05, outcome.set_result, (7,)).start()
    assert outcome.result(5.0) == 7
    assert outcome.done()


def test_result_raises_the_error_and_times_out() -> None:
    outcome: Outcome[None] = Outcome()
    with pytest.raises(TimeoutError):
        outcome.result(0.01)
    outcome.set_exception(ValueError("no"))
    with pytest.raises(ValueError, match="no"):
        outcome.result()


def test_it_is_set_once() -> None:
    outcome: Outcome[int] = Outcome()
    outcome.set_result(1)
    with pytest.raises(RuntimeError):
        outcome.set_exception(ValueError())
    assert outcome.result() == 1


def test_callbacks_run_once_settled_or_at_once(caplog: pytest.LogCaptureFixture) -> None:
    outcome: Outcome[int] = Outcome()
    seen: list[int] = []
    outcome.add_done_callback(lambda o: seen.append(o.result()))
    outcome.add_done_callback(lambda o: 1 / 0)  # logged, the others still run
    assert seen == []
    outcome.set_result(3)
    outcome.add_done_callback(lambda o: seen.append(o.result() + 1))
    assert seen == [3, 4]
    assert any("exception calling callback" in r.getMessage() for r in caplog.records)
