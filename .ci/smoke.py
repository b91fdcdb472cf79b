"""Smoke test of an installed swimcore, run from outside the checkout by .ci/check-dist.

Usage: python smoke.py [EXTRA ...]. Checks what every install must give (the core, the drivers as
swimcore.transports, no top-level ``transports``, the simulator, the console script) and, for
each extra named, that the module it brings loads.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import swimcore
from swimcore.transports import sim
from swimcore.transports.sim.ops import Crash

#: The module each extra must make importable.
EXTRA_MODULES = {
    "anyio": "anyio",
    "trio": "trio",
    "transports": "trio",
    "crypto": "cryptography",
    "metrics": "prometheus_client",
    "discovery": "dns.resolver",
    "memberlist": "msgpack",
    "plot": "matplotlib",
    "dask": "distributed",
}


def main(extras: list[str]) -> None:
    here = Path.cwd().resolve()
    source = Path(swimcore.__file__).resolve()
    assert here not in source.parents, f"swimcore imported from the checkout: {source}"
    assert "site-packages" in source.parts, source
    assert swimcore.__version__ == importlib.metadata.version("swimcore")
    assert importlib.util.find_spec("transports") is None, "a top-level 'transports' is importable"

    cluster = sim.SimCluster(20, seed=3, config=swimcore.Config.lan())
    recorder = sim.Recorder(cluster)
    cluster.schedule([(5.0, Crash(7))])
    cluster.run_until(40.0)
    (crash,) = recorder.report().detections
    assert crash.detected_by == crash.survivors == 19, crash

    script = shutil.which("swimcore")
    assert script is not None, "the swimcore console script is not on PATH"
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert swimcore.__version__ in out.stdout, out.stdout

    for extra in extras:
        importlib.import_module(EXTRA_MODULES[extra])
    if "memberlist" in extras:
        node = swimcore.Node(
            swimcore.Config.lan(wire="memberlist"),
            swimcore.Address("127.0.0.1", 7946),
            name="a",
            seed=1,
        )
        assert node.wire.encode_message is not None
    elif not extras:  # the bare install has no msgpack: the memberlist wire says which extra
        try:
            swimcore.Config.lan(wire="memberlist")
        except swimcore.ConfigError as error:
            assert "swimcore[memberlist]" in str(error), error
        else:
            raise AssertionError("wire='memberlist' accepted without the msgpack package")
    print(f"smoke ok: swimcore {swimcore.__version__} from {source.parent}, extras {extras}")


if __name__ == "__main__":
    main(sys.argv[1:])
