"""Where a sweep runs: here, on a local process pool, or on a Dask cluster.

:func:`open_executor` is what ``--executor local|processes|dask --scheduler ADDRESS`` turns
into.  ``local`` gives ``None`` (the sweep runs in this process), ``processes`` a
:class:`~concurrent.futures.ProcessPoolExecutor`, ``dask`` the ``concurrent.futures`` face of a
``distributed.Client`` (``Client.get_executor()``): connected to ``scheduler`` when given, else
to a ``LocalCluster`` of ``jobs`` worker processes started for the occasion.  Dask is an
optional extra (``pip install 'swimcore[dask]'``), imported only here and only when asked for;
without it :class:`ExecutorUnavailable` says so in one line.

Any other :class:`~concurrent.futures.Executor` (Ray's, a thread pool for I/O-bound tasks) can
be handed to :func:`~swimcore.transports.sim.sweep.sweep` directly.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import os
from collections.abc import Iterator
from typing import Any

from swimcore.errors import ConfigError, SwimError

#: The names ``--executor`` accepts.
EXECUTORS = ("local", "processes", "dask")
#: Seconds to wait for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT = 30.0


class ExecutorUnavailable(SwimError, RuntimeError):
    """The executor asked for cannot be had (a missing extra, an unreachable scheduler)."""


def default_jobs() -> int:
    return os.cpu_count() or 1


def load_distributed() -> Any:
    """The ``distributed`` module, or :class:`ExecutorUnavailable` naming the extra."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise ExecutorUnavailable(
            "--executor dask needs Dask: pip install 'swimcore[dask]'"
        ) from None


@contextlib.contextmanager
def open_executor(
    kind: str, *, jobs: int | None = None, scheduler: str | None = None
) -> Iterator[concurrent.futures.Executor | None]:
    """The executor called ``kind`` (``None`` for ``local``), shut down on exit."""
    if kind not in EXECUTORS:
        raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    if scheduler is not None and kind != "dask":
        raise ConfigError("--scheduler goes with --executor dask")
    workers = jobs or default_jobs()
    if kind == "local":
        yield None
    elif kind == "processes":
        with concurrent.futures.ProcessPoolExecutor(workers) as pool:
            yield pool
    else:
        with _dask(scheduler, workers) as executor:
            yield executor


def local_cluster(workers: int) -> Any:
    """A Dask ``LocalCluster`` of ``workers`` single-threaded worker processes, without a
    dashboard, its scheduler's HTTP endpoint on a free port (not Dask's default 8787, which
    another cluster on the machine may hold)."""
    distributed = load_distributed()
    return distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )


@contextlib.contextmanager
def _dask(scheduler: str | None, workers: int) -> Iterator[concurrent.futures.Executor]:
    distributed = load_distributed()
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            target: Any = stack.enter_context(local_cluster(workers))
        else:
            target = scheduler
        try:
            client = stack.enter_context(distributed.Client(target, timeout=CONNECT_TIMEOUT))
        except OSError as exc:
            raise ExecutorUnavailable(
                f"--scheduler {scheduler}: no Dask scheduler answered ({exc})"
            ) from None
        executor: concurrent.futures.Executor = client.get_executor()
        yield executor
