"""Where ``simqueue sweep`` and ``simqueue crashtest`` run their calls: a Dask cluster.

With ``--scheduler ADDRESS`` the command connects to a running ``dask scheduler`` (workers
started with ``dask worker ADDRESS`` on any machine that has this simqueue installed); without
one it starts a ``LocalCluster`` of worker processes on 127.0.0.1. Either way the command gets
``Client.get_executor()``, a :class:`concurrent.futures.Executor`, and hands it to the sweep or
campaign, which know nothing of Dask (``docs/scale.md``).

The only module of the package that imports Dask (``pip install 'simqueue[cluster]'``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

from simqueue import __version__
from simqueue.cli.errors import CliError, ExitCode
from simqueue.lab.parallel import default_workers

INSTALL_HINT = "pip install 'simqueue[cluster]'"
#: Seconds to wait for a scheduler to answer before giving up (Dask's own default).
CONNECT_TIMEOUT = 30.0


def dask_available() -> bool:
    """Whether ``dask.distributed`` can be imported here."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def cluster_executor(scheduler: str | None, workers: int | None) -> Iterator[tuple[Executor, str]]:
    """``(executor, where)``: the executor of a Dask client connected to ``scheduler``, or to a new
    local cluster of ``workers`` processes (default: one per CPU); ``where`` says which, for the
    command's first line. The client (and a local cluster) is closed on leaving."""
    if not dask_available():
        raise CliError(f"Dask is not installed: {INSTALL_HINT}", ExitCode.FAILURE)
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(_connect(Client, scheduler))
            where = f"Dask scheduler {scheduler}"
        else:
            n = workers or default_workers()
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,  # the simulations are pure Python: one per process
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # its HTTP endpoints: loopback, a free port
                silence_logs=logging.ERROR,
            )
            stack.enter_context(cluster)
            client = stack.enter_context(Client(cluster))
            where = f"local Dask cluster, {n} worker processes on 127.0.0.1"
        _check_workers(client, scheduler or "the local cluster")
        yield client.get_executor(pure=False), where


@contextlib.contextmanager
def _connect(client_class: Any, scheduler: str) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler``, or a one-line error naming the address."""
    try:
        client = client_class(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise CliError(
            f"--scheduler {scheduler}: cannot reach a Dask scheduler there: {exc}",
            ExitCode.UNAVAILABLE,
        ) from None
    with client:
        yield client


def _check_workers(client: Any, where: str) -> None:
    """Every worker must run this simqueue (the calls name its functions, pickled by reference),
    and there must be at least one."""
    try:
        found = client.run(_simqueue_version_on_worker)
    except Exception as exc:  # e.g. ModuleNotFoundError: the worker has no simqueue at all
        raise CliError(
            f"the workers of {where} cannot run simqueue ({type(exc).__name__}: {exc}); "
            "install the same simqueue on every worker",
            ExitCode.FAILURE,
        ) from None
    if not found:
        raise CliError(f"{where} has no workers", ExitCode.UNAVAILABLE)
    wrong = {w: v for w, v in found.items() if v != __version__}
    if wrong:
        worker, version = sorted(wrong.items())[0]
        raise CliError(
            f"worker {worker} of {where} has simqueue {version}, this is {__version__} "
            f"(install the same simqueue on every worker)",
            ExitCode.FAILURE,
        )
    print(f"simqueue: {len(found)} Dask workers, simqueue {__version__}", file=sys.stderr)


def _simqueue_version_on_worker() -> str:
    """The simqueue version a worker imports."""
    import simqueue

    return str(simqueue.__version__)


__all__ = ["CONNECT_TIMEOUT", "INSTALL_HINT", "cluster_executor", "dask_available"]
