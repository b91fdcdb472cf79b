"""Packaging hook: the metadata is in pyproject.toml; this only adds the optional compiled build.

``SWIMCORE_COMPILE=1`` compiles the modules listed in ``swimcore/_build.py`` with mypyc (it
ships with mypy; a C compiler is needed).  Without the variable, or without mypyc, the package
is pure Python, the same as always.
"""

import os
import runpy

from setuptools import setup


def _ext_modules() -> list:  # type: ignore[type-arg]
    if os.environ.get("SWIMCORE_COMPILE") != "1":
        return []
    try:
        from mypyc.build import mypycify  # noqa: PLC0415 (only for a compiled build)
    except ImportError:
        print("swimcore: SWIMCORE_COMPILE=1, but mypyc (pip install mypy) is missing: pure Python")
        return []
    names = runpy.run_path(os.path.join("swimcore", "_build.py"))["COMPILABLE"]
    paths = [name.replace(".", "/") + ".py" for name in names]
    # The optional extras (cryptography, msgpack, ...) need not be installed to compile.
    return mypycify(["--ignore-missing-imports", *paths], opt_level="3")  # type: ignore[no-any-return]


setup(ext_modules=_ext_modules())
