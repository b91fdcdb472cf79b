"""Which build of the core is loaded: pure Python, or compiled with mypyc.

``SWIMCORE_COMPILE=1 pip install --no-build-isolation .`` compiles :data:`COMPILABLE` with
mypyc (``setup.py`` reads the list from this file); the source is the same, so is the
behaviour (the simulator's trace digests of both builds are compared in CI).  The modules that
define attrs classes stay interpreted: mypyc does not build them.
"""

from __future__ import annotations

import importlib

#: The core modules a compiled build compiles (the receive path and the simulator's hot spots).
COMPILABLE = (
    "swimcore.antientropy",
    "swimcore.awareness",
    "swimcore.broadcasts",
    "swimcore.dissemination",
    "swimcore.members",
    "swimcore.roster",
    "swimcore.timers",
    "swimcore.timing",
    "swimcore.transitions",
    "swimcore.wire.native.codec",
)


def compiled_modules() -> list[str]:
    """The modules of :data:`COMPILABLE` loaded from compiled extensions (empty: pure Python)."""
    out = []
    for name in COMPILABLE:
        origin = getattr(importlib.import_module(name), "__file__", None) or ""
        if not origin.endswith(".py"):
            out.append(name)
    return out


def build_kind() -> str:
    """``"pure Python"`` or ``"compiled with mypyc (N modules)"``."""
    compiled = compiled_modules()
    return f"compiled with mypyc ({len(compiled)} modules)" if compiled else "pure Python"
