"""A new user's first run: what issue 19 found, one test per finding.

Each test fails on 25ef229 (before the command line checked its options): a ``--print-every``
of 0 that ignored signals, the README's own command that did not parse, options accepted
silently or explained with argparse's internal names, no ``--version``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from swimcore.cli import main

ROOT = Path(__file__).resolve().parent.parent
RUN = ["run", "g", "127.0.0.1:0", "127.0.0.1:0"]


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swimcore", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=timeout,
    )


def _one_line_error(err: str, *words: str) -> None:
    """stderr is one line that names every word, and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, err)


# ---------------------------------------------------------------- finding 1: cannot be stopped


@pytest.mark.parametrize(
    ("option", "value"),
    [("--print-every", "0"), ("--print-every", "-1"), ("--print-every", "nan"),
     ("--duration", "-5"), ("--duration", "inf")],
)  # fmt: skip
def test_periods_that_would_spin_or_never_end_are_refused(option: str, value: str) -> None:
    # On 25ef229 the first two spin without yielding (only SIGKILL stops them) and the others
    # run forever: the timeout turns that into a failure instead of a hung suite.
    done = _cli(*RUN, option, value, timeout=20)
    assert done.returncode == 2
    _one_line_error(done.stderr, option, repr(value))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_member_printing_at_the_fastest_rate(signum: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "swimcore", *RUN, "--print-every", "0.1", "--preset", "local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("members (1)")  # it is serving
        process.send_signal(signum)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "stopping: leaving the group" in err
    assert "Traceback" not in err


# ---------------------------------------------------- finding 2: options and positionals mixed


def _documentation() -> str:
    """The README and the docs pages, where a user reads the commands."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    return "\n".join(page.read_text() for page in pages)


def _readme_commands() -> list[str]:
    text = _documentation()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("swimcore ")]


def test_the_readme_across_machines_command_parses() -> None:
    from swimcore.cli import _subcommands, build_parser  # noqa: PLC0415

    command = next(c for c in _readme_commands() if "--advertise" in c)
    words = command.split()[1:]
    assert words.index("--advertise") < len(words) - 2  # a positional comes after the option
    args = _subcommands(build_parser())["run"].parse_intermixed_args(words[1:])
    assert (args.group, args.member_addr, args.advertise, args.join_addr) == (
        "prod", "0.0.0.0:7946", "10.0.0.5", "10.0.0.4:7946"
    )  # fmt: skip


def test_options_may_come_before_between_and_after_the_positionals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["run", "--preset", "local", "g", "--duration", "0.3", "127.0.0.1:0",
            "--print-every", "0.1", "127.0.0.1:0"]  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("members (1): 127.0.0.1:")


# --------------------------------------------------- finding 4: silent or badly explained input


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([*RUN, "--set", "lifeguard_buddy=maybe"], ["--set", "lifeguard_buddy", "true or false"]),
        ([*RUN, "--set", "probe_interval=abc"], ["--set", "probe_interval", "'abc'"]),
        ([*RUN, "--set", "probe_interval=-1"], ["--set", "probe_interval"]),
        ([*RUN, "--set", "nonsense=1"], ["--set", "FIELD=VALUE", "probe_interval"]),
        ([*RUN, "--log-level", "LOUD"], ["--log-level", "LOUD", "DEBUG", "WARNING"]),
        ([*RUN, "--join-every", "-1"], ["--join-every", ">= 0"]),
        ([*RUN, "--discovery-interval", "0"], ["--discovery-interval", "> 0"]),
        ([*RUN, "--driver", "uv"], ["--driver", "asyncio", "trio"]),
        (["run", "g", "notanaddress"], ["MEMBER_ADDR", "notanaddress"]),
        (["run", "g", "127.0.0.1:0", "nowhere"], ["JOIN_ADDR", "nowhere"]),
        (["simulate", "--crashes", "500", "--nodes", "10"], ["--crashes 500", "--nodes 10", "9"]),
        (["simulate", "--nodes", "abc"], ["--nodes", "whole number", "'abc'"]),
        (["simulate", "--loss", "x"], ["--loss", "0..1", "'x'"]),
        (["simulate", "--seed", "x"], ["--seed", "whole number"]),
        (["simulate", "--set", "lifeguard_buddy=maybe"], ["--set", "lifeguard_buddy"]),
        (["tune", "--nodes", "abc"], ["--nodes", ">= 3", "'abc'"]),
        (["tune", "--nodes", "10", "--loss", "x"], ["--loss", "'x'"]),
        (["tune", "--nodes", "10", "--jobs", "x"], ["--jobs", "whole number", "'x'"]),
        (["bogus"], ["bogus", "run", "simulate", "tune"]),
    ],
)
def test_a_bad_option_is_one_line_naming_it_and_what_is_accepted(
    argv: list[str], words: list[str]
) -> None:
    done = _cli(*argv, timeout=20)
    assert done.returncode == 2
    assert "invalid" not in done.stderr.replace("invalid choice", "")  # no argparse internals
    _one_line_error(done.stderr, *words)


@pytest.mark.parametrize(("driver", "module"), [("anyio", "anyio"), ("trio", "trio")])
def test_a_driver_without_its_extra_names_the_extra(
    driver: str, module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    assert main([*RUN, "--driver", driver, "--duration", "0.2"]) == 2
    _one_line_error(capsys.readouterr().err, f"--driver {driver}", "swimcore[transports]")


def test_the_log_names_the_group_and_set_label_cannot_change_it(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*RUN, "--set", "label=g", "--preset", "local", "--duration", "0.2"]
    with caplog.at_level("INFO", logger="swimcore.cli"):
        assert main(argv) == 0
    assert "in group 'g'" in caplog.text
    capsys.readouterr()
    # A label other than GROUP was taken silently (the member ran in group 'other'): refused.
    assert main([*RUN, "--set", "label=other", "--duration", "0.2"]) == 2
    _one_line_error(capsys.readouterr().err, "--set label='other'", "GROUP 'g'")


# -------------------------------------------------------------- finding 5: the first five minutes


def test_version_names_the_python_and_the_build_of_the_core() -> None:
    done = _cli("--version")
    assert done.returncode == 0
    from swimcore import __version__  # noqa: PLC0415

    python = ".".join(str(part) for part in sys.version_info[:3])
    assert done.stdout.strip() == f"swimcore {__version__} (Python {python}, core: pure Python)"


@pytest.mark.parametrize("command", ["run", "simulate", "tune"])
def test_help_is_plain_text(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out
    assert "::\n" not in out


def test_a_signal_during_the_run_leaves_within_the_print_period() -> None:
    """The member reacts to the signal, not to the end of the current print period."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "swimcore", *RUN, "--print-every", "3600", "--preset", "local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("members (1)")
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)  # an hour's print period does not delay the stop
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0


def test_the_license_file_is_the_mit_license_pyproject_names() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_make_demo_installs_only_the_transports_extra() -> None:
    done = subprocess.run(
        ["make", "-n", "-B", "demo"], check=True, capture_output=True, text=True, cwd=ROOT
    )
    installs = [line for line in done.stdout.splitlines() if "pip install" in line]
    assert installs, done.stdout
    assert all(line.endswith("-e '.[transports]'") for line in installs), installs
    assert "examples/demo_loopback.py" in done.stdout


def test_the_readme_install_section_lists_every_extra() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Install\n", 1)[1].split("\n## ", 1)[0]
    for extra in pyproject["project"]["optional-dependencies"]:
        assert f"| `{extra}` |" in section, extra


def test_the_readme_says_what_tune_exit_status_1_means() -> None:
    readme = _documentation()
    assert re.search(r"1 when no candidate\s+does", readme)
