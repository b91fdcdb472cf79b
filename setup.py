"""Packaging hook: the metadata is in pyproject.toml; this only adds the optional compiled build.

``SWIMCORE_COMPILE=1`` compiles the modules listed in ``swimcore/_build.py`` with mypyc (it
ships with mypy; a C compiler is needed).  Without the variable, without mypyc, or when the C
compiler fails, the package is pure Python, the same as always (one line says why).
"""

import os
import runpy

from setuptools import setup
from setuptools.command.build_ext import build_ext


class _OptionalBuildExt(build_ext):
    """Builds the compiled modules if it can; otherwise leaves none behind (pure Python)."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # any compiler failure means: pure Python
            print(f"swimcore: the compiled build failed ({str(error)[:160]}): pure Python")
            for ext in self.extensions:  # a half-built set would not import
                path = self.get_ext_fullpath(ext.name)
                if os.path.exists(path):
                    os.remove(path)


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


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": _OptionalBuildExt})
