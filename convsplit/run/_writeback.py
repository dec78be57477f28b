"""How output bytes reach the file fast: the one place that knows about threads and the kernel.

Samples repeat their history, so at large windows the output is many times the input, and
copying it into the kernel (and gzip's compression) takes as long as splitting it. Both
release the GIL, so a second thread writes while the next conversation is split. The
writer takes samples as pieces (message fragments shared between samples), a few MiB at a
time so memory stays flat, and hands them to ``writev`` as they are: joining them first
would copy the whole output once more while holding the GIL. What is written is handed to
the disk and dropped from the page cache as it goes (:class:`Writeback`).

Everything here is an optimisation with one switch, :data:`ENABLED`: with it off, outputs
are written synchronously through their file object, with no thread, no page-cache advice
and no change to the interpreter, and are byte for byte the same. Only
:class:`~convsplit.run.output.AtomicOutput` and the worker pool use this module.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Iterable
from itertools import chain
from queue import Empty, SimpleQueue
from typing import IO, Protocol

ENABLED = True
"""The switch: False writes every output synchronously and plainly (same bytes, no thread,
no page-cache advice, the switch interval left alone). Read when an output is opened."""

_PENDING_BYTES = 8 << 20  # output handed to the writer thread and not yet written
_CACHED_BYTES = 64 << 20  # output written and left in the page cache, per writer
_ADVISED_BYTES = 32 << 20  # output written between two calls to posix_fadvise
_SWITCH_INTERVAL = 0.001  # seconds the writer waits, at most, for the GIL after a write
_IOV_MAX = 1024  # the least any POSIX system allows in one writev
_BLOCK_BYTES = 1 << 20


class Writer(Protocol):
    """Writes chunk lists in order; after a failure it keeps the error and drops the rest."""

    @property
    def error(self) -> OSError | None:
        """The first write that failed, if any."""
        ...

    def put(self, chunks: list[bytes]) -> None:
        """Append the concatenation of ``chunks`` (no copy is made)."""
        ...

    def finish(self) -> None:
        """Write what is pending, stop, and undo any change to the interpreter. Never
        raises an :class:`OSError` (see :attr:`error`); calling it again does nothing."""
        ...


def start_writer(file: IO[bytes], fd: int | None, *, advise: bool) -> Writer:
    """A writer of ``file``: on a background thread unless :data:`ENABLED` is off.

    ``fd`` is ``file``'s descriptor where it may be written directly, bypassing Python's
    buffer (None for gzip); ``advise``: a regular file of our own, whose pages may be
    dropped from the cache once written.
    """
    if not ENABLED:
        return _PlainWriter(file)
    writeback = Writeback(fd) if advise and fd is not None else None
    writer = _ThreadedWriter(file, fd, writeback)
    writer.start()
    return writer


class _PlainWriter:
    """Writes through the file object, in the caller's thread."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.error: OSError | None = None

    def put(self, chunks: list[bytes]) -> None:
        if self.error is None:
            try:
                self.file.writelines(chunks)
            except OSError as error:
                self.error = error

    def finish(self) -> None:
        pass


class _ThreadedWriter(threading.Thread):
    """Writes handed-over chunk lists in order on its own thread.

    What waits to be written is bounded in bytes (one conversation's output always gets
    through, however large), so memory stays flat whatever the input size. The hand-over
    is two queues implemented in C, with no lock the main thread holds between two steps:
    a signal turned into an exception there (:mod:`~convsplit.run.interrupts`) can land
    anywhere and still leave the writer free to finish, so the clean-up that follows
    always stops it. While it runs the interpreter's switch interval is short
    (:class:`_SwitchInterval`).
    """

    def __init__(self, file: IO[bytes], fd: int | None, writeback: Writeback | None) -> None:
        super().__init__(name="convsplit-writer", daemon=True)
        self.file = file
        self.fd = fd
        self.writeback = writeback
        self._offset = 0
        self.error: OSError | None = None
        # Chunk lists and their sizes to write, then None; and the bytes of each batch
        # written, so that the caller knows what is still pending.
        self._work: SimpleQueue[tuple[list[bytes], int] | None] = SimpleQueue()
        self._written: SimpleQueue[int] = SimpleQueue()
        self._pending_bytes = 0  # handed over and not yet written (the caller's count)
        self._finished = False
        self._interval: _SwitchInterval | None = None

    def start(self) -> None:
        super().start()
        self._interval = _SwitchInterval(_SWITCH_INTERVAL)

    def put(self, chunks: list[bytes]) -> None:
        """Hand ``chunks`` over; waits while more than the limit is pending."""
        size = sum(map(len, chunks))
        while True:  # what has been written since
            try:
                self._pending_bytes -= self._written.get_nowait()
            except Empty:
                break
        while self._pending_bytes and self._pending_bytes + size > _PENDING_BYTES:
            self._pending_bytes -= self._written.get()
        self._work.put((chunks, size))
        self._pending_bytes += size

    def run(self) -> None:
        while True:
            # Take everything waiting: each wake-up and each call out of Python costs a
            # wait for the GIL, so one large write beats many small ones.
            batch = [self._work.get()]
            while True:
                try:
                    batch.append(self._work.get_nowait())
                except Empty:
                    break
            closed = batch[-1] is None  # None is the last thing ever handed over
            handed = [item for item in batch if item is not None]
            size = sum(n for _, n in handed)
            if self.error is None and size:
                pieces = list(chain.from_iterable(chunks for chunks, _ in handed))
                try:
                    if self.fd is None:  # gzip: a call per piece would cost more than a copy
                        self.file.writelines(_blocks(pieces))
                    else:
                        write_pieces(self.fd, pieces)  # a short write goes on
                        if self.writeback is not None:
                            self.writeback.wrote(self._offset, self._offset + size)
                            self._offset += size
                except OSError as error:
                    self.error = error
                del pieces
            del batch, handed
            self._written.put(size)
            if closed:
                return

    def finish(self) -> None:
        try:
            if not self._finished:
                self._finished = True
                self._work.put(None)
            self.join()
        finally:  # an interrupt while waiting too
            if self._interval is not None:
                self._interval.restore()
                self._interval = None


class _SwitchInterval:
    """``sys.setswitchinterval(seconds)`` (if shorter) until :meth:`restore`, which puts
    back the previous interval unless someone else has changed it since.

    Coming back from each write, the writer thread waits for the GIL while the splitter
    holds it, up to the switch interval. The default interval is long beside one write
    call, so the writer would spend most of its time waiting and the splitter would stall
    on a full queue; a short interval lets it take the GIL as soon as a write returns.
    """

    def __init__(self, seconds: float) -> None:
        self.previous = sys.getswitchinterval()
        self.seconds = min(seconds, self.previous)
        sys.setswitchinterval(self.seconds)
        self.seconds = sys.getswitchinterval()  # as the interpreter rounded it

    def restore(self) -> None:
        if sys.getswitchinterval() == self.seconds:
            sys.setswitchinterval(self.previous)


def _blocks(pieces: Iterable[bytes]) -> list[bytes]:
    """``pieces`` joined into blocks of about a MiB: for gzip, few calls of a size the
    allocator reuses (joining a whole round made memory grow with the largest
    conversation)."""
    blocks: list[bytes] = []
    group: list[bytes] = []
    size = 0
    for piece in pieces:
        if size + len(piece) > _BLOCK_BYTES and group:
            blocks.append(b"".join(group))
            group, size = [], 0
        group.append(piece)
        size += len(piece)
    if group:
        blocks.append(b"".join(group))
    return blocks


def write_pieces(fd: int, pieces: list[bytes], offset: int | None = None) -> int:
    """Write ``pieces`` one after another to ``fd``, without joining them first; return
    how many bytes that was.

    They go at the file's position (``os.writev``), or at ``offset`` (``os.pwritev``,
    the position untouched). Either copies straight from the pieces (the GIL released
    throughout), saving a copy of the whole output and the large buffers it would need.
    A short write (a signal, a nearly full disk) goes on from where it stopped.
    """
    total = 0
    for k in range(0, len(pieces), _IOV_MAX):
        batch = pieces[k : k + _IOV_MAX]
        size = sum(map(len, batch))
        at = None if offset is None else offset + total
        written = os.writev(fd, batch) if at is None else os.pwritev(fd, batch, at)
        if written < size:
            _write_rest(fd, batch, written, at)
        total += size
    return total


def _write_rest(fd: int, batch: list[bytes], written: int, at: int | None) -> None:
    """After a short write of ``written`` bytes of ``batch`` (begun at offset ``at``, or
    at the file's position), the rest, piece by piece."""
    for piece in batch:
        skip = min(written, len(piece))
        written -= skip
        if at is not None:
            at += skip
        view = memoryview(piece)[skip:]
        while view:
            done = os.write(fd, view) if at is None else os.pwrite(fd, view, at)
            view = view[done:]
            if at is not None:
                at += done


class Writeback:
    """Keeps a large output from filling the page cache, and the pages it uses reused.

    The kernel keeps written data in memory until it needs the memory back, and at large
    windows the output is 20 times the input: a run would fill the cache with pages nobody
    reads, evicting what others use. Taking fresh pages is also the largest part of what
    writing costs (on a virtual machine the hypervisor backs each page on first touch,
    which costs several times reusing one just freed). So each range written is handed to
    the disk at once, and once ``keep`` more bytes are written, dropped from the cache: the
    next writes reuse its pages. ``POSIX_FADV_DONTNEED`` does both (it starts write-back of
    dirty pages and drops clean ones), and never waits for the disk: a page still dirty
    stays cached, as it would without this.

    Ranges need not be contiguous (``--jobs`` workers each write their own batches). A
    file that does not take the advice (a pipe, a system without it) is written as is, and
    so is every file while :data:`ENABLED` is off.
    """

    def __init__(self, fd: int, *, keep: int = _CACHED_BYTES, step: int = _ADVISED_BYTES) -> None:
        self.fd = fd
        self.keep = keep
        self.step = step
        self._fresh: list[tuple[int, int]] = []  # written, not yet advised
        self._fresh_bytes = 0
        self._written: deque[tuple[int, int]] = deque()  # advised once, still cached
        self._cached = 0
        self._enabled = ENABLED and hasattr(os, "posix_fadvise")

    def wrote(self, start: int, end: int) -> None:
        """Bytes ``[start, end)`` of the file were just written."""
        if not self._enabled or end <= start:
            return
        fresh = self._fresh
        if fresh and fresh[-1][1] == start:
            fresh[-1] = (fresh[-1][0], end)
        else:
            fresh.append((start, end))
        self._fresh_bytes += end - start
        if self._fresh_bytes < self.step:  # advice in steps: each call waits for the GIL
            return
        try:
            for a, b in fresh:
                self._advise(a, b)  # starts their write-back
                self._written.append((a, b))
                self._cached += b - a
            fresh.clear()
            self._fresh_bytes = 0
            while self._cached > self.keep:
                a, b = self._written.popleft()
                self._cached -= b - a
                self._advise(a, b)  # on disk by now: dropped
        except OSError:  # the file takes no advice: write it as is
            self._enabled = False

    def _advise(self, start: int, end: int) -> None:
        os.posix_fadvise(self.fd, start, end - start, os.POSIX_FADV_DONTNEED)
