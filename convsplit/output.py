"""Output files: written atomically, on a background thread.

A file appears under its name only once it is complete: it is written under a temporary
name beside it and renamed into place on success, so an interrupted run never leaves a
partial file that looks finished.

Writing happens on a second thread. Samples repeat their history, so at large windows the
output is many times the input, and copying it into the kernel (and gzip's compression)
takes as long as splitting it; both release the GIL, so the next conversation is split
while the last one is written. The writer takes a sample's pieces (message fragments
shared between samples) and hands them to ``os.writev`` as they are, never joined; at
most a few MiB wait in between, so memory stays flat.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from itertools import chain
from typing import IO, cast

from convsplit.errors import OutputError

_PENDING_BYTES = 4 << 20  # output handed to the writer thread and not yet written


class AtomicOutput:
    """A file written under a temporary name and renamed into place only on success.

    ``-`` is standard output. A name ending in ``.gz`` is gzip-compressed, with the same
    bytes for the same content run after run. Any failure to create, write, close or
    rename it (a full disk, a missing folder) is an :class:`OutputError` naming the file,
    raised by the next :meth:`write` or on leaving the ``with`` block; the temporary file
    is removed.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = os.fspath(target)
        self._tmp: str | None = None
        self._file: IO[bytes] | None = None
        self._raw: IO[bytes] | None = None
        self._writer: _Writer | None = None

    def __enter__(self) -> AtomicOutput:
        if self.target == "-":
            self._file = sys.stdout.buffer
        else:
            self._file = self._open_temporary()
        self._writer = _Writer(self._file, self._descriptor())
        self._writer.start()
        return self

    def _descriptor(self) -> int | None:
        """Where pieces can go as they are (``os.writev``): a plain file, or standard output
        once what was printed before is flushed. gzip needs them joined."""
        if self.target == "-":
            with contextlib.suppress(AttributeError, OSError, ValueError):  # a replaced stdout
                sys.stdout.buffer.flush()
                return sys.stdout.buffer.fileno()
            return None
        return self._raw.fileno() if self._raw is not None and self._file is self._raw else None

    def _open_temporary(self) -> IO[bytes]:
        folder = os.path.dirname(os.path.abspath(self.target))
        with self._errors():
            handle, self._tmp = tempfile.mkstemp(
                prefix=f".{os.path.basename(self.target)}.", suffix=".partial", dir=folder
            )
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(handle, 0o666 & ~umask)  # as open() would create it, not mkstemp's 0600
        self._raw = os.fdopen(handle, "wb")
        if self.target.endswith(".gz"):
            # mtime=0 and no name: the same samples give the same bytes, run after run.
            zipped = gzip.GzipFile(filename="", fileobj=self._raw, mode="wb", mtime=0)
            return cast(IO[bytes], zipped)
        return self._raw

    @property
    def positional_path(self) -> str | None:
        """The temporary file, where other processes may write at offsets (``os.pwrite``):
        a plain file only, not standard output or gzip."""
        if self.target == "-" or self._file is not self._raw:
            return None
        return self._tmp

    def write(self, data: bytes) -> None:
        """Append ``data`` (queued; written in order by the writer thread)."""
        self.write_chunks([data])

    def write_chunks(self, chunks: list[bytes]) -> None:
        """Append the concatenation of ``chunks``, written by the writer thread as they are
        (``os.writev``), or joined there for gzip."""
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
            if self._tmp is not None and os.path.exists(self._tmp):
                os.unlink(self._tmp)

    def _close(self, *, commit: bool) -> None:
        with self._errors():
            if self.target == "-":
                sys.stdout.buffer.flush()
                return
            if self._file is None or self._raw is None or self._tmp is None:  # pragma: no cover
                return
            if self._file is not self._raw:
                self._file.close()
            self._raw.close()
            if commit:
                os.replace(self._tmp, self.target)

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


class _Writer(threading.Thread):
    """Writes handed-over chunk lists in order; after a failure it keeps the error and
    drops the rest.

    What waits to be written is bounded in bytes (one conversation's output always gets
    through, however large), so memory stays flat whatever the input size.
    """

    def __init__(self, file: IO[bytes], fd: int | None) -> None:
        super().__init__(name="convsplit-writer", daemon=True)
        self.file = file
        self.fd = fd
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
                # Take everything waiting: each wake-up costs a wait for the GIL, so one
                # large write beats many small ones.
                waiting, self._waiting = self._waiting, []
                size, self._waiting_bytes = self._waiting_bytes, 0
                closed = self._closed
            pieces = list(chain.from_iterable(waiting))
            if self.error is None and pieces:
                try:
                    if self.fd is None:  # bytes.join lets go of the GIL on large results
                        self.file.write(b"".join(pieces))
                    else:
                        write_pieces(self.fd, pieces)
                except OSError as error:
                    self.error = error
            del pieces, waiting
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


_IOV_MAX = 1024  # the least any POSIX system allows in one writev


def write_pieces(fd: int, pieces: list[bytes]) -> None:
    """Write ``pieces`` one after another to ``fd``, without joining them first.

    ``os.writev`` copies straight from the pieces (the GIL released throughout), saving a
    copy of the whole output and the large buffers it would need. A short write (a signal,
    a nearly full disk) goes on from where it stopped.
    """
    for k in range(0, len(pieces), _IOV_MAX):
        batch = pieces[k : k + _IOV_MAX]
        written = os.writev(fd, batch)
        if written == sum(map(len, batch)):
            continue
        for piece in batch:
            if written >= len(piece):
                written -= len(piece)
                continue
            view = memoryview(piece)[written:]
            written = 0
            while view:
                view = view[os.write(fd, view) :]
