"""Running tasks on a Dask cluster: which client, waiting for results, and stopping well.

A run uses the client it is given, or one connected to an address, or the one active in
the process, or a local cluster started (and stopped) for it. While it waits it watches
the scheduler: a scheduler with no worker for Dask's ``no-workers-timeout`` fails the run
instead of hanging, and a lost scheduler is named plainly. Dask's own log lines are held
back (what goes wrong reaches the caller as one error), and local workers ignore Ctrl-C
so that an interrupt stops the run quietly.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from convsplit.errors import WorkerError
from convsplit.extras import require

if TYPE_CHECKING:
    from distributed import Client

PURPOSE = "the Dask engine"
#: How long a run waits with no worker connected, unless Dask's own
#: ``distributed.scheduler.no-workers-timeout`` says otherwise.
NO_WORKERS_SECONDS = 60.0
_POLL_SECONDS = 0.05  # between looks for finished tasks
_WORKERS_POLL_SECONDS = 1.0  # between questions to the scheduler about its workers


@contextlib.contextmanager
def client_for(
    distributed: Any, scheduler: str | Client | None, n_workers: int | None
) -> Iterator[Any]:
    """The client to run on: the one given, one connected to an address, the one already
    active in this process, or a local cluster started (and stopped) for the run."""
    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler
        return
    if scheduler is not None:
        with distributed.Client(scheduler) as client:
            yield client
        return
    try:
        active = distributed.get_client()
    except ValueError:  # no client in this process
        active = None
    if active is not None:
        yield active
        return
    with contextlib.ExitStack() as stack:
        with _interrupts_held():
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # Without a dashboard the scheduler still serves HTTP (health checks),
                    # on 8787 unless told: a second run at once would warn that it is taken.
                    scheduler_kwargs={"dashboard_address": ":0"},
                    silence_logs=logging.CRITICAL,  # failures reach the caller as errors
                )
            )
        yield stack.enter_context(distributed.Client(cluster))


def worker_threads(client: Any) -> int:
    """The threads of the workers connected now (0 when none has joined yet)."""
    return sum(client.nthreads().values())


def gather(
    distributed: Any,
    client: Any,
    futures: list[Any],
    done: Callable[[Any], None] | None = None,
    idle: Callable[[], None] | None = None,
) -> list[Any]:
    """The tasks' results in input order, ``done`` called with each as it finishes and
    ``idle`` while none has (every few hundredths of a second).

    A run whose scheduler has had no worker for the no-workers timeout fails, rather than
    wait for ever; so does one whose scheduler is lost or fails its tasks.
    """
    order = {future.key: k for k, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    watch = _Workers(client)
    completed = distributed.as_completed(futures)
    try:
        while not completed.is_empty():
            if not completed.has_ready():
                watch.check(completed.count(), len(futures))
                if idle is not None:
                    idle()
                time.sleep(_POLL_SECONDS)
                continue
            future = next(completed)
            result = future.result()
            results[order[future.key]] = result
            if done is not None:
                done(result)
    except distributed.KilledWorker as error:
        raise WorkerError(
            f"a Dask worker died running a partition (killed or out of memory): {error}; "
            "no output was written"
        ) from error
    except distributed.CancelledError as error:  # a BaseException: not caught below
        raise WorkerError(
            f"lost the Dask scheduler at {watch.address} (the connection closed, or the "
            "scheduler cancelled the run's tasks); no output was written"
        ) from error
    except Exception as error:
        if type(error).__module__.partition(".")[0] != "distributed":
            raise  # the task's own error (a bad record, a full disk), as the local engine's
        raise WorkerError(
            f"the Dask scheduler at {watch.address} failed the run: "
            f"{type(error).__name__}: {error}; no output was written"
        ) from error
    finally:
        with contextlib.suppress(Exception):  # a lost scheduler: nothing left to cancel
            client.cancel(futures)
    return results


class _Workers:
    """Asks the scheduler, once in a while, whether it has workers; after the no-workers
    timeout without any, fails the run."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.address = str(getattr(client.scheduler, "address", None) or "(unknown)")
        self.timeout = _no_workers_timeout()
        self._asked = 0.0
        self._none_since: float | None = None

    def check(self, left: int, total: int) -> None:
        now = time.monotonic()
        if now - self._asked < _WORKERS_POLL_SECONDS:
            return
        self._asked = now
        try:
            workers = len(self.client.nthreads())
        except OSError as error:
            raise WorkerError(
                f"lost the Dask scheduler at {self.address}: {error}; no output was written"
            ) from error
        if workers:
            self._none_since = None
            return
        if self._none_since is None:
            self._none_since = now
        if now - self._none_since >= self.timeout:
            raise WorkerError(
                f"no Dask worker has been connected to the scheduler at {self.address} for "
                f"{self.timeout:g} s (all gone, or none started), with {left} of {total} tasks "
                "not done; no output was written (start workers, or set "
                "DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT to wait longer)"
            )


def _no_workers_timeout() -> float:
    """Dask's ``distributed.scheduler.no-workers-timeout`` in seconds, or our default."""
    config = require("dask.config", extra="dask", purpose=PURPOSE)
    utils = require("dask.utils", extra="dask", purpose=PURPOSE)
    configured = config.get("distributed.scheduler.no-workers-timeout", None)
    if configured is None:
        return NO_WORKERS_SECONDS
    return float(utils.parse_timedelta(configured, default="s"))


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """No log lines from Dask in this process while the block runs.

    What goes wrong reaches the caller as one error; Dask would also log it (a lost
    scheduler as a traceback, an interrupt as a page of them while it shuts down). Each
    logger with a level of its own is raised, the others follow ``distributed``'s.
    """
    manager = logging.Logger.manager
    names = ["distributed"] + [
        name
        for name, found in list(manager.loggerDict.items())
        if name.startswith("distributed.")
        and isinstance(found, logging.Logger)
        and found.level != logging.NOTSET
    ]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Keep Ctrl-C (``SIGINT``) from the worker processes started inside the block.

    The terminal sends it to the whole process group: each worker would die printing its
    traceback, while this process, interrupted too, stops them anyway (quietly). A
    process inherits an ignored signal (a blocked one would not do: multiprocessing
    unblocks it in the thread that starts them), so it is ignored while they start; a
    Ctrl-C in that second is lost. Only the main thread can change it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:  # None: a handler set outside Python, which Python cannot put back
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
