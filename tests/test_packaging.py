"""The wheel holds one import package, ``swimcore``, with the drivers as ``swimcore.transports``.

The repository keeps the drivers in the top-level folder ``transports/`` (the layout shows the
layers); setuptools' ``package-dir`` mapping installs it under ``swimcore``, so a user's own
``transports`` module never collides with ours.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (found,) = out.glob("swimcore-*.whl")
    return found


def test_the_wheel_has_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"swimcore"}


def test_every_source_module_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for p in (ROOT / "swimcore").rglob("*.py")}
    expected |= {
        "swimcore/transports/" + str(p.relative_to(ROOT / "transports"))
        for p in (ROOT / "transports").rglob("*.py")
    }
    expected |= {"swimcore/py.typed", "swimcore/transports/py.typed"}
    assert sorted(expected - names) == []


def test_installed_wheel_imports_swimcore_transports_and_no_top_level_transports(
    wheel: Path, tmp_path: Path
) -> None:
    code = (
        "import importlib.util, swimcore.transports.sim, swimcore.transports.asyncio\n"
        f"assert swimcore.transports.__file__.startswith({str(wheel)!r})\n"
        "print(importlib.util.find_spec('transports'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=tmp_path,
        env={"PYTHONPATH": str(wheel), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"
