"""The Python examples of the README and of the documentation run as written and print what the
text says they print.

A ``python`` block may be followed by one short line (``Output:``) and a ``text`` block: the
output the example prints. In it, a line ``...`` stands for any number of lines and ``...``
inside a line for any characters (addresses with free ports, timings): everything else must
match exactly. A block that prints must show its output.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
EXAMPLE = re.compile(
    r"```python\n(?P<code>.*?)```\n(?:\n[^\n`]{0,40}:\n)?(?:\n```text\n(?P<output>.*?)```)?",
    flags=re.S,
)


def _examples() -> list[tuple[str, str, str | None]]:
    found = []
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        for match in EXAMPLE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            name = f"{source.relative_to(ROOT)}:{line}"
            found.append((name, match.group("code"), match.group("output")))
    return found


EXAMPLES = _examples()


def expected_pattern(shown: str) -> re.Pattern[str]:
    """The regular expression an example's shown output stands for (see the module docstring)."""
    parts = []
    for line in shown.splitlines():
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.compile("".join(parts))


@pytest.mark.parametrize(("name", "code", "output"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example_prints_what_the_text_shows(
    name: str, code: str, output: str | None, tmp_path: Path
) -> None:
    if output is None:
        assert "print(" not in code, f"{name} prints but shows no output block"
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    if output is not None:
        assert expected_pattern(output).fullmatch(result.stdout), (
            f"{name} printed:\n{result.stdout}\nthe text shows:\n{output}"
        )


def test_there_are_examples_with_output() -> None:
    assert sum(output is not None for _, _, output in EXAMPLES) >= 5


@pytest.mark.parametrize(
    ("shown", "printed", "matches"),
    [
        ("True ALIVE\n", "True ALIVE\n", True),
        ("True ALIVE\n", "False ALIVE\n", False),
        ("['127.0.0.1:...']\n", "['127.0.0.1:4711']\n", True),
        ("...\na saw b join\n...\n", "x\ny\na saw b join\nz\n", True),
        ("...\na saw b join\n", "a saw c join\n", False),
        ("0\n", "0\n1\n", False),
    ],
)
def test_the_output_comparison_could_fail(shown: str, printed: str, matches: bool) -> None:
    assert bool(expected_pattern(shown).fullmatch(printed)) is matches
