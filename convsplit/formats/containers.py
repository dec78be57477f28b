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

A file named ``.parquet`` is read a row group at a time, each row a record numbered from 1
(:func:`~convsplit.formats.parquet.parquet_records`).

One broken record does not stop the reading: a JSONL line is its own record, and in an
array or a run of objects the scanner matches brackets leniently and, when a record turns
out unbalanced, starts again at the next line that opens a record at the column where the
broken one opened.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from typing import IO, cast

from convsplit.errors import InvalidConversationError
from convsplit.formats import _sniff
from convsplit.formats._scanner import Scanner
from convsplit.formats._sniff import (
    GZIP_MAGIC,
    JSONL_SUFFIXES,
    Container,
    Replay,
    container_of_name,
    read_head,
    sniff,
)
from convsplit.formats.jsonl import read_lines, skip_long_line
from convsplit.formats.parquet import is_parquet, parquet_records
from convsplit.formats.records import (
    MAX_RECORD_BYTES,
    OVERSIZE_PREFIX,
    RawRecord,
    check_max_record_bytes,
    oversize_error,
    parsed,
)

__all__ = [
    "JSONL_SUFFIXES",
    "MAX_RECORD_BYTES",
    "OVERSIZE_PREFIX",
    "Container",
    "RawRecord",
    "Source",
    "check_max_record_bytes",
    "container_of_name",
    "iter_raw_records",
    "oversize_error",
    "parsed",
    "skip_long_line",
]


class Source:
    """An opened input: a binary stream with its display name; close it when done.

    >>> with Source.open(io.BytesIO(b'{"a": 1}\\n'), name="mem.jsonl") as source:
    ...     [record.value for record in source.records()]
    [{'a': 1}]
    """

    def __init__(
        self, stream: IO[bytes], *, path: str, owned: list[IO[bytes]], raw: IO[bytes] | None = None
    ) -> None:
        self.stream = stream
        self.path = path
        self._owned = owned
        self._raw = raw  # the undecoded stream: Parquet reads its footer first

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
        if is_parquet(path) and raw.seekable():
            return cls(raw, path=path, owned=owned, raw=raw)
        head = raw.read(2)
        stream: IO[bytes] = io.BufferedReader(Replay(head, raw), buffer_size=_sniff.CHUNK)
        if gz_name or head == GZIP_MAGIC:
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=stream, mode="rb"))
        return cls(stream, path=path, owned=owned)

    def records(
        self, *, max_record_bytes: int | None = None, parse: bool = True
    ) -> Iterator[RawRecord]:
        """The records of the stream, in order; one over ``max_record_bytes`` is skipped
        unread (memory stays bounded) and comes back as an error with its first bytes.

        A source named ``.jsonl`` or ``.ndjson`` (``.gz`` too) is read line by line, one
        named ``.parquet`` row by row; any other is told from its data (see the module's
        notes).

        Raises:
            InvalidOptionError: ``max_record_bytes`` is not None or a whole number >= 0
                (0: no limit), raised at once.
            InvalidConversationError: the container itself is unreadable (a corrupt gzip
                stream), naming the file and line. A cut-off JSON array is read up to the
                cut, and the record cut comes back as an error.
        """
        return self._records(check_max_record_bytes(max_record_bytes), parse)

    def _records(self, max_record_bytes: int | None, parse: bool) -> Iterator[RawRecord]:
        if self._raw is not None:
            yield from parquet_records(
                self._raw, path=self.path, limit=max_record_bytes, parse=parse
            )
            return
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
    if container is None:
        head, container = sniff(stream)
        if container is None:
            return
    else:
        head = read_head(stream)
    if container == "jsonl":
        reader = io.BufferedReader(Replay(head, stream), buffer_size=_sniff.CHUNK)
        yield from read_lines(reader, limit=limit, parse=parse)
    else:
        scanner = Scanner(stream, head, path=path, array=container == "array", limit=limit)
        scanner.parse = parse
        yield from scanner.records()
