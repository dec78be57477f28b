"""Output files: written atomically, on a background thread.

A file appears under its name only once it is complete: it is written under a temporary
name beside it and renamed into place on success, so an interrupted run never leaves a
partial file that looks finished. A target that exists and is not a regular file (a pipe,
``/dev/null``) is written as it is: renaming over it would replace the device with a file.
A symbolic link is written through, to the file it points to, as ``cp`` would.

Writing happens on a second thread. Samples repeat their history, so at large windows the
output is many times the input, and copying it into the kernel (and gzip's compression)
takes as long as splitting it; both release the GIL, so the next conversation is split
while the last one is written. The writer takes samples as pieces (message fragments
shared between samples), at most a few MiB at a time, so memory stays flat, and hands
them to ``writev`` as they are: joining them first would copy the whole output once more
while holding the GIL. Coming back from each call, the thread waits for the GIL while
the splitter runs, up to the interpreter's switch interval; at the default 5 ms a call
per thousand pieces could not keep up, so the interval is 1 ms while an output is open.
What is written does not stay in memory either (:class:`Writeback`).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import stat
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from typing import IO, cast

from convsplit.errors import OutputError

_PENDING_BYTES = 8 << 20  # output handed to the writer thread and not yet written
_CACHED_BYTES = 64 << 20  # output written and left in the page cache, per writer
_ADVISED_BYTES = 32 << 20  # output written between two calls to posix_fadvise
_SWITCH_INTERVAL = 0.001  # seconds the writer waits, at most, for the GIL after a write


class AtomicOutput:
    """A file written under a temporary name and renamed into place only on success.

    ``-`` is standard output; a pipe or device (``/dev/null``) is written in place; a link
    is written through to its file. A name ending in ``.gz`` is gzip-compressed, with the
    same bytes for the same content run after run. Any failure to create, write, close or
    rename it (a full disk, a missing folder) is an :class:`OutputError` naming the file,
    raised by the next :meth:`write` or on leaving the ``with`` block; the temporary file
    is removed.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = os.fspath(target)
        self._tmp: str | None = None
        self._final = self.target  # the file renamed into place (through a link)
        self._file: IO[bytes] | None = None
        self._raw: IO[bytes] | None = None
        self._writer: _Writer | None = None
        self._interval: _SwitchInterval | None = None

    def __enter__(self) -> AtomicOutput:
        if self.target == "-":
            self._file = sys.stdout.buffer
        elif _identity(self.target) is None:  # a pipe or device
            self._file = self._open_in_place()
        else:
            self._file = self._open_temporary()
        fd = self._descriptor()
        writeback = Writeback(fd) if fd is not None and self._tmp is not None else None
        self._writer = _Writer(self._file, fd, writeback)
        self._writer.start()
        self._interval = _SwitchInterval(_SWITCH_INTERVAL)
        return self

    def _descriptor(self) -> int | None:
        """The descriptor written to without Python's buffering: a plain file, or standard
        output once what was printed before is flushed; None for gzip."""
        if self.target == "-":
            with contextlib.suppress(AttributeError, OSError, ValueError):  # a replaced stdout
                sys.stdout.buffer.flush()
                return sys.stdout.buffer.fileno()
            return None
        return self._raw.fileno() if self._raw is not None and self._file is self._raw else None

    def _open_temporary(self) -> IO[bytes]:
        self._final = os.path.realpath(self.target)  # a link's file, not the link
        folder, name = os.path.split(self._final)
        with self._errors():
            handle, self._tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
            os.fchmod(handle, _mode_for(self._final))  # not mkstemp's 0600
        return self._wrapped(os.fdopen(handle, "wb"))

    def _open_in_place(self) -> IO[bytes]:
        """A pipe or device, opened as it is (nothing to rename, nothing to remove)."""
        with self._errors():
            return self._wrapped(open(self.target, "wb"))  # closed in _close

    def _wrapped(self, raw: IO[bytes]) -> IO[bytes]:
        self._raw = raw
        if self.target.endswith(".gz"):
            # mtime=0 and no name: the same samples give the same bytes, run after run.
            zipped = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0)
            return cast(IO[bytes], zipped)
        return raw

    @property
    def positional_path(self) -> str | None:
        """The temporary file, where other processes may write at offsets (``os.pwrite``):
        a plain file only, not standard output, a pipe or gzip."""
        if self._tmp is None or self._file is not self._raw:
            return None
        return self._tmp

    def write(self, data: bytes) -> None:
        """Append ``data`` (queued; written in order by the writer thread)."""
        self.write_chunks([data])

    def write_chunks(self, chunks: list[bytes]) -> None:
        """Append the concatenation of ``chunks``, written as they are by the writer thread
        (no copy is made here)."""
        if self._writer is None:  # pragma: no cover - used inside its with-block only
            raise OutputError(f"{self.target} is not open")
        self._raise_failure()
        if chunks:
            self._writer.put(chunks)

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            if self._writer is not None:
                self._writer.finish()
            if kind is None:
                self._raise_failure()
            self._close(commit=kind is None)
        finally:
            if self._interval is not None:
                self._interval.restore()
            if self._tmp is not None and os.path.exists(self._tmp):
                os.unlink(self._tmp)

    def _close(self, *, commit: bool) -> None:
        with self._errors():
            if self.target == "-":
                sys.stdout.buffer.flush()
                return
            if self._file is None or self._raw is None:  # pragma: no cover
                return
            if self._file is not self._raw:
                self._file.close()
            self._raw.close()
            if commit and self._tmp is not None:
                os.replace(self._tmp, self._final)

    def _raise_failure(self) -> None:
        error = self._writer.error if self._writer is not None else None
        if error is not None:
            with self._errors():
                raise error

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            raise OutputError(
                f"cannot write {self.target}: {error.strerror or error}; nothing was written"
            ) from error


def check_targets(
    targets: Mapping[str, str | os.PathLike[str] | None], inputs: Sequence[str] = ()
) -> None:
    """Refuse, before any work, outputs that would destroy each other or an input.

    ``targets`` maps each output's name (as the caller knows the option) to its path, or
    None where it is not written. Two outputs naming one file would leave only the last
    written; an output naming an input would replace its conversations with samples. The
    same file is recognised through links and other spellings of its path. Pipes and
    devices may repeat (``-o /dev/null --rejects /dev/null``); two outputs to standard
    output (``-``) would interleave.

    Raises:
        OutputError: naming both.
    """
    seen: dict[object, str] = {}
    for path in inputs:
        if path != "-":
            seen.setdefault(_identity(path), "an input file")
    for name, target in targets.items():
        if target is None:
            continue
        text = os.fspath(target)
        key = "-" if text == "-" else _identity(text)
        if key is None:
            continue
        other = seen.get(key)
        if other is not None:
            where = "standard output" if key == "-" else text
            raise OutputError(f"{name} and {other} both name {where}; nothing was written")
        seen[key] = name


def _identity(path: str) -> object:
    """What names one file whatever the spelling (device and inode where it exists; the
    resolved path where it does not yet), or None for a pipe or device."""
    try:
        found = os.stat(path)
    except OSError:  # absent (created as a file) or unreadable (its error comes on opening)
        return os.path.realpath(path)
    if not stat.S_ISREG(found.st_mode):
        return None
    return (found.st_dev, found.st_ino)


def _mode_for(path: str) -> int:
    """The permissions ``open(path, "w")`` would leave: the file's own if it exists, else
    the umask's."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class _Writer(threading.Thread):
    """Writes handed-over chunk lists in order; after a failure it keeps the error and
    drops the rest.

    What waits to be written is bounded in bytes (one conversation's output always gets
    through, however large), so memory stays flat whatever the input size.
    """

    def __init__(self, file: IO[bytes], fd: int | None, writeback: Writeback | None) -> None:
        super().__init__(name="convsplit-writer", daemon=True)
        self.file = file
        self.fd = fd
        self.writeback = writeback
        self._offset = 0
        self.error: OSError | None = None
        self._waiting: list[list[bytes]] = []
        self._waiting_bytes = 0
        self._pending_bytes = 0  # handed over and not yet written
        self._closed = False
        self._changed = threading.Condition()

    def put(self, chunks: list[bytes]) -> None:
        """Hand ``chunks`` over; waits while more than the limit is pending."""
        size = sum(map(len, chunks))
        with self._changed:
            while self._pending_bytes and self._pending_bytes + size > _PENDING_BYTES:
                self._changed.wait()
            self._waiting.append(chunks)
            self._waiting_bytes += size
            self._pending_bytes += size
            self._changed.notify_all()

    def run(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                # Take everything waiting: each wake-up and each call out of Python
                # costs a wait for the GIL, so one large write beats many small ones.
                waiting, self._waiting = self._waiting, []
                size, self._waiting_bytes = self._waiting_bytes, 0
                closed = self._closed
            if self.error is None and size:
                pieces = list(chain.from_iterable(waiting))
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
            del waiting
            with self._changed:
                self._pending_bytes -= size
                self._changed.notify_all()
            if closed:
                return

    def finish(self) -> None:
        """Write what is pending, then stop."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self.join()


class _SwitchInterval:
    """``sys.setswitchinterval(seconds)`` (if shorter) until :meth:`restore`, which puts
    back the previous interval unless someone else has changed it since."""

    def __init__(self, seconds: float) -> None:
        self.previous = sys.getswitchinterval()
        self.seconds = min(seconds, self.previous)
        sys.setswitchinterval(self.seconds)
        self.seconds = sys.getswitchinterval()  # as the interpreter rounded it

    def restore(self) -> None:
        if sys.getswitchinterval() == self.seconds:
            sys.setswitchinterval(self.previous)


_IOV_MAX = 1024  # the least any POSIX system allows in one writev
_BLOCK_BYTES = 1 << 20


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
    reads, evicting what others use. Taking fresh pages is also what writing costs most
    (on a virtual machine, the hypervisor backs each on first touch: 1.5 s of system time
    per GB here, against 0.3 s for pages just freed). So each range written is handed to
    the disk at once, and once 64 MiB more are written, dropped from the cache: the next
    writes reuse its pages. ``POSIX_FADV_DONTNEED`` does both (it starts write-back of
    dirty pages and drops clean ones), and never waits for the disk: a page still dirty
    stays cached, as it would without this.

    Ranges need not be contiguous (``--jobs`` workers each write their own batches). A
    file that does not take the advice (a pipe, a system without it) is written as is.
    """

    def __init__(self, fd: int, *, keep: int = _CACHED_BYTES, step: int = _ADVISED_BYTES) -> None:
        self.fd = fd
        self.keep = keep
        self.step = step
        self._fresh: list[tuple[int, int]] = []  # written, not yet advised
        self._fresh_bytes = 0
        self._written: deque[tuple[int, int]] = deque()  # advised once, still cached
        self._cached = 0
        self._enabled = hasattr(os, "posix_fadvise")

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
