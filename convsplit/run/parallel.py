"""``--jobs N``: batches of records split by worker processes, output in input order.

The parent only cuts the input into batches of raw records; the workers parse, split and
encode them (on 2 cores, every bit of work left in the parent is work not done in
parallel). Samples repeat their history, so the output can be many times the input: rather
than send it back through a pipe for the parent to unpickle and write, each worker writes
its batch straight into the output file at the batch's place. Batch ``n`` starts where
batch ``n - 1`` ends; a worker learns that offset from shared memory once the batch before
is written, so the file grows in order and is the same bytes one process would write.
Where the output cannot be written at offsets (standard output, gzip) the bytes come back
to the parent, in order.

The pool is this module's own, not :mod:`concurrent.futures`: a run must end, whatever
fails. The parent watches each worker's pipe and its process sentinel together, so a
worker's error or death is seen at once; on any failure (an error in a batch, a dead
worker, Ctrl-C, a signal turned into an exception) every worker is killed before the
error leaves, and no worker outlives its parent (Linux's parent-death signal, and the
pipe each worker reads from).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
from collections.abc import Iterator
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from convsplit.budget import Budget
from convsplit.errors import OutputError, WorkerError
from convsplit.formats import RawRecord
from convsplit.formats.records import parsed
from convsplit.run._writeback import Writeback, write_pieces
from convsplit.run.records import RecordSplitter, SplitBatch
from convsplit.spec import SplitSpec

Batches = Iterator[tuple[str, list[RawRecord], int]]
Task = tuple[int, str, list[tuple[int, bytes, str | None]], int]
Outputs = list[tuple[str, str]]

_DIED = "a worker process died (killed or out of memory); no output was written"
_PR_SET_PDEATHSIG = 1
_PARENT_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Placement:
    """Where each batch's bytes start in the shared output file.

    A ring of (batch number, end offset) pairs in shared memory, each set once its batch is
    written, so the file grows in order, one writer at a time (two processes writing one
    file at different places cost the kernel twice the time). It needs more slots than
    batches in flight: batch ``n`` reads the slot of ``n - 1`` and overwrites that of
    ``n - slots``, long finished.
    """

    def __init__(self, context: BaseContext, slots: int) -> None:
        self.slots = slots
        self._changed = context.Condition()
        self._numbers: Any = context.RawArray("q", [-1] * slots)
        self._ends: Any = context.RawArray("q", slots)

    def start(self, number: int) -> int:
        """Where batch ``number`` starts: where batch ``number - 1`` ended, once it is
        written (so the file grows in order, one writer at a time)."""
        if number == 0:
            return 0
        parent = os.getppid()
        before = (number - 1) % self.slots
        with self._changed:
            while self._numbers[before] != number - 1:
                # Where no parent-death signal exists, a worker notices an orphaned wait.
                if not self._changed.wait(timeout=1.0) and os.getppid() != parent:
                    raise WorkerError("the parent process is gone")
            return int(self._ends[before])

    def finished(self, number: int, end: int) -> None:
        """Batch ``number`` is written up to ``end``: the next may start there."""
        with self._changed:
            mine = number % self.slots
            self._numbers[mine], self._ends[mine] = number, end
            self._changed.notify_all()


class _Worker:
    """One worker process, its end of the pipe, and the batch it is working on."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.batch: int | None = None


def run_parallel(
    batches: Batches,
    spec: SplitSpec,
    budgets: list[Budget],
    jobs: int,
    outputs: Outputs | None,
) -> Iterator[SplitBatch]:
    """Batches processed by ``jobs`` processes, yielded in input order, few in flight.

    ``outputs`` are each budget's output (name, file to write at offsets), or None to get
    the bytes back in each batch's ``chunks``. An error raised in a worker is raised here
    as it was (or as a :class:`WorkerError` with its text, when it cannot be sent whole).

    Raises:
        WorkerError: a worker process died, or failed in a way it could not report.
    """
    context = get_context("fork") if sys.platform == "linux" else get_context("spawn")
    window = 2 * jobs  # batches handed out and not yet yielded, at most
    # One placement per output file: each grows in order, one writer at a time.
    placements = [Placement(context, slots=2 * window + 8) for _ in outputs or ()]
    workers: list[_Worker] = []
    finished = False
    try:
        for _ in range(jobs):
            _start(context, (spec, budgets), outputs, placements, workers)
        yield from _schedule(batches, workers, window)
        finished = True
    finally:
        _stop(workers, graceful=finished)


def _start(
    context: BaseContext,
    split: tuple[SplitSpec, list[Budget]],
    outputs: Outputs | None,
    placements: list[Placement],
    workers: list[_Worker],
) -> None:
    """Start one more worker, listed in ``workers`` before it starts: a signal that arrives
    while it starts (they wait, blocked, until it has) finds it there to be stopped."""
    ours, theirs = context.Pipe()
    # Under fork a child inherits the parent's ends of its siblings' pipes; it closes them,
    # so that a sibling sees its pipe close when the parent is gone.
    inherited = [w.conn for w in workers] + [ours] if context.get_start_method() == "fork" else []
    process = context.Process(  # type: ignore[attr-defined]
        target=_serve,
        args=(theirs, split, outputs, placements, os.getpid(), inherited),
        name="convsplit-worker",
        daemon=True,
    )
    workers.append(_Worker(process, ours))
    # Signals wait until the child has set its own handlers (see _serve).
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _PARENT_SIGNALS)
    try:
        process.start()
    finally:
        theirs.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _schedule(batches: Batches, workers: list[_Worker], window: int) -> Iterator[SplitBatch]:
    """Hand batches to idle workers and yield the results in input order.

    At most ``window`` batches are handed out and not yet yielded: a worker whose batch is
    done waits while an older one is still running, so memory stays bounded.
    """
    done: dict[int, SplitBatch] = {}
    handed = yielded = 0
    pending = iter(batches)
    exhausted = False
    while True:
        for worker in workers:
            if exhausted or handed - yielded >= window:
                break
            if worker.batch is not None:
                continue
            batch = next(pending, None)
            if batch is None:
                exhausted = True
                break
            path, records, index = batch
            plain = [(r.lineno, r.text, r.error) for r in records]
            _send(worker, (handed, path, plain, index))
            handed += 1
        if exhausted and yielded == handed:
            return
        done.update(_collect(workers))
        while yielded in done:
            yield done.pop(yielded)
            yielded += 1


def _send(worker: _Worker, task: Task) -> None:
    try:
        worker.conn.send(task)
    except OSError:
        raise WorkerError(_DIED) from None
    worker.batch = task[0]


def _collect(workers: list[_Worker]) -> dict[int, SplitBatch]:
    """Wait until a worker reports; the batches finished, or the error raised.

    A worker's pipe and its process sentinel are watched together: a worker that died
    without a word (killed, out of memory) is seen at once instead of waited for.
    """
    by_sentinel = {w.process.sentinel: w for w in workers}
    by_conn = {w.conn: w for w in workers}
    finished: dict[int, SplitBatch] = {}
    for ready in wait([*by_conn, *by_sentinel]):
        if isinstance(ready, int):
            worker = by_sentinel[ready]
            if not worker.conn.poll():
                raise WorkerError(_DIED)
        else:
            worker = by_conn[ready]  # type: ignore[index]
        try:
            kind, number, payload = worker.conn.recv()
        except (EOFError, OSError):
            raise WorkerError(_DIED) from None
        if kind == "error":
            raise payload
        worker.batch = None
        finished[number] = payload
    return finished


def _stop(workers: list[_Worker], *, graceful: bool) -> None:
    """End every worker: politely after a complete run, at once after any failure."""
    started = [w for w in workers if w.process.pid is not None]
    for worker in started:
        if graceful:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        else:
            worker.process.kill()
    for worker in started:
        worker.process.join(timeout=None if not graceful else 10)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
    for worker in workers:
        worker.conn.close()


def _packed(error: BaseException) -> BaseException:
    """An error to send to the parent: itself if it travels whole, else its text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # any exception that will not travel is sent as text
        return WorkerError(
            f"a worker process failed: {type(error).__name__}: {error}; no output was written"
        )
    return error


def _serve(  # noqa: PLR0917 (a Process target takes its arguments by position)
    conn: Connection,
    split: tuple[SplitSpec, list[Budget]],
    outputs: Outputs | None,
    placements: list[Placement],
    parent: int,
    inherited: list[Connection],
) -> None:
    """A worker's life: take batches from ``conn`` until told to stop or the parent is gone."""
    _die_with_parent(parent)
    # Ctrl-C reaches the whole process group: the parent decides, and kills the workers.
    # The parent's own handlers for the other signals are not for a worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _PARENT_SIGNALS)
    for other in inherited:
        other.close()
    try:
        state = _WorkerState(split, outputs, placements)
    except BaseException as error:  # reported to the parent, which raises it
        with contextlib.suppress(OSError):  # unless the parent has stopped listening
            conn.send(("error", -1, _packed(error)))
        return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if task is None:
            return
        number, path, records, index = task
        reply: tuple[str, int, object]
        try:
            reply = ("done", number, state.work(path, records, index, number))
        except BaseException as error:  # reported to the parent, which raises it
            reply = ("error", number, _packed(error))
        try:
            conn.send(reply)
        except pickle.PicklingError as error:
            with contextlib.suppress(OSError):
                conn.send(("error", number, _packed(WorkerError(str(error)))))
        except OSError:
            return  # the parent is gone


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies, and check it has not already."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


class _WorkerState:
    """What a worker process holds for its whole life."""

    def __init__(
        self,
        split: tuple[SplitSpec, list[Budget]],
        outputs: Outputs | None,
        placements: list[Placement],
    ) -> None:
        self.splitter = RecordSplitter(*split)
        self.placements = placements
        self.targets = [name for name, _ in outputs or ()]
        self.fds = [os.open(path, os.O_WRONLY) for _, path in outputs or ()]
        self.writebacks = [Writeback(fd) for fd in self.fds]

    def work(
        self, path: str, records: list[tuple[int, bytes, str | None]], index: int, number: int
    ) -> SplitBatch:
        """Split one batch; write it at its place in each output, or return its bytes.

        A conversation whose samples grow large is written as they are made, once the
        batch before is written (memory stays flat, see :meth:`RecordSplitter.process`).
        """
        cut = [parsed(RawRecord(lineno, text, None, error)) for lineno, text, error in records]
        if not self.placements:
            batch = self.splitter.process(path, cut, index)
            # one bytes object pickles far faster than many
            batch.chunks = [[b"".join(chunks)] for chunks in batch.chunks]
            return batch
        at: list[int | None] = [None] * len(self.placements)

        def emit(k: int, chunks: list[bytes]) -> None:
            start = at[k]
            if start is None:
                start = self.placements[k].start(number)
            at[k] = self._write(k, chunks, start)

        batch = self.splitter.process(path, cut, index, emit=emit)
        for k, placement in enumerate(self.placements):
            start = at[k]
            if start is None:
                start = placement.start(number)
            placement.finished(number, self._write(k, batch.chunks[k], start))
        batch.chunks = [[] for _ in batch.chunks]  # already in place
        return batch

    def _write(self, k: int, chunks: list[bytes], start: int) -> int:
        """Write ``chunks`` into output ``k`` at ``start``; where they end."""
        try:
            end = start + write_pieces(self.fds[k], chunks, start)
        except OSError as error:
            raise OutputError(
                f"cannot write {self.targets[k]}: {error.strerror or error}; nothing was written"
            ) from None
        self.writebacks[k].wrote(start, end)
        return end
