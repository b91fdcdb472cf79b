"""Which build of the core is loaded (``swimcore --version`` says it; ``make test-compiled``
checks the compiled one)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from swimcore._build import COMPILABLE, build_kind, compiled_modules

ROOT = Path(__file__).resolve().parent.parent


def test_the_source_tree_is_pure_python() -> None:
    assert compiled_modules() == []
    assert build_kind() == "pure Python"


def test_every_compilable_module_is_a_core_source_file() -> None:
    # setup.py compiles these paths; a renamed module must not silently drop out of the build.
    for name in COMPILABLE:
        path = ROOT / (name.replace(".", "/") + ".py")
        assert path.is_file(), name
        assert not name.startswith("swimcore.transports"), "drivers stay interpreted"
        assert importlib.import_module(name).__file__ == str(path)


def test_the_compiled_builds_decorators_change_nothing_without_mypy() -> None:
    """A pure-Python install need not have mypy_extensions: the node's classes stay the same."""
    script = """
import sys
sys.modules["mypy_extensions"] = None  # an import of it now fails, as where it is not installed
from swimcore import _compiling
from swimcore.node import Node
class Part:
    pass
assert _compiling.trait(Part) is Part
assert _compiling.mypyc_attr(allow_interpreted_subclasses=True)(Part) is Part
assert _compiling.trait.__module__ == "swimcore._compiling"
print(Node.__mro__[1].__name__)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Probing"
