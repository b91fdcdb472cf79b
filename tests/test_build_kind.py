"""Which build of the core is loaded (``swimcore --version`` says it; ``make test-compiled``
checks the compiled one)."""

from __future__ import annotations

import importlib
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
