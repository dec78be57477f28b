"""JSON Lines: one record per line, read from a stream or from a byte range of a file.

A plain (uncompressed) JSONL file can be cut into byte ranges that are read apart, in
parallel (the Dask engine does): a line belongs to the range it starts in, so the records
of the ranges ``[0, a)``, ``[a, b)``, ... ``[z, size)`` one after another are the records
the whole-file reader gives, byte for byte and line for line. :func:`count_range` counts a
range's lines and records without parsing, so each range can be given the line number its
first line has in the file.

>>> import os, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = os.path.join(folder, "chats.jsonl")
...     _ = open(path, "wb").write(b'{"n": 1}\\n\\n{"n": 2}\\n{"n": 3}\\n')
...     first = count_range(path, 0, 12)
...     ([r.value for r in read_range(path, 0, 12)], first,
...      [(r.lineno, r.value) for r in read_range(path, 12, 27, first_line=first.lines + 1)])
([{'n': 1}, {'n': 2}], RangeCount(lines=3, records=2), [(4, {'n': 3})])
"""

from __future__ import annotations

import io
import os
from collections.abc import Generator, Iterator
from typing import IO, NamedTuple

from convsplit.budget import check_count
from convsplit.errors import InvalidConversationError, InvalidOptionError
from convsplit.formats import _sniff
from convsplit.formats._sniff import (
    BOM,
    GZIP_MAGIC,
    WHITESPACE,
    container_of_name,
    sniff,
    without_line_ending,
)
from convsplit.formats.records import (
    OVERSIZE_PREFIX,
    RawRecord,
    check_max_record_bytes,
    oversize_error,
    parse_record,
)

_NEWLINE = 0x0A


def read_lines(
    reader: IO[bytes], *, limit: int | None, parse: bool = True, first_line: int = 1
) -> Generator[RawRecord, None, int]:
    """The records of a JSONL stream, blank lines skipped; returns the number of lines read.

    Args:
        reader: a buffered binary stream (``readline`` with a size is called on it).
        limit: the largest record (its bytes without the line ending); a longer line is
            read past a chunk at a time and comes back as an error with its first bytes.
            None or 0: no limit.
        parse: parse each record (else only cut it: :func:`~.records.parsed` parses it).
        first_line: the line number of the stream's first line.
    """
    lineno = first_line - 1
    # A record of ``limit`` bytes may come with two bytes of line ending (CRLF).
    while line := reader.readline(limit + 2) if limit else reader.readline():
        lineno += 1
        if limit and len(line) == limit + 2 and not line.endswith(b"\n"):
            yield skip_long_line(reader, line, lineno, limit, parse=parse)
            continue
        text = without_line_ending(line)
        if not text.strip(WHITESPACE):
            continue
        if limit and len(text) > limit:
            yield RawRecord(lineno, text[:OVERSIZE_PREFIX], error=oversize_error(limit, len(text)))
        elif not parse:  # cut only: whoever splits it parses it (worker processes)
            yield RawRecord(lineno, text)
        else:
            yield parse_record(lineno, text)
    return lineno - first_line + 1


def skip_long_line(
    reader: IO[bytes], start: bytes, lineno: int, limit: int, *, parse: bool = True
) -> RawRecord:
    """Read past the rest of a line that ``start`` (its first bytes, without the newline)
    shows may be over ``limit``, holding a chunk at a time.

    The size compared is the line's without its line ending (``\\n`` or ``\\r\\n``); a line
    that turns out to fit (only its line ending was not read yet) comes back whole.
    """
    size = len(start)
    kept = last = tail = start
    while not tail.endswith(b"\n"):
        tail = reader.readline(_sniff.CHUNK)
        if not tail:
            break
        size += len(tail)
        last = (last + tail)[-2:]  # the line ending may straddle two reads
        if len(kept) <= limit + 2:
            kept += tail
    if last.endswith(b"\r\n"):
        size -= 2
    elif last.endswith(b"\n"):
        size -= 1
    if size <= limit:
        text = kept[:size]
        return parse_record(lineno, text) if parse else RawRecord(lineno, text)
    return RawRecord(lineno, start[:OVERSIZE_PREFIX], error=oversize_error(limit, size))


# -- byte ranges -------------------------------------------------------------------------------


class RangeCount(NamedTuple):
    """What :func:`count_range` finds in a byte range."""

    #: Lines that start in the range, blank ones included: the next range's first line
    #: number is this range's plus ``lines``.
    lines: int
    #: Records (every line but the blank ones): what :func:`read_range` yields.
    records: int


def splittable(path: str | os.PathLike[str]) -> bool:
    """Whether the whole-file reader reads ``path`` as uncompressed JSON Lines, so that it
    can be read in byte ranges with :func:`read_range`.

    A ``.jsonl`` or ``.ndjson`` name always is; a gzipped file never is; any other file
    is told from its first bytes, as the whole-file reader tells it.

    Raises:
        InvalidConversationError: the file cannot be opened or read, naming it.

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     lines, array = os.path.join(folder, "a.json"), os.path.join(folder, "b.json")
    ...     _ = open(lines, "w").write('{"messages": []}\\n{"messages": []}\\n')
    ...     _ = open(array, "w").write('[\\n{"messages": []}\\n]\\n')
    ...     splittable(lines), splittable(array)
    (True, False)
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as stream:
            if name.endswith(".gz") or stream.read(len(GZIP_MAGIC)) == GZIP_MAGIC:
                return False
            if container_of_name(name) == "jsonl":
                return True
            stream.seek(0)
            return sniff(stream)[1] == "jsonl"
    except OSError as error:
        raise InvalidConversationError(
            f"cannot read: {error.strerror or error}", path=name
        ) from error


def read_range(
    path: str | os.PathLike[str],
    start: int,
    end: int,
    *,
    first_line: int = 1,
    max_record_bytes: int | None = None,
    parse: bool = True,
    name: str | None = None,
) -> Iterator[RawRecord]:
    """The records of the JSONL lines that start in the bytes ``[start, end)`` of a file,
    exactly as the whole-file reader gives them (a byte-order mark at the file's start
    dropped, CRLF endings, blank lines skipped, over-long lines rejected unread).

    A line belongs to the range it starts in: a range that starts inside a line skips to
    the next one, and the last line is read to its end, past ``end``. Only for files that
    :func:`splittable` accepts: any other file is read as lines all the same.

    Args:
        path: the file.
        start, end: the byte range; ``0 <= start <= end``.
        first_line: the line number of the range's first line (:func:`count_range` of the
            ranges before it gives it: 1 plus their ``lines``).
        max_record_bytes: a record larger than this is rejected unread, its first bytes
            kept (None or 0: no limit).
        parse: parse each record (else only cut it; :func:`~.records.parsed` parses it).
        name: the file name errors report (defaults to ``path``).

    Raises:
        InvalidOptionError: a bad ``start``, ``end``, ``first_line`` or
            ``max_record_bytes``, raised at once.
        InvalidConversationError: the file cannot be opened or read, naming it.
    """
    limit = check_max_record_bytes(max_record_bytes)
    begin, stop = _check_range(start, end)
    first = check_count("first_line", first_line, minimum=1)
    return _read_range(path, begin, stop, first_line=first, limit=limit, parse=parse, name=name)


def count_range(
    path: str | os.PathLike[str],
    start: int,
    end: int,
    *,
    max_record_bytes: int | None = None,
    name: str | None = None,
) -> RangeCount:
    """Count the lines and records of a byte range without parsing any, by the same rules
    as :func:`read_range` (pass it the same ``max_record_bytes``).

    Raises:
        InvalidOptionError: a bad ``start``, ``end`` or ``max_record_bytes``.
        InvalidConversationError: the file cannot be opened or read, naming it.
    """
    limit = check_max_record_bytes(max_record_bytes)
    begin, stop = _check_range(start, end)
    records = _read_range(path, begin, stop, first_line=1, limit=limit, parse=False, name=name)
    count = 0
    try:
        while True:
            next(records)
            count += 1
    except StopIteration as done:
        return RangeCount(done.value, count)


def _check_range(start: object, end: object) -> tuple[int, int]:
    begin = check_count("start", start, minimum=0)
    stop = check_count("end", end, minimum=0)
    if stop < begin:
        raise InvalidOptionError(f"a byte range must have start <= end; got [{begin}, {stop})")
    return begin, stop


def _read_range(
    path: str | os.PathLike[str],
    start: int,
    end: int,
    *,
    first_line: int,
    limit: int | None,
    parse: bool,
    name: str | None,
) -> Generator[RawRecord, None, int]:
    """:func:`read_range`, checked; returns the number of lines read."""
    shown = name or os.fspath(path)
    try:
        file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed below)
    except OSError as error:
        raise InvalidConversationError(
            f"cannot open: {error.strerror or error}", path=shown
        ) from error
    try:
        with file:
            position = _first_line_start(file, start, end)
            if position is None:
                return 0
            ahead = 0
            if position == 0 and _read_exactly(file, len(BOM)) == BOM:
                ahead = len(BOM)
            file.seek(position + ahead)
            stream = _Range(file, before_end=end - position - ahead)
            reader = io.BufferedReader(stream, buffer_size=_sniff.CHUNK)
            return (yield from read_lines(reader, limit=limit, parse=parse, first_line=first_line))
    except OSError as error:
        raise InvalidConversationError(
            f"cannot read: {error.strerror or error}", path=shown
        ) from error


def _first_line_start(file: IO[bytes], start: int, end: int) -> int | None:
    """Where the first line that starts in ``[start, end)`` starts; None if none does.

    Reads at most the bytes up to ``end``: a range inside one long line costs no more
    than its own bytes.
    """
    if start >= end:
        return None
    if start == 0:
        return 0
    position = start - 1  # a line starts at ``start`` if the byte before it ends a line
    file.seek(position)
    while position < end - 1:
        chunk = file.read(min(_sniff.CHUNK, end - 1 - position))
        if not chunk:
            return None
        newline = chunk.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(chunk)
    return None


def _read_exactly(file: IO[bytes], size: int) -> bytes:
    data = b""
    while len(data) < size and (more := file.read(size - len(data))):
        data += more
    return data


class _Range(io.RawIOBase):
    """A file read from its position until ``before_end`` bytes are given, then on to the
    end of the line those bytes end in (nothing more if they end with a newline)."""

    def __init__(self, file: io.FileIO, *, before_end: int) -> None:
        self._file = file
        self._left = max(before_end, 0)
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._done:
            return 0
        view = memoryview(buffer)
        if self._left:
            n = self._file.readinto(view[: self._left]) or 0
            self._left -= n
            if not n or (not self._left and view[n - 1] == _NEWLINE):
                self._done = True
            return n
        n = self._file.readinto(view) or 0
        newline = bytes(view[:n]).find(b"\n")
        if not n or newline >= 0:
            self._done = True
        return n if newline < 0 else newline + 1
