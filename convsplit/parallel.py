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
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING, Any

from convsplit.errors import OutputError, WorkerError
from convsplit.formats import RawRecord
from convsplit.formats.containers import parsed
from convsplit.output import Writeback, write_pieces

if TYPE_CHECKING:
    from convsplit.pipeline import RecordSplitter, SplitBatch, SplitOptions

Batches = Iterator[tuple[str, list[RawRecord], int]]


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
                if not self._changed.wait(timeout=1.0) and os.getppid() != parent:
                    raise WorkerError("the parent process is gone")
            return int(self._ends[before])

    def finished(self, number: int, end: int) -> None:
        """Batch ``number`` is written up to ``end``: the next may start there."""
        with self._changed:
            mine = number % self.slots
            self._numbers[mine], self._ends[mine] = number, end
            self._changed.notify_all()


class _WorkerState:
    """What a worker process holds for its whole life."""

    def __init__(self, options: SplitOptions, output: tuple[str, str] | None, placement: Any):
        from convsplit.pipeline import RecordSplitter  # noqa: PLC0415 (no import cycle)

        self.splitter: RecordSplitter = RecordSplitter(options)
        self.placement: Placement | None = placement
        self.target = output[0] if output else ""
        self.fd = os.open(output[1], os.O_WRONLY) if output else -1
        self.writeback = Writeback(self.fd) if output else None


_state: _WorkerState | None = None


def _start_worker(options: SplitOptions, output: tuple[str, str] | None, placement: Any) -> None:
    global _state  # noqa: PLW0603 (one worker state per process, by design)
    _state = _WorkerState(options, output, placement)


def _work(
    path: str, records: list[tuple[int, bytes, str | None]], index: int, number: int
) -> SplitBatch:
    if _state is None:  # pragma: no cover - the initializer always ran
        raise WorkerError("worker process was not initialised")
    cut = [parsed(RawRecord(lineno, text, None, error)) for lineno, text, error in records]
    batch = _state.splitter.process(path, cut, index)
    if _state.placement is None:
        batch.chunks = [batch.lines]  # one bytes object pickles far faster than many
        return batch
    start = _state.placement.start(number)
    try:
        end = start + write_pieces(_state.fd, batch.chunks, start)
    except OSError as error:
        raise OutputError(
            f"cannot write {_state.target}: {error.strerror or error}; nothing was written"
        ) from None
    _state.placement.finished(number, end)
    if _state.writeback is not None:
        _state.writeback.wrote(start, end)
    batch.chunks = []  # already in place
    return batch


def run_parallel(
    batches: Batches, options: SplitOptions, jobs: int, output: tuple[str, str] | None
) -> Iterator[SplitBatch]:
    """Batches processed by ``jobs`` processes, yielded in input order, few in flight.

    ``output`` is the output's (name, file to write at offsets), or None to get the bytes
    back in each batch's ``chunks``.
    """
    context = get_context("fork") if sys.platform == "linux" else get_context("spawn")
    in_flight = 2 * jobs
    placement = Placement(context, slots=2 * in_flight + 8) if output else None
    pending: list[Future[SplitBatch]] = []
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_start_worker,
        initargs=(options, output, placement),
    )
    finished = False
    try:
        for number, (path, records, index) in enumerate(batches):
            plain = [(r.lineno, r.text, r.error) for r in records]
            pending.append(pool.submit(_work, path, plain, index, number))
            if len(pending) >= in_flight:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
        finished = True
    except BrokenProcessPool as error:
        raise WorkerError(
            "a worker process died (killed or out of memory); no output was written"
        ) from error
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _abandon(pool)


def _abandon(pool: ProcessPoolExecutor) -> None:
    """Stop a pool that failed, without waiting on it.

    A worker killed while the pool's feeder thread writes a batch to it can leave that
    thread blocked for good on Python before 3.12 (CPython gh-94777), and a waiting
    shutdown with it; so cancel what is queued, kill the workers, and close the queue's
    pipe so the feeder's write fails instead of blocking.
    """
    pool.shutdown(wait=False, cancel_futures=True)
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(Exception):
            process.kill()
    call_queue = getattr(pool, "_call_queue", None)
    if call_queue is not None:
        with contextlib.suppress(Exception):
            call_queue.cancel_join_thread()
            call_queue._reader.close()
