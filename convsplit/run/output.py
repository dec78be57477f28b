"""Output files, written atomically.

A file appears under its name only once it is complete: it is written under a temporary
name beside it and renamed into place on success, so an interrupted run never leaves a
partial file that looks finished. A target that exists and is not a regular file (a pipe,
``/dev/null``) is written as it is: renaming over it would replace the device with a file.
A name for a descriptor this process already holds (``/dev/stdout``, ``/dev/fd/N``,
``/proc/self/fd/N``) is written through that descriptor, as ``-`` is: renaming over it would
replace the file behind it (``-o /dev/stdout >> run.log`` would lose the log). A symbolic
link is written through, to the file it points to, as ``cp`` would. Temporary names
(:func:`is_temporary`) are never read as input, and fit any name the file system accepts.

How the bytes get there (a writer thread, vector writes, page-cache advice) is the business
of :mod:`convsplit.run._writeback`, behind one switch.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import secrets
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, cast

from convsplit.errors import OutputError
from convsplit.formats.parquet import ParquetLines, is_parquet
from convsplit.run._writeback import Writer, start_writer
from convsplit.run.interrupts import raise_if_interrupted

# ".NAME.RANDOM.partial": RANDOM is eight letters or digits (as tempfile's names, whose
# leftovers from earlier versions match too); NAME is cut short where the whole would be too
# long.
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
    after run; one ending in ``.parquet`` holds the lines' rows as Parquet row groups
    (:class:`~convsplit.formats.parquet.ParquetLines`). Any failure to create, write, close
    or rename it (a full disk, a missing folder) is an :class:`OutputError` naming the
    file, raised by the next :meth:`write` or on leaving the ``with`` block; the temporary
    file is removed.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = os.fspath(target)
        self._tmp: str | None = None
        self._final = self.target  # the file renamed into place (through a link)
        self._file: IO[bytes] | None = None
        self._raw: IO[bytes] | None = None
        self._writer: Writer | None = None

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
            self._writer = start_writer(
                self._file, self._descriptor(), advise=self._tmp is not None
            )
        except BaseException:  # an interrupt too: __exit__ will not run to remove the temporary
            self.discard()
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
            self._raw = raw  # closed by discard should fchmod fail
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
        if is_parquet(self.target):  # the writers' JSON lines, as Parquet row groups
            return cast(IO[bytes], ParquetLines(raw, name=self.target))
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
        """Append ``data`` (written in order, perhaps later: see :meth:`write_chunks`)."""
        self.write_chunks([data])

    def write_chunks(self, chunks: list[bytes]) -> None:
        """Append the concatenation of ``chunks``, written as they are (no copy is made
        here; the list and its pieces must not change after). A failure to write shows at
        a later call or on leaving the ``with`` block."""
        if self._writer is None:  # pragma: no cover - used inside its with-block only
            raise OutputError(f"{self.target} is not open")
        self._raise_failure()
        if chunks:
            self._writer.put(chunks)

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            if kind is None:
                raise_if_interrupted()
                self.complete()
                self.commit()
        finally:  # on any exception (an interrupt, SystemExit) as on a failure to close
            self.discard()

    def complete(self) -> None:
        """Write what is pending and close the file, without renaming it into place
        (:meth:`commit` does): :class:`AtomicOutputs` renames several only once all are
        complete.

        Raises:
            OutputError: a write or the close failed.
        """
        if self._writer is not None:
            self._writer.finish()
        self._raise_failure()
        self._close()

    def commit(self) -> None:
        """Rename the completed file into place."""
        if self._tmp is not None and self.target != "-":
            with self._errors():
                os.replace(self._tmp, self._final)
            self._tmp = None  # in place: nothing left to remove

    def discard(self) -> None:
        """Stop the writer, close what is still open and remove the temporary file (gone
        already once renamed into place)."""
        if self._writer is not None:
            self._writer.finish()
        for stream in (self._file, self._raw) if self.target != "-" else ():
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)

    def _close(self) -> None:
        with self._errors():
            if self.target == "-":
                sys.stdout.buffer.flush()
                return
            if self._file is None or self._raw is None:  # pragma: no cover
                return
            if self._file is not self._raw:
                self._file.close()
            self._raw.close()

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


class AtomicOutputs:
    """Several :class:`AtomicOutput` files renamed into place together, once every one is
    complete: a failure to write any leaves none of them (as one run of a window sweep).

    The ``with`` block gives the list of outputs, in the order of ``targets``.
    """

    def __init__(self, targets: Sequence[str | os.PathLike[str]]) -> None:
        self.outputs = [AtomicOutput(t) for t in targets]
        self._opened: list[AtomicOutput] = []

    def __enter__(self) -> list[AtomicOutput]:
        try:
            for output in self.outputs:
                output.__enter__()
                self._opened.append(output)
        except BaseException:  # an interrupt too: remove the temporaries opened
            self.discard()
            raise
        return self.outputs

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            if kind is None:
                raise_if_interrupted()
                for output in self._opened:
                    output.complete()
                for output in self._opened:
                    output.commit()
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove every temporary file not renamed into place."""
        for output in reversed(self._opened):
            output.discard()
        self._opened.clear()


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
