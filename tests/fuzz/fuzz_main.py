#!/usr/bin/env python3
"""Coverage-guided fuzzing of the decoders and the node with atheris (libFuzzer).

Run it by hand for as long as you like (new interesting inputs go to the first directory)::

    .venv/bin/python tests/fuzz/fuzz_main.py /tmp/corpus tests/fuzz/corpus -max_total_time=600

Refresh the committed corpus (libFuzzer re-runs this file as a command, hence the PATH)::

    PATH=.venv/bin:$PATH .venv/bin/python tests/fuzz/fuzz_main.py -merge=1 \
        tests/fuzz/corpus /tmp/corpus

CI runs it for a bounded time from ``tests/fuzz/test_fuzzer.py``.  A crashing input is written
as ``crash-<sha1>`` where ``-artifact_prefix`` points; keep it in ``tests/fuzz/crashes/`` so it
replays as a regression test forever.
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports(include=["swimcore", "fuzz_harness"]):
    import fuzz_harness


def main() -> None:
    atheris.Setup(sys.argv, fuzz_harness.check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
