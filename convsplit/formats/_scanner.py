"""Cutting a JSON array, or JSON values one after another, into records, one in memory at a
time, leniently: a broken record is reported and the scan starts again after it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from convsplit.formats import _sniff
from convsplit.formats._sniff import WHITESPACE, first_non_space
from convsplit.formats.records import OVERSIZE_PREFIX, RawRecord, oversize_error, parse_record

# Outside a string only brackets, quotes and commas matter; inside, quotes, escapes and a
# line break (which no JSON string holds: it ends a broken one).
_OUTSIDE = re.compile(rb'[][{}",]')
_INSIDE = re.compile(rb'["\\\n]')
# A line that opens an object or a list: where a scan can start again after a broken record.
_LINE_OPENER = re.compile(rb"\n([ \t]*)[\[{]")
_OPEN_LIST, _CLOSE_LIST, _OPEN_OBJECT, _QUOTE, _BACKSLASH = 0x5B, 0x5D, 0x7B, 0x22, 0x5C


class Scanner:
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
        chunk = self.stream.read(_sniff.CHUNK)
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
                        start = first_non_space(buf, mark)
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
                elif mark > _sniff.CHUNK:  # forget what is behind the current record
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
                    if buf[mark:i].strip(WHITESPACE):
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
            yield from self._cut_off(mark, mark_line, "JSON array" if in_array else "JSON object")
            return
        if buf[mark:].strip(WHITESPACE):
            yield self._junk(mark, mark_line, len(buf))

    def _resync(self, mark: int, end: int) -> int | None:
        """Where a broken record from ``mark`` gives way: the first line before ``end`` that
        opens an object or a list at the column the record opened at (a record's own
        nested lines are indented deeper). None when the record does not start a line."""
        if self.oversize is not None:
            return None
        start = first_non_space(self.buf, mark)
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
        stop = len(self.buf[:end].rstrip(WHITESPACE))
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
            size = dropped + len(self.buf[mark:end].rstrip(WHITESPACE))
            return RawRecord(line, prefix, error=oversize_error(limit or 0, size))
        start = first_non_space(self.buf, mark)
        text = bytes(self.buf[start:end]).rstrip(WHITESPACE)
        if not text:
            return None
        line = mark_line + self.buf.count(b"\n", mark, start)
        if limit and len(text) > limit:
            return RawRecord(line, text[:OVERSIZE_PREFIX], error=oversize_error(limit, len(text)))
        if not self.parse:
            return RawRecord(line, text)
        return parse_record(line, text)

    def _cut_off(self, mark: int, mark_line: int, what: str) -> Iterator[RawRecord]:
        """Where the data ends inside ``what`` (a truncated file): the record it ends in, as
        a reject with its bytes; or, where that record is whole and only the closing bracket
        is missing, the record and a reject saying so. The records before were read."""
        cut = f"invalid JSON: the {what} is cut off: the file ends"
        record = self._record(mark, mark_line, len(self.buf))
        if record is not None and (
            record.error is not None or parse_record(record.lineno, record.text).error is not None
        ):
            error = f"{cut} inside this record (was it truncated?)"
            yield RawRecord(record.lineno, record.text, error=error)
            return
        if record is not None:
            yield record
        line = self._line_at(mark, mark_line, len(self.buf))
        yield RawRecord(line, b"", error=f"{cut} before its closing bracket (was it truncated?)")

    def _empty(self, mark: int, mark_line: int, end: int, why: str) -> RawRecord:
        line = self._line_at(mark, mark_line, end)
        return RawRecord(line, b"", error=f"invalid JSON: an empty record ({why})")

    def _junk(self, mark: int, mark_line: int, end: int) -> RawRecord:
        start = first_non_space(self.buf, mark)
        line = mark_line + self.buf.count(b"\n", mark, start)
        text = bytes(self.buf[start:end]).rstrip(WHITESPACE)
        where = "outside the JSON array" if self.array else "between JSON objects"
        return RawRecord(line, text, error=f"invalid JSON: unexpected text {where}")
