"""Output files: written atomically, on a background thread.

A file appears under its name only once it is complete: it is written under a temporary
name beside it and renamed into place on success, so an interrupted run never leaves a
partial file that looks finished. A target that exists and is not a regular file (a pipe,
``/dev/null``) is written as it is: renaming over it would replace the device with a file.
A name for a descriptor this process already holds (``/dev/stdout``, ``/dev/fd/N``,
``/proc/self/fd/N``) is written through that descriptor, as ``-`` is: renaming over it would
replace the file behind it (``-o /dev/stdout >> run.log`` would lose the log). A symbolic
link is written through, to the file it points to, as ``cp`` would. Temporary names
(:func:`is_temporary`) are never read as input, and fit any name the file system accepts.

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
import re
import secrets
import stat
import sys
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

# ".NAME.XXXXXXXX.partial": XXXXXXXX is random (letters of tempfile's names, whose leftovers
# from earlier versions match too); NAME is cut short where the whole would be too long.
_TEMPORARY = re.compile(r"\..*\.[a-z0-9_]{8}\.partial", re.DOTALL)
_TEMPORARY_EXTRA = len("..12345678.partial")
_NAME_MAX = 255  # where the file system does not say


class AtomicOutput:
    """A file written under a temporary name and renamed into place only on success.

    ``-`` is standard output; a name for a descriptor this process holds (``/dev/stdout``,
    ``/dev/fd/3``) is written through it, appending where it appends; a pipe or device
    (``/dev/null``) is written in place; a link is written through to its file. The
    temporary is removed on any exception, an interrupt or ``SystemExit`` too. A name
    ending in ``.gz`` is gzip-compressed, with the same bytes for the same content run
    after run. Any failure to create, write, close or rename it (a full disk, a missing
    folder) is an :class:`OutputError` naming the file, raised by the next :meth:`write`
    or on leaving the ``with`` block; the temporary file is removed.
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
        try:
            if self.target == "-":
                self._file = sys.stdout.buffer
            elif (held := open_descriptor(self.target)) is not None:
                self._file = self._open_descriptor(held)
            elif _identity(self.target) is None:  # a pipe or device
                self._file = self._open_in_place()
            else:
                self._file = self._open_temporary()
            fd = self._descriptor()
            writeback = Writeback(fd) if fd is not None and self._tmp is not None else None
            self._writer = _Writer(self._file, fd, writeback)
            self._writer.start()
            self._interval = _SwitchInterval(_SWITCH_INTERVAL)
        except BaseException:  # an interrupt too: __exit__ will not run to remove the temporary
            self._release()
            raise
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
        with self._errors():
            handle, self._tmp = _create_temporary(self._final)
            raw = os.fdopen(handle, "wb")
            self._raw = raw  # closed by _release should fchmod fail
            os.fchmod(handle, _mode_for(self._final))  # not the 0600 it was created with
        return self._wrapped(raw)

    def _open_in_place(self) -> IO[bytes]:
        """A pipe or device, opened as it is (nothing to rename, nothing to remove)."""
        with self._errors():
            return self._wrapped(open(self.target, "wb"))  # closed in _close

    def _open_descriptor(self, fd: int) -> IO[bytes]:
        """A copy of descriptor ``fd``, written where (and as: appending or not) the
        original writes; what Python printed to it before is flushed first."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):  # replaced, closed
                if stream.fileno() == fd:
                    stream.flush()
        with self._errors():
            return self._wrapped(os.fdopen(os.dup(fd), "wb"))

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
        finally:  # on any exception (an interrupt, SystemExit) as on a failure to close
            self._release()

    def _release(self) -> None:
        """Put back the switch interval, close what is still open and remove the
        temporary file (gone already once renamed into place)."""
        if self._interval is not None:
            self._interval.restore()
            self._interval = None
        for stream in (self._file, self._raw) if self.target != "-" else ():
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
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
    targets: Mapping[str, str | os.PathLike[str] | None],
    inputs: Sequence[str] = (),
    *,
    folders: Mapping[str, str | os.PathLike[str] | None] | None = None,
) -> None:
    """Refuse, before any work, outputs that would destroy each other or an input.

    ``targets`` maps each output file's name (as the caller knows the option) to its path,
    or None where it is not written; ``folders`` does the same for output folders, whose
    whole content a run replaces (the Dask engine's folder of part files). Two outputs
    naming one file would leave only the last written; an output naming an input would
    replace its conversations with samples, and so would a folder holding an input or
    another output. The same file is recognised through links and other spellings of its
    path. Pipes and devices may repeat (``-o /dev/null --rejects /dev/null``); two outputs
    to standard output (``-``) would interleave, and standard output redirected to an
    input file (``-o - >> data.jsonl``) would be read back as input.

    Raises:
        OutputError: naming both.

    >>> check_targets({"output": "samples.jsonl", "rejects": "samples.jsonl"})
    Traceback (most recent call last):
    ...
    convsplit.errors.OutputError: rejects and output both name samples.jsonl; nothing was written
    """
    seen: dict[object, str] = {}
    for path in inputs:
        if path != "-":
            seen.setdefault(_identity(path), "an input file")
    for name, target in targets.items():
        if target is None:
            continue
        text = os.fspath(target)
        for key in _keys(text):
            other = seen.get(key)
            if other is not None:
                where = "standard output" if key == "-" or text == "-" else text
                raise OutputError(f"{name} and {other} both name {where}; nothing was written")
        for key in _keys(text):
            seen[key] = name
    for name, folder in (folders or {}).items():
        if folder is not None:
            _check_folder(name, os.fspath(folder), targets, inputs)


def _keys(text: str) -> list[object]:
    """What ``check_targets`` tells an output by: its file (none for a pipe or device);
    for standard output, ``-`` and the file it is redirected to."""
    if text != "-":
        key = _identity(text)
        return [] if key is None else [key]
    keys: list[object] = ["-"]
    with contextlib.suppress(AttributeError, OSError, ValueError):  # a replaced stdout
        found = os.fstat(sys.stdout.fileno())
        if stat.S_ISREG(found.st_mode):
            keys.append((found.st_dev, found.st_ino))
    return keys


def _check_folder(
    name: str,
    folder: str,
    targets: Mapping[str, str | os.PathLike[str] | None],
    inputs: Sequence[str],
) -> None:
    """Refuse an output folder that is an input or holds one, or holds another output."""
    root = os.path.realpath(folder)
    for path in inputs:
        if path != "-" and root in _places(path):
            raise OutputError(f"{name} and an input file both name {folder}; nothing was written")
        if path != "-" and any(_inside(place, root) for place in _places(path)):
            raise OutputError(
                f"{name} {folder} holds an input file, {path}, and the run replaces what the "
                "folder holds; write to another folder; nothing was written"
            )
    for other, target in targets.items():
        text = os.fspath(target) if target is not None else "-"
        if text == "-":
            continue
        if root in _places(text):
            raise OutputError(f"{other} and {name} both name {folder}; nothing was written")
        if any(_inside(place, root) for place in _places(text)):
            raise OutputError(
                f"{other} {text} is inside {name} {folder}, whose content the run replaces; "
                f"write {other} outside it; nothing was written"
            )


def _places(path: str) -> set[str]:
    """Where ``path`` is: its entry in its folder, and (for a link) the file it leads to."""
    folder, entry = os.path.split(os.path.abspath(path))
    return {os.path.join(os.path.realpath(folder), entry), os.path.realpath(path)}


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


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


def open_descriptor(path: str | os.PathLike[str]) -> int | None:
    """The descriptor of this process that ``path`` names (``/dev/stdout``, ``/dev/fd/N``,
    ``/proc/self/fd/N``, or a link leading to one of those), or None.

    Such a path names whatever the descriptor was opened on (a file opened for appending
    by the shell, a pipe, a socket): writing through the descriptor is the one way to
    write where the caller meant.

    >>> open_descriptor("/dev/stdout") if os.path.exists("/dev/stdout") else 1
    1
    >>> open_descriptor("samples.jsonl") is None
    True
    """
    folders = {"/dev/fd", f"/proc/{os.getpid()}/fd"}
    current = os.path.abspath(os.fspath(path))
    for _ in range(40):  # the kernel's own limit on links followed
        parent, name = os.path.split(current)
        parent = os.path.realpath(parent)
        if parent in folders and name.isdigit():
            return int(name)
        current = os.path.join(parent, name)
        try:
            link = os.readlink(current)
        except OSError:  # not a link (or not there): a name of its own
            return None
        current = os.path.normpath(os.path.join(parent, link))
    return None


def is_temporary(name: str) -> bool:
    """Whether ``name`` (a file or folder name, without its folder) is one convsplit gives
    what it is still writing, or what a killed run left: never an input.

    >>> is_temporary(".samples.jsonl.k2x9a0qe.partial"), is_temporary("samples.jsonl")
    (True, False)
    """
    return _TEMPORARY.fullmatch(name) is not None


def _temporary_names(final: str) -> Iterator[str]:
    """Fresh temporary names beside ``final``, as short as the file system needs."""
    folder, name = os.path.split(final)
    try:
        name_max = os.pathconf(folder or ".", "PC_NAME_MAX")
    except (OSError, ValueError):  # no such folder: the error comes on creating
        name_max = _NAME_MAX
    room = max(name_max - _TEMPORARY_EXTRA, 0)
    while len(os.fsencode(name)) > room:  # cut by characters, not inside one
        name = name[:-1]
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    while True:
        token = "".join(secrets.choice(alphabet) for _ in range(8))
        yield os.path.join(folder, f".{name}.{token}.partial")


def _create_temporary(final: str) -> tuple[int, str]:
    """A new file beside ``final`` (so renaming it into place is atomic), open for writing,
    readable by its owner only until its mode is set."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for path in _temporary_names(final):
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def temporary_folder(final: str | os.PathLike[str]) -> str:
    """A new folder beside ``final`` (so renaming it into place is atomic), made as
    ``mkdir`` makes one; its name is :func:`is_temporary`.

    Raises:
        OSError: the folder cannot be made.
    """
    for path in _temporary_names(os.path.abspath(os.fspath(final))):
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")  # pragma: no cover


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
