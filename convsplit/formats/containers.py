"""Containers: JSONL, a JSON array, or concatenated JSON objects; plain or gzipped; a file,
a binary stream or standard input.

Every record comes out with the line it starts on and its original bytes, so a rejected
record can be reported and written to a rejects file unchanged. A JSON array is cut into
records by a small scanner that keeps one record in memory at a time: a 10 GB array file
streams like a JSONL file does. Records are parsed with orjson.

The container is told from the data, not the file name: gzip by its magic bytes (or a
``.gz`` name), a JSON array by a first non-space byte ``[``. Otherwise the file is JSONL,
unless its first line is a lone ``{``: then it is read as pretty-printed objects one after
another.
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

from convsplit.errors import InvalidConversationError
from convsplit.formats._common import parse_json

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
# Outside a string only brackets, quotes and commas matter; inside, quotes and escapes.
_OUTSIDE = re.compile(rb'[][{}",]')
_INSIDE = re.compile(rb'["\\]')

Container = Literal["jsonl", "array", "concatenated"]


@dataclass(frozen=True)
class RawRecord:
    """One record as it stands in the file: where it starts, its bytes, its parsed value.

    ``error`` is set (and ``value`` is None) when the bytes are not valid JSON.
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

        Raises:
            InvalidConversationError: the container itself is unreadable (a cut-off JSON
                array, a corrupt gzip stream), naming the file and line.
        """
        try:
            yield from iter_raw_records(
                self.stream, path=self.path, max_record_bytes=max_record_bytes, parse=parse
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


def iter_raw_records(
    stream: IO[bytes], *, path: str, max_record_bytes: int | None = None, parse: bool = True
) -> Iterator[RawRecord]:
    """Records of a decompressed binary stream: JSONL, JSON array or concatenated JSON.

    >>> data = b'[\\n  {"a": 1},\\n  {"a": 2}\\n]\\n'
    >>> [(r.lineno, r.value) for r in iter_raw_records(io.BytesIO(data), path="x.json")]
    [(2, {'a': 1}), (3, {'a': 2})]
    """
    head = stream.read(_CHUNK)
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    first = _first_non_space(head, 0)
    while first == len(head):
        more = stream.read(_CHUNK)
        if not more:
            return
        head += more
        first = _first_non_space(head, first)
    container = _container(head, first)
    if container == "jsonl":
        yield from _jsonl(stream, head, max_record_bytes, parse)
    else:
        array = container == "array"
        scanner = _Scanner(stream, head, path=path, array=array, limit=max_record_bytes)
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
    """``[`` starts an array; a first line that is a lone ``{`` starts pretty-printed
    objects (as ``json.dumps(indent=...)`` writes them); anything else is JSONL, so that a
    JSONL file whose first line is broken still reads line by line."""
    if head[first : first + 1] == b"[":
        return "array"
    end = head.find(b"\n", first)
    if end >= 0 and head[first:end].strip(_WHITESPACE) == b"{":
        return "concatenated"
    return "jsonl"


def _jsonl(
    stream: IO[bytes], head: bytes, limit: int | None, parse: bool = True
) -> Iterator[RawRecord]:
    reader = io.BufferedReader(_Replay(head, stream), buffer_size=_CHUNK)
    lineno = 0
    while line := reader.readline(limit + 1) if limit else reader.readline():
        lineno += 1
        if limit and len(line) > limit and not line.endswith(b"\n"):
            yield skip_long_line(reader, line, lineno, limit)
            continue
        text = line.rstrip(b"\r\n")
        if not text.strip(_WHITESPACE):
            continue
        if not parse:  # cut only: whoever splits it parses it (worker processes)
            yield RawRecord(lineno, text)
            continue
        try:
            value = parse_json(text)
        except orjson.JSONDecodeError as error:
            yield RawRecord(lineno, text, error=_json_error(error, lineno))
        else:
            yield RawRecord(lineno, text, value)


def skip_long_line(reader: IO[bytes], start: bytes, lineno: int, limit: int) -> RawRecord:
    """Read past the rest of a line too long to keep, holding a chunk at a time."""
    size = len(start)
    tail = start
    while not tail.endswith(b"\n"):
        tail = reader.readline(_CHUNK)
        if not tail:
            break
        size += len(tail)
    size -= len(tail) - len(tail.rstrip(b"\r\n"))
    return RawRecord(lineno, start[:OVERSIZE_PREFIX], error=oversize_error(limit, size))


def parsed(record: RawRecord) -> RawRecord:
    """A record cut with ``parse=False``, parsed now (or given its JSON error)."""
    if record.error is not None or record.value is not None:
        return record
    try:
        return RawRecord(record.lineno, record.text, parse_json(record.text))
    except orjson.JSONDecodeError as error:
        return RawRecord(record.lineno, record.text, error=_json_error(error, record.lineno))


def _json_error(error: orjson.JSONDecodeError, first_line: int) -> str:
    line = first_line + error.lineno - 1
    return f"invalid JSON: {error.msg} (line {line}, column {error.colno})"


class _Scanner:
    """Cuts a JSON array (or objects one after another) into records, one in memory.

    Tracks only string/escape state and bracket depth; each record's bytes are handed to
    orjson, which does the real parsing (and reports a malformed record as that record's
    error, not the file's).
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
        array = self.array
        depth = 0
        in_string = False
        after_comma = False  # in an array: a record must follow (``[1,]`` is an error)
        pos = 0
        mark, mark_line = 0, 1  # where the current region starts, and its line
        while True:
            match = (_INSIDE if in_string else _OUTSIDE).search(buf, pos)
            if match is None:
                if self.limit and depth > 0 and len(buf) - mark > self.limit:
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
                elif mark > _CHUNK:  # forget what is behind the current record
                    del buf[:mark]
                    pos -= mark
                    mark = 0
                if self._more():
                    continue
                break
            i = match.start()
            pos = i + 1
            char = buf[i]
            if in_string:
                if char == 0x5C:  # a backslash escapes the next byte, whatever it is
                    pos = i + 2
                else:
                    in_string = False
            elif char == 0x22:
                in_string = True
            elif char in b"[{":
                if depth == 0:
                    if buf[mark:i].strip(_WHITESPACE):
                        yield self._junk(mark, mark_line, i)
                    mark_line += buf.count(b"\n", mark, i)
                    mark = i + 1 if array else i
                    after_comma = False
                depth += 1
            elif char in b"]}":
                if depth == 0:
                    continue  # a stray bracket: reported with the text around it
                depth -= 1
                if array and depth == 0:
                    record = self._record(mark, mark_line, i)
                    if record is not None:
                        yield record
                    elif after_comma:
                        yield self._empty(mark, mark_line, i, "a comma before ']'")
                elif not array and depth == 0:
                    record = self._record(mark, mark_line, i + 1)
                    if record is not None:
                        yield record
                else:
                    continue
                mark_line += buf.count(b"\n", mark, i + 1)
                mark = i + 1
            elif array and depth == 1:  # a comma between records
                yield self._record(mark, mark_line, i) or self._empty(
                    mark, mark_line, i, "two commas in a row"
                )
                mark_line += buf.count(b"\n", mark, i + 1)
                mark = i + 1
                after_comma = True
        if depth > 0 or in_string:
            start = _first_non_space(buf, mark)
            line = mark_line + buf.count(b"\n", mark, start)
            what = "JSON array" if array else "JSON object"
            raise InvalidConversationError(
                f"the {what} is cut off: the record starting at line {line} is incomplete "
                "(the file ends inside it; was it truncated?)",
                path=self.path,
                lineno=line,
            )
        if buf[mark:].strip(_WHITESPACE):
            yield self._junk(mark, mark_line, len(buf))

    def _line_at(self, mark: int, mark_line: int, end: int) -> int:
        return mark_line + self.buf.count(b"\n", mark, end)

    def _record(self, mark: int, mark_line: int, end: int) -> RawRecord | None:
        if self.oversize is not None:
            prefix, line, dropped = self.oversize
            self.oversize = None
            size = dropped + len(self.buf[mark:end].rstrip(_WHITESPACE))
            return RawRecord(line, prefix, error=oversize_error(self.limit or 0, size))
        start = _first_non_space(self.buf, mark)
        text = bytes(self.buf[start:end]).rstrip(_WHITESPACE)
        if not text:
            return None
        line = mark_line + self.buf.count(b"\n", mark, start)
        if not self.parse:
            return RawRecord(line, text)
        try:
            value = parse_json(text)
        except orjson.JSONDecodeError as error:
            return RawRecord(line, text, error=_json_error(error, line))
        return RawRecord(line, text, value)

    def _empty(self, mark: int, mark_line: int, end: int, why: str) -> RawRecord:
        line = self._line_at(mark, mark_line, end)
        return RawRecord(line, b"", error=f"invalid JSON: an empty record ({why})")

    def _junk(self, mark: int, mark_line: int, end: int) -> RawRecord:
        start = _first_non_space(self.buf, mark)
        line = mark_line + self.buf.count(b"\n", mark, start)
        text = bytes(self.buf[start:end]).rstrip(_WHITESPACE)
        where = "outside the JSON array" if self.array else "between JSON objects"
        return RawRecord(line, text, error=f"invalid JSON: unexpected text {where}")
