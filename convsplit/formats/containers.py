"""Containers: JSONL, a JSON array, or concatenated JSON objects; plain or gzipped; a file,
a binary stream or standard input.

Every record comes out with the line it starts on and its exact original bytes (without
the line ending, the surrounding whitespace or the comma that separates it), so a rejected
record can be reported and written to a rejects file unchanged. A JSON array is cut into
records by a small scanner that keeps one record in memory at a time: a 10 GB array file
streams like a JSONL file does. Records are parsed with orjson.

A file named ``.jsonl`` or ``.ndjson`` (gzipped or not) is JSON Lines, whatever its first
line holds. Any other input (``.json``, standard input, a stream) is told from its data:
gzip by its magic bytes (or a ``.gz`` name); a JSON array by a first non-space byte ``[``,
unless that first line is a whole JSON value followed by more lines (JSONL whose first
record is a list of messages); pretty-printed objects one after another when the first line
is a lone ``{``; JSONL otherwise.

One broken record does not stop the reading: a JSONL line is its own record, and in an
array or a run of objects the scanner matches brackets leniently and, when a record turns
out unbalanced, starts again at the next line that opens a record at the column where the
broken one opened.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Literal, cast

import orjson

from convsplit.budget import check_count
from convsplit.errors import InvalidConversationError
from convsplit.formats._common import JSONTooDeepError, parse_json
from convsplit.messages import MAX_JSON_DEPTH

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
# Outside a string only brackets, quotes and commas matter; inside, quotes, escapes and a
# line break (which no JSON string holds: it ends a broken one).
_OUTSIDE = re.compile(rb'[][{}",]')
_INSIDE = re.compile(rb'["\\\n]')
# A line that opens an object or a list: where a scan can start again after a broken record.
_LINE_OPENER = re.compile(rb"\n([ \t]*)[\[{]")
_OPEN_LIST, _CLOSE_LIST, _OPEN_OBJECT, _QUOTE, _BACKSLASH = 0x5B, 0x5D, 0x7B, 0x22, 0x5C
#: File names read as JSON Lines whatever their first bytes are.
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")

Container = Literal["jsonl", "array", "concatenated"]


@dataclass(frozen=True)
class RawRecord:
    """One record as it stands in the file: where it starts, its bytes, its parsed value.

    ``text`` is the record's exact bytes, without its line ending (JSONL) or the whitespace
    and comma around it (an array). ``error`` is set (and ``value`` is None) when the bytes
    are not a JSON value convsplit reads, or are over the size limit (then ``text`` is only
    their first :data:`OVERSIZE_PREFIX` bytes).
    """

    lineno: int
    text: bytes
    value: object = None
    error: str | None = None


class Source:
    """An opened input: a binary stream with its display name; close it when done.

    >>> with Source.open(io.BytesIO(b'{"a": 1}\\n'), name="mem.jsonl") as source:
    ...     [record.value for record in source.records()]
    [{'a': 1}]
    """

    def __init__(self, stream: IO[bytes], *, path: str, owned: list[IO[bytes]]) -> None:
        self.stream = stream
        self.path = path
        self._owned = owned

    @classmethod
    def open(cls, source: str | os.PathLike[str] | IO[bytes], *, name: str | None = None) -> Source:
        """Open a path (``"-"`` is standard input) or wrap a binary stream, un-gzipping it.

        Raises:
            InvalidConversationError: the file cannot be opened, naming it.
        """
        owned: list[IO[bytes]] = []
        gz_name = False
        if isinstance(source, (str, os.PathLike)):
            text = os.fspath(source)
            if text == "-":
                raw: IO[bytes] = sys.stdin.buffer
                path = name or "<stdin>"
            else:
                path = name or text
                try:
                    raw = open(text, "rb")  # noqa: SIM115 (closed by Source.close)
                except OSError as error:
                    raise InvalidConversationError(
                        f"cannot open: {error.strerror or error}", path=path
                    ) from error
                owned.append(raw)
                gz_name = text.endswith(".gz")
        else:
            raw = source
            stream_name = getattr(source, "name", None)
            path = name or (stream_name if isinstance(stream_name, str) else "<stream>")
            gz_name = path.endswith(".gz")
        head = raw.read(2)
        stream: IO[bytes] = io.BufferedReader(_Replay(head, raw), buffer_size=_CHUNK)
        if gz_name or head == _GZIP_MAGIC:
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=stream, mode="rb"))
        return cls(stream, path=path, owned=owned)

    def records(
        self, *, max_record_bytes: int | None = None, parse: bool = True
    ) -> Iterator[RawRecord]:
        """The records of the stream, in order; one over ``max_record_bytes`` is skipped
        unread (memory stays bounded) and comes back as an error with its first bytes.

        A source named ``.jsonl`` or ``.ndjson`` (``.gz`` too) is read line by line; any
        other is told from its data (see the module's notes).

        Raises:
            InvalidOptionError: ``max_record_bytes`` is not None or a whole number >= 0
                (0: no limit), raised at once.
            InvalidConversationError: the container itself is unreadable (a cut-off JSON
                array, a corrupt gzip stream), naming the file and line.
        """
        return self._records(check_max_record_bytes(max_record_bytes), parse)

    def _records(self, max_record_bytes: int | None, parse: bool) -> Iterator[RawRecord]:
        try:
            yield from _raw_records(
                self.stream,
                path=self.path,
                limit=max_record_bytes,
                parse=parse,
                container=container_of_name(self.path),
            )
        except (OSError, EOFError, zlib.error) as error:
            raise InvalidConversationError(
                f"cannot read: {error} (is the file truncated or not really gzip?)",
                path=self.path,
            ) from error

    def close(self) -> None:
        """Close the files this source opened (never standard input or a caller's stream)."""
        for stream in self._owned:
            stream.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Replay(io.RawIOBase):
    """A stream whose first bytes were already read: hands them back, then reads on."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._rest, "readinto", None)
        if readinto is not None:  # straight into the buffer: one copy fewer
            return cast(int, readinto(buffer))
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def container_of_name(name: str) -> Container | None:
    """``"jsonl"`` for a JSON Lines file name, else None: the data decides.

    >>> container_of_name("chats.ndjson.gz"), container_of_name("chats.json")
    ('jsonl', None)
    """
    return "jsonl" if name.lower().endswith(JSONL_SUFFIXES) else None


def check_max_record_bytes(limit: object) -> int | None:
    """The record size limit as an int, or None: no limit (0 also means none).

    Raises:
        InvalidOptionError: ``limit`` is not None or a whole number >= 0.

    >>> check_max_record_bytes(-1)
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: max_record_bytes must be an int >= 0; got -1
    """
    if limit is None:
        return None
    return check_count("max_record_bytes", limit, minimum=0) or None


def iter_raw_records(
    stream: IO[bytes],
    *,
    path: str,
    max_record_bytes: int | None = None,
    parse: bool = True,
    container: Container | None = None,
) -> Iterator[RawRecord]:
    """Records of a decompressed binary stream: JSONL, JSON array or concatenated JSON.

    Args:
        stream: the decompressed bytes.
        path: the name to report.
        max_record_bytes: a record larger than this (its bytes without line ending or
            separators) is rejected unread; None or 0: no limit.
        parse: parse each record (else only cut it; :func:`parsed` parses it later).
        container: how the stream is laid out; None tells it from the first bytes.

    Raises:
        InvalidOptionError: a negative or non-integer ``max_record_bytes``, raised at once.

    >>> data = b'[\\n  {"a": 1},\\n  {"a": 2}\\n]\\n'
    >>> [(r.lineno, r.value) for r in iter_raw_records(io.BytesIO(data), path="x.json")]
    [(2, {'a': 1}), (3, {'a': 2})]
    """
    limit = check_max_record_bytes(max_record_bytes)
    return _raw_records(stream, path=path, limit=limit, parse=parse, container=container)


def _raw_records(
    stream: IO[bytes], *, path: str, limit: int | None, parse: bool, container: Container | None
) -> Iterator[RawRecord]:
    head = stream.read(_CHUNK)
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    if container is None:
        first = _first_non_space(head, 0)
        while first == len(head):
            more = stream.read(_CHUNK)
            if not more:
                return
            head += more
            first = _first_non_space(head, first)
        container = _container(head, first)
    if container == "jsonl":
        yield from _jsonl(stream, head, limit, parse)
    else:
        array = container == "array"
        scanner = _Scanner(stream, head, path=path, array=array, limit=limit)
        scanner.parse = parse
        yield from scanner.records()


#: Bytes of an oversized record kept for the rejects file.
OVERSIZE_PREFIX = 1024
#: The default largest record read (``--max-record-bytes``): bigger ones are rejected unread.
MAX_RECORD_BYTES = 64 * 1024 * 1024


def oversize_error(limit: int, size: int) -> str:
    """The error of a record over the size limit."""
    return (
        f"the record is larger than {limit:,} bytes ({size:,} bytes); raise "
        "--max-record-bytes (max_record_bytes=) to read it"
    )


def _first_non_space(data: bytes | bytearray, start: int) -> int:
    n = len(data)
    while start < n and data[start] in _WHITESPACE:
        start += 1
    return start


def _container(head: bytes, first: int) -> Container:
    """How data is laid out, from its first bytes (``head[first]`` is the first non-space).

    ``[`` starts an array, unless the first line is a whole JSON list and the next line
    opens another value (JSONL whose first record is a list), or is a whole list of
    messages (a one-line JSONL file of one conversation). A first line that is a lone ``{``
    starts pretty-printed objects (as ``json.dumps(indent=...)`` writes them). Anything
    else is JSONL, so that a JSONL file whose first line is broken still reads line by
    line.

    >>> _container(b'[\\n{"a": 1}\\n]', 0), _container(b'[1, 2]\\n{"a": 1}\\n', 0)
    ('array', 'jsonl')
    """
    end = head.find(b"\n", first)
    line = head[first:end] if end >= 0 else None
    if head[first : first + 1] == b"[":
        if line is None or not _one_list(line):
            return "array"
        following = _first_non_space(head, end)
        if head[following : following + 1] in (b"{", b"[") or _messages(orjson.loads(line)):
            return "jsonl"
        return "array"
    if line is not None and line.strip(_WHITESPACE) == b"{":
        return "concatenated"
    return "jsonl"


def _one_list(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), list)
    except orjson.JSONDecodeError:
        return False


def _messages(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and "role" in item for item in value)
    )


def _without_line_ending(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return line


def _jsonl(
    stream: IO[bytes], head: bytes, limit: int | None, parse: bool = True
) -> Iterator[RawRecord]:
    reader = io.BufferedReader(_Replay(head, stream), buffer_size=_CHUNK)
    lineno = 0
    # A record of ``limit`` bytes may come with two bytes of line ending (CRLF).
    while line := reader.readline(limit + 2) if limit else reader.readline():
        lineno += 1
        if limit and len(line) == limit + 2 and not line.endswith(b"\n"):
            yield skip_long_line(reader, line, lineno, limit, parse=parse)
            continue
        text = _without_line_ending(line)
        if not text.strip(_WHITESPACE):
            continue
        if limit and len(text) > limit:
            yield RawRecord(lineno, text[:OVERSIZE_PREFIX], error=oversize_error(limit, len(text)))
        elif not parse:  # cut only: whoever splits it parses it (worker processes)
            yield RawRecord(lineno, text)
        else:
            yield _parsed(lineno, text)


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
        tail = reader.readline(_CHUNK)
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
        return _parsed(lineno, text) if parse else RawRecord(lineno, text)
    return RawRecord(lineno, start[:OVERSIZE_PREFIX], error=oversize_error(limit, size))


def _parsed(lineno: int, text: bytes) -> RawRecord:
    try:
        return RawRecord(lineno, text, parse_json(text))
    except orjson.JSONDecodeError as error:
        return RawRecord(lineno, text, error=_json_error(error, lineno))


def parsed(record: RawRecord) -> RawRecord:
    """A record cut with ``parse=False``, parsed now (or given its JSON error)."""
    if record.error is not None or record.value is not None:
        return record
    return _parsed(record.lineno, record.text)


def _json_error(error: orjson.JSONDecodeError, first_line: int) -> str:
    line = first_line + error.lineno - 1
    if isinstance(error, JSONTooDeepError):
        return (
            f"invalid JSON: depth limit exceeded (nested deeper than {MAX_JSON_DEPTH} levels "
            f"at line {line}, column {error.colno}); convsplit reads at most "
            f"{MAX_JSON_DEPTH} levels: flatten or drop the deep field"
        )
    return f"invalid JSON: {error.msg} (line {line}, column {error.colno})"


class _Scanner:
    """Cuts a JSON array (or values one after another) into records, one in memory.

    Tracks only string/escape state and the open brackets; each record's bytes are handed
    to orjson, which does the real parsing (and reports a malformed record as that record's
    error, not the file's). A closing bracket that does not match closes up to the bracket
    it matches (or is skipped when none is open); a line break inside a string ends it.
    Either marks the record broken: when it ends (or the data ends inside it), it is cut
    before the first line that opens a record at its column, and the scan starts there.
    """

    def __init__(
        self, stream: IO[bytes], head: bytes, *, path: str, array: bool, limit: int | None
    ) -> None:
        self.stream = stream
        self.path = path
        self.array = array
        self.limit = limit
        self.parse = True
        self.buf = bytearray(head)
        self.eof = False
        self.trimmed = False  # bytes were dropped from the front of buf
        # A record over the limit: its first bytes, its line, the bytes dropped unread.
        self.oversize: tuple[bytes, int, int] | None = None

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def records(self) -> Iterator[RawRecord]:  # noqa: PLR0915 (one hot loop, kept inline)
        buf = self.buf
        stack = bytearray()  # the open brackets, outermost first
        in_array = False  # in a top-level array: its '[' is stack[0], records sit at depth 1
        in_string = False
        broken = False  # the current record holds a bracket or a string that cannot be right
        after_comma = False  # in an array: a record must follow (``[1,]`` is an error)
        pos = 0
        mark, mark_line = 0, 1  # where the current region starts, and its line
        while True:
            match = (_INSIDE if in_string else _OUTSIDE).search(buf, pos)
            if match is None:
                if self.limit and (stack or in_string) and len(buf) - mark > self.limit:
                    # Too big to keep: remember its start, drop what was scanned of it.
                    if self.oversize is None:
                        start = _first_non_space(buf, mark)
                        line = mark_line + buf.count(b"\n", mark, start)
                        self.oversize = (bytes(buf[start : start + OVERSIZE_PREFIX]), line, 0)
                        mark_line, mark = line, start
                    cut = min(pos, len(buf))  # pos may point past an escaped byte to come
                    prefix, line, dropped = self.oversize
                    self.oversize = (prefix, line, dropped + cut - mark)
                    mark_line += buf.count(b"\n", mark, cut)
                    del buf[:cut]
                    pos, mark = pos - cut, 0
                    self.trimmed = True
                elif mark > _CHUNK:  # forget what is behind the current record
                    del buf[:mark]
                    pos -= mark
                    mark = 0
                    self.trimmed = True
                if self._more():
                    continue
                if in_string or len(stack) > in_array:  # the data ends inside a record
                    resume = self._resync(mark, len(buf))
                    if resume is None:
                        break
                    yield self._cut(mark, mark_line, resume, in_array)
                    mark_line += buf.count(b"\n", mark, resume)
                    pos = mark = resume
                    stack = bytearray(b"[" if in_array else b"")
                    in_string = broken = after_comma = False
                    continue
                break
            i = match.start()
            pos = i + 1
            char = buf[i]
            if in_string:
                if char == _BACKSLASH:  # escapes the next byte, whatever it is
                    pos = i + 2
                elif char == _QUOTE:
                    in_string = False
                else:  # a line break: no JSON string holds one
                    in_string = False
                    broken = True
            elif char == _QUOTE:
                in_string = True
            elif char in b"[{":
                if not stack:
                    if buf[mark:i].strip(_WHITESPACE):
                        yield self._junk(mark, mark_line, i)
                    mark_line += buf.count(b"\n", mark, i)
                    in_array = self.array and char == _OPEN_LIST
                    mark = i + 1 if in_array else i
                    after_comma = broken = False
                stack.append(char)
            elif char != 0x2C:  # a closing bracket
                if not stack:
                    continue  # a stray bracket: reported with the text around it
                opener = _OPEN_LIST if char == _CLOSE_LIST else _OPEN_OBJECT
                if stack[-1] == opener:
                    stack.pop()
                else:
                    broken = True
                    k = stack.rfind(opener)
                    if k < 0:
                        continue  # nothing it closes: skipped
                    del stack[k:]
                if stack:
                    continue
                # The array ends (its last record before this bracket) or a record does.
                end = i if in_array else i + 1
                if broken and self.oversize is None:
                    resume = self._resync(mark, end)
                    if resume is not None:
                        yield self._cut(mark, mark_line, resume, in_array)
                        mark_line += buf.count(b"\n", mark, resume)
                        pos = mark = resume
                        stack = bytearray(b"[" if in_array else b"")
                        broken = after_comma = False
                        continue
                record = self._record(mark, mark_line, end)
                if record is not None:
                    yield record
                elif in_array and after_comma:
                    yield self._empty(mark, mark_line, i, "a comma before ']'")
                mark_line += buf.count(b"\n", mark, i + 1)
                mark = i + 1
                in_array = broken = False
            elif in_array and len(stack) == 1:  # a comma between records
                if broken and self.oversize is None:
                    resume = self._resync(mark, i)
                    if resume is not None:
                        yield self._cut(mark, mark_line, resume, in_array)
                        mark_line += buf.count(b"\n", mark, resume)
                        pos = mark = resume
                        stack = bytearray(b"[")
                        broken = after_comma = False
                        continue
                yield self._record(mark, mark_line, i) or self._empty(
                    mark, mark_line, i, "two commas in a row"
                )
                mark_line += buf.count(b"\n", mark, i + 1)
                mark = i + 1
                after_comma = True
                broken = False
        if in_string or stack:
            start = _first_non_space(buf, mark)
            line = mark_line + buf.count(b"\n", mark, start)
            what = "JSON array" if in_array else "JSON object"
            raise InvalidConversationError(
                f"the {what} is cut off: the record starting at line {line} is incomplete "
                "(the file ends inside it; was it truncated?)",
                path=self.path,
                lineno=line,
            )
        if buf[mark:].strip(_WHITESPACE):
            yield self._junk(mark, mark_line, len(buf))

    def _resync(self, mark: int, end: int) -> int | None:
        """Where a broken record from ``mark`` gives way: the first line before ``end`` that
        opens an object or a list at the column the record opened at (a record's own
        nested lines are indented deeper). None when the record does not start a line."""
        if self.oversize is not None:
            return None
        start = _first_non_space(self.buf, mark)
        line_start = self.buf.rfind(b"\n", 0, start) + 1
        if line_start == 0 and self.trimmed:
            return None
        column = start - line_start
        if self.buf[line_start:start].strip(b" \t"):
            return None  # the record does not start its line
        for match in _LINE_OPENER.finditer(self.buf, start, end):
            if match.end(1) - match.start(1) == column:
                return match.end(1)
        return None

    def _cut(self, mark: int, mark_line: int, end: int, in_array: bool) -> RawRecord:
        """The broken record from ``mark`` to ``end`` (less the comma after it, in an array)."""
        stop = len(self.buf[:end].rstrip(_WHITESPACE))
        if in_array and self.buf[stop - 1 : stop] == b",":
            stop -= 1
        record = self._record(mark, mark_line, stop)
        return record or self._empty(mark, mark_line, end, "a broken record")

    def _line_at(self, mark: int, mark_line: int, end: int) -> int:
        return mark_line + self.buf.count(b"\n", mark, end)

    def _record(self, mark: int, mark_line: int, end: int) -> RawRecord | None:
        limit = self.limit
        if self.oversize is not None:
            prefix, line, dropped = self.oversize
            self.oversize = None
            size = dropped + len(self.buf[mark:end].rstrip(_WHITESPACE))
            return RawRecord(line, prefix, error=oversize_error(limit or 0, size))
        start = _first_non_space(self.buf, mark)
        text = bytes(self.buf[start:end]).rstrip(_WHITESPACE)
        if not text:
            return None
        line = mark_line + self.buf.count(b"\n", mark, start)
        if limit and len(text) > limit:
            return RawRecord(line, text[:OVERSIZE_PREFIX], error=oversize_error(limit, len(text)))
        if not self.parse:
            return RawRecord(line, text)
        return _parsed(line, text)

    def _empty(self, mark: int, mark_line: int, end: int, why: str) -> RawRecord:
        line = self._line_at(mark, mark_line, end)
        return RawRecord(line, b"", error=f"invalid JSON: an empty record ({why})")

    def _junk(self, mark: int, mark_line: int, end: int) -> RawRecord:
        start = _first_non_space(self.buf, mark)
        line = mark_line + self.buf.count(b"\n", mark, start)
        text = bytes(self.buf[start:end]).rstrip(_WHITESPACE)
        where = "outside the JSON array" if self.array else "between JSON objects"
        return RawRecord(line, text, error=f"invalid JSON: unexpected text {where}")
