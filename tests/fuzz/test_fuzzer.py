"""The coverage-guided fuzzer in CI: replay the corpus and every kept crash, then fuzz a while.

* Every file in ``corpus/`` (seeds plus what earlier fuzzing runs found) and in ``crashes/``
  (inputs that once crashed, kept forever) is replayed through :func:`harness.check`: plain
  pytest, no fuzzing engine needed.
* Then atheris (libFuzzer) runs from that corpus for 10 s in the default suite, and for
  ``SWIMCORE_FUZZ_SECONDS`` (default 60 s) in a twin marked slow (CI's ``make test-slow``),
  in a child process, new inputs going to a temporary directory so the committed corpus never
  changes under CI.  A crash fails the test, and its input is copied into ``crashes/`` (when
  run from a checkout) so it becomes a regression test: commit it with the fix.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

import fuzz_harness as harness
import pytest

HERE = pathlib.Path(__file__).resolve().parent

CORPUS = HERE / "corpus"
CRASHES = HERE / "crashes"
#: The fuzzing budget of the default suite, and of its twin marked slow.
QUICK_SECONDS = 10
SECONDS = int(os.environ.get("SWIMCORE_FUZZ_SECONDS", "60"))
needs_atheris = pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None,
    reason="atheris is not installed (pip install -e '.[dev]' brings it)",
)


def _inputs(directory: pathlib.Path) -> list[pathlib.Path]:
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix != ".md"
    )


def test_the_corpus_covers_every_target() -> None:
    firsts = {p.read_bytes()[:1] for p in _inputs(CORPUS) if p.stat().st_size}
    assert {bytes((i,)) for i in range(len(harness.TARGETS))} <= firsts
    assert len(_inputs(CORPUS)) >= 40


@pytest.mark.parametrize("path", _inputs(CORPUS), ids=lambda p: p.name[:18])
def test_corpus_input_replays_cleanly(path: pathlib.Path) -> None:
    harness.check(path.read_bytes())


def test_inputs_that_once_crashed_stay_fixed() -> None:
    """Each kept crash must now run cleanly (the README says how inputs get here)."""
    assert (CRASHES / "README.md").is_file()
    for path in _inputs(CRASHES):
        harness.check(path.read_bytes())


@needs_atheris
def test_the_fuzzer_finds_no_crash_in_bounded_time(tmp_path: pathlib.Path) -> None:
    _fuzz(tmp_path, QUICK_SECONDS)


@needs_atheris
@pytest.mark.slow
def test_the_fuzzer_finds_no_crash_in_bounded_time_full_budget(tmp_path: pathlib.Path) -> None:
    _fuzz(tmp_path, SECONDS)


def _fuzz(tmp_path: pathlib.Path, seconds: int) -> None:
    """Fuzz from the corpus for ``seconds``; a crash fails, and its input is kept."""
    found = tmp_path / "found"
    found.mkdir()
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    command = [
        sys.executable,
        str(HERE / "fuzz_main.py"),
        str(found),
        str(CORPUS),
        f"-dict={HERE / 'swimcore.dict'}",
        f"-max_total_time={seconds}",
        f"-artifact_prefix={artifacts}/",
        "-timeout=10",
        "-rss_limit_mb=1536",
        "-print_final_stats=1",
    ]
    run = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=seconds + 120
    )
    crashes = sorted(artifacts.iterdir())
    kept = []
    for crash in crashes:
        CRASHES.mkdir(exist_ok=True)
        target = CRASHES / crash.name
        shutil.copyfile(crash, target)
        kept.append(f"{target} ({crash.read_bytes().hex()})")
    stats = re.findall(r"^(?:stat::\S+|Done \d+ runs.*)$", run.stderr, re.MULTILINE)
    print(f"\natheris for {seconds} s: " + "; ".join(stats))
    assert run.returncode == 0 and not crashes, (
        f"the fuzzer found a crash (exit {run.returncode}); kept as {kept}\n{run.stderr[-4000:]}"
    )
    assert any(s.startswith("Done") for s in stats), run.stderr[-2000:]
