"""Which build of the core is loaded: pure Python, or compiled with mypyc.

``SWIMCORE_COMPILE=1 pip install --no-build-isolation .`` compiles :data:`COMPILABLE` with
mypyc (``setup.py`` reads the list from this file); the source is the same, so is the
behaviour (the simulator's trace digests of both builds are compared in CI).  The node is one
native class whose parts (probing, membership, exchanges) are mypyc traits (see
:mod:`swimcore._compiling`).  Left interpreted: the modules whose attrs classes give fields
defaults with ``attrs.field`` or validators (mypyc builds them, but they fail at import), the
keyring (its constructor must refuse a key of the wrong type with ``ConfigError``, which a
compiled signature would turn into ``TypeError``), and the drivers.
"""

from __future__ import annotations

import importlib

#: The core modules a compiled build compiles (the receive path and the simulator's hot spots).
COMPILABLE = (
    "swimcore._exchanges",
    "swimcore._membership",
    "swimcore._probing",
    "swimcore.antientropy",
    "swimcore.awareness",
    "swimcore.broadcasts",
    "swimcore.dissemination",
    "swimcore.ingest",
    "swimcore.join_round",
    "swimcore.members",
    "swimcore.node",
    "swimcore.refusals",
    "swimcore.roster",
    "swimcore.stability",
    "swimcore.timers",
    "swimcore.timing",
    "swimcore.transitions",
    "swimcore.wire.native.codec",
    "swimcore.wire.native.profile",
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
