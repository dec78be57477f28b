"""A record as read from a file, before it is a conversation: where it starts, its exact
bytes, and its parsed value or the reason it is not one (invalid JSON, too deep, too big).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from convsplit.budget import check_count
from convsplit.formats.json_text import JSONTooDeepError, parse_json
from convsplit.messages import MAX_JSON_DEPTH

#: Bytes of an oversized record kept for the rejects file.
OVERSIZE_PREFIX = 1024
#: The default largest record read (``--max-record-bytes``): bigger ones are rejected unread.
MAX_RECORD_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RawRecord:
    """One record as it stands in the file: where it starts, its bytes, its parsed value.

    ``text`` is the record's exact bytes, without its line ending (JSONL) or the whitespace
    and comma around it (an array). ``error`` is set (and ``value`` is None) when the bytes
    are not a JSON value convsplit reads, or are over the size limit (then ``text`` is only
    their first :data:`OVERSIZE_PREFIX` bytes). ``from_text`` says that ``value`` is
    :func:`~convsplit.formats.parse_json`'s reading of ``text``, so every string in it
    encodes as UTF-8 (see :class:`~convsplit.messages.StringsEncode`); a value handed in
    from Python (a dataset row, a Dask item) leaves it false.
    """

    lineno: int
    text: bytes
    value: object = None
    error: str | None = None
    from_text: bool = False


def oversize_error(limit: int, size: int) -> str:
    """The error of a record over the size limit."""
    return (
        f"the record is larger than {limit:,} bytes ({size:,} bytes); raise "
        "--max-record-bytes (max_record_bytes=) to read it"
    )


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


def parse_record(lineno: int, text: bytes) -> RawRecord:
    """The record of ``text`` (starting on line ``lineno``), parsed, or with its JSON error.

    >>> parse_record(3, b'{"a": 1}').value
    {'a': 1}
    >>> parse_record(3, b'{"a": }').error.endswith("(line 3, column 7)")
    True
    """
    try:
        return RawRecord(lineno, text, parse_json(text), from_text=True)
    except orjson.JSONDecodeError as error:
        return RawRecord(lineno, text, error=json_error(error, lineno))


def parsed(record: RawRecord) -> RawRecord:
    """A record cut with ``parse=False``, parsed now (or given its JSON error)."""
    if record.error is not None or record.value is not None:
        return record
    return parse_record(record.lineno, record.text)


def json_error(error: orjson.JSONDecodeError, first_line: int) -> str:
    """The error of a record that is not JSON convsplit reads; ``first_line`` is the line
    the record starts on, so the line named is the file's."""
    line = first_line + error.lineno - 1
    if isinstance(error, JSONTooDeepError):
        return (
            f"invalid JSON: depth limit exceeded (nested deeper than {MAX_JSON_DEPTH} levels "
            f"at line {line}, column {error.colno}); convsplit reads at most "
            f"{MAX_JSON_DEPTH} levels: flatten or drop the deep field"
        )
    return f"invalid JSON: {error.msg} (line {line}, column {error.colno})"
