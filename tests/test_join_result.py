"""A join attempt reports how it ended: the seeds reached, or a JoinError naming each failure."""

from __future__ import annotations

from helpers import Link, addr, make_node

from swimcore import Config, JoinError, JoinFailed, JoinResult


def test_a_join_reports_the_seeds_it_reached_and_the_ones_it_did_not() -> None:
    a, b, joiner = make_node(1), make_node(2), make_node(3)
    link = Link()
    link.add(a, b, joiner)
    link.carry(a, a.start(0.0), 0.0)
    link.carry(b, b.start(0.0), 0.0)
    missing = addr(9)  # nobody there: the link fails that exchange
    link.carry(joiner, joiner.join([a.address, missing, b.address], 0.0), 0.0)
    (result,) = link.events_of(joiner.name, JoinResult)
    assert result.reached == (a.address, b.address)
    assert result.failures == ((missing, "unreachable"),)
    assert result.error is None


def test_a_join_that_reaches_no_seed_carries_a_join_error() -> None:
    joiner = make_node(3)
    link = Link()
    link.add(joiner)
    link.carry(joiner, joiner.join([addr(8), addr(9)], 0.0), 0.0)
    (result,) = link.events_of(joiner.name, JoinResult)
    assert result.reached == ()
    error = result.error
    assert isinstance(error, JoinError)
    assert error.failures == ((addr(8), "unreachable"), (addr(9), "unreachable"))
    assert "no seed reached" in str(error) and str(addr(9)) in str(error)


def test_each_retry_while_alone_reports_its_own_result() -> None:
    joiner = make_node(3, Config.lan(join_retry_interval=1.0))
    link = Link()
    link.add(joiner)
    link.carry(joiner, joiner.join([addr(8)], 0.0), 0.0)
    link.run(until=10.0, step=0.1)
    results = link.events_of(joiner.name, JoinResult)
    failures = link.events_of(joiner.name, JoinFailed)
    assert len(results) >= 3
    assert len(results) == len(failures)  # one seed per attempt
    assert all(result.error is not None for result in results)


def test_a_refused_join_is_a_failure_with_the_reason() -> None:
    seed = make_node(1, Config.lan(label="g"))
    joiner = make_node(2, Config.lan(label="other"))
    link = Link()
    link.add(seed, joiner)
    link.carry(seed, seed.start(0.0), 0.0)
    link.carry(joiner, joiner.join([seed.address], 0.0), 0.0)
    (result,) = link.events_of(joiner.name, JoinResult)
    assert result.reached == ()
    assert "group label differs" in result.failures[0][1]
