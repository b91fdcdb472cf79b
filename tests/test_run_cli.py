"""``swimcore run`` in process: argument checks, exit codes, and short runs on each driver."""

from __future__ import annotations

import socket

import pytest

from swimcore.cli import main
from swimcore.cli.run import _advertise

SHORT = ["--preset", "local", "--duration", "0.4", "--print-every", "0.1"]


@pytest.mark.parametrize("driver", ["asyncio", "anyio", "trio", "thread"])
def test_a_member_that_joins_itself_runs_alone_and_stops(
    driver: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "g", "127.0.0.1:0", "127.0.0.1:0", "--driver", driver, *SHORT])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("members (1): 127.0.0.1:")
    assert "[leader 127.0.0.1:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["g", "127.0.0.1:0"], "JOIN_ADDR"),
        (["g", "0.0.0.0:0", "127.0.0.1:1"], "advertise"),
        (["g", "127.0.0.1:0", "127.0.0.1:0", "--set", "no_such_field=1"], "--set"),
        (["g", "127.0.0.1:0", "127.0.0.1:0", "--set", "probe_interval=-1"], "probe_interval"),
        (["g", "127.0.0.1:0", "127.0.0.1:0", "--set", "indirect_checks=x"], "indirect_checks"),
        (["g", "127.0.0.1:0", "--store", "zookeeper:x"], "unknown store"),
        (["g", "127.0.0.1:0", "10.0.0.1:0"], "JOIN_ADDR"),
        (["g", "localhost:7946", "127.0.0.1:1"], "IP"),
        # The label comes from GROUP, not --set: the message names what the user typed.
        (["g" * 65, "127.0.0.1:0", "127.0.0.1:0"], "argument GROUP: want a label of at most 64"),
    ],
)
def test_bad_arguments_exit_with_status_2_and_say_why(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *argv, *SHORT]) == 2
    assert message in capsys.readouterr().err


def test_a_port_in_use_exits_with_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert main(["run", "g", f"127.0.0.1:{port}", f"127.0.0.1:{port}", *SHORT]) == 1
    assert "cannot bind" in capsys.readouterr().err


def test_a_wildcard_bind_advertises_the_given_address(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "g", "0.0.0.0:0", "0.0.0.0:0", "--advertise", "127.0.0.1", *SHORT]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "members (1): 127.0.0.1:" in out
    assert "0.0.0.0" not in out


@pytest.mark.parametrize(
    ("advertise", "bind", "expected"),
    [
        (None, "0.0.0.0:7946", None),
        ("10.1.2.3", "0.0.0.0:7946", "10.1.2.3:7946"),
        ("10.1.2.3:9000", "0.0.0.0:7946", "10.1.2.3:9000"),
        ("fd00::1", "[::]:7946", "[fd00::1]:7946"),
        ("[fd00::1]", "[::]:7946", "[fd00::1]:7946"),
        ("[fd00::1]:9", "[::]:7946", "[fd00::1]:9"),
    ],
)
def test_advertise_may_leave_out_the_port(
    advertise: str | None, bind: str, expected: str | None
) -> None:
    assert _advertise(advertise, bind) == expected


def test_help_names_the_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in ("GROUP", "MEMBER_ADDR", "JOIN_ADDR", "--store", "--join-every"):
        assert word in text


@pytest.mark.parametrize("argv", [["--bogus"], ["--bogus", "simulate"], ["-x", "--version"]])
def test_an_unknown_option_before_the_command_is_named(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {argv[0]}" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("driver", ["anyio", "trio"])
def test_a_port_in_use_is_one_line_on_the_anyio_and_trio_drivers(
    driver: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """anyio's task group wraps the bind error in an ExceptionGroup: it printed a traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        argv = ["run", "g", f"127.0.0.1:{port}", f"127.0.0.1:{port}", "--driver", driver]
        assert main([*argv, *SHORT]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"swimcore run: cannot bind 127.0.0.1:{port}: ")
    assert "Address already in use" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--join-every", "5"], "--join-every"),
        (["--discovery-interval", "5"], "--discovery-interval"),
        (["--prefix", "x"], "--prefix"),
        (["--store-put", "http://127.0.0.1:1/{value}"], "--store-put"),
        (["--store-method", "POST"], "--store-method"),
        (
            ["--join-every", "5", "--prefix", "x", "--store-method", "BOGUS"],
            "--store-method, --prefix, --join-every",
        ),
    ],
)
def test_store_options_without_a_store_are_refused(
    extra: list[str],
    named: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """They were ignored: the member joined through JOIN_ADDR and ran, exit status 0."""
    monkeypatch.delenv("SWIMCORE_STORE", raising=False)
    assert main(["run", "g", "127.0.0.1:0", "127.0.0.1:0", *extra, *SHORT]) == 2
    err = capsys.readouterr().err
    assert err == f"swimcore run: without --store there is no store for {named}\n"


@pytest.mark.parametrize(
    ("store", "extra", "message"),
    [
        ("file:/tmp/swimcore-join", ["--prefix", "x"], "--prefix does not apply to a file: store"),
        (
            "static:127.0.0.1:7000",
            ["--store-put", "http://127.0.0.1:1/{value}", "--store-method", "POST"],
            "--store-put, --store-method do not apply to a static: store",
        ),
        ("dns:swim.local:7946", ["--store-method", "POST"], "--store-method does not apply"),
    ],
)
def test_http_store_options_with_another_store_are_refused(
    store: str, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """They were ignored: the member ran with the store as if they were not given."""
    assert main(["run", "g", "127.0.0.1:0", "--store", store, *extra, *SHORT]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"swimcore run: {message}") and err.endswith("only to http(s)\n")


def test_a_label_set_apart_from_group_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """``--set label=other`` overrode GROUP silently (the member ran in group 'other')."""
    argv = ["run", "g", "127.0.0.1:0", "127.0.0.1:0", "--set", "label=other", *SHORT]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == "swimcore run: --set label='other' contradicts GROUP 'g': leave it out\n"
    assert main(["run", "g", "127.0.0.1:0", "127.0.0.1:0", "--set", "label=g", *SHORT]) == 0


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("http://", "--store 'http://': want an http(s) URL with a host"),
        ("https:///x/{group}", "--store 'https:///x/{group}': want an http(s) URL with a host"),
        (
            "file:/nonexistent/dir/x",
            "--store 'file:/nonexistent/dir/x': the folder '/nonexistent/dir' does not exist",
        ),
    ],
)
def test_a_store_that_cannot_work_is_refused_at_start(
    store: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """They were accepted and only warned about while the member ran."""
    assert main(["run", "g", "127.0.0.1:0", "--store", store, *SHORT]) == 2
    assert capsys.readouterr().err == f"swimcore run: {message}\n"


def test_a_store_put_url_without_a_host_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "g", "127.0.0.1:0", "--store", "http://127.0.0.1:1/{group}"]
    assert main([*argv, "--store-put", "http:///{value}", *SHORT]) == 2
    err = capsys.readouterr().err
    assert err == "swimcore run: --store-put 'http:///{value}': want an http(s) URL with a host\n"
