"""How input bytes are laid out, told from a file name or the first bytes (JSON Lines, a JSON
array, or objects one after another), and the byte-level pieces every reader shares."""

from __future__ import annotations

import io
from typing import IO, Literal, cast

import orjson

#: How much is read at a time.
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
WHITESPACE = b" \t\r\n"
#: File names read as JSON Lines whatever their first bytes are.
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")

Container = Literal["jsonl", "array", "concatenated"]


class Replay(io.RawIOBase):
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


def sniff(stream: IO[bytes]) -> tuple[bytes, Container | None]:
    """The first bytes of ``stream`` (a byte-order mark dropped) and how it is laid out;
    None for a stream with nothing but whitespace. Reads on while it sees only whitespace.

    >>> sniff(io.BytesIO(b'\\xef\\xbb\\xbf{\\n"a": 1}\\n'))
    (b'{\\n"a": 1}\\n', 'concatenated')
    """
    head = read_head(stream)
    first = first_non_space(head, 0)
    while first == len(head):
        more = stream.read(CHUNK)
        if not more:
            return head, None
        head += more
        first = first_non_space(head, first)
    return head, sniff_container(head, first)


def read_head(stream: IO[bytes]) -> bytes:
    """The first bytes of ``stream``, without the byte-order mark it may start with.

    >>> read_head(io.BytesIO(BOM + b'{}'))
    b'{}'
    """
    head = stream.read(CHUNK)
    while head and len(head) < len(BOM) and BOM.startswith(head):
        more = stream.read(CHUNK)
        if not more:
            break
        head += more
    return head[len(BOM) :] if head.startswith(BOM) else head


def first_non_space(data: bytes | bytearray, start: int) -> int:
    """The index of the first byte from ``start`` on that is not JSON whitespace."""
    n = len(data)
    while start < n and data[start] in WHITESPACE:
        start += 1
    return start


def sniff_container(head: bytes, first: int) -> Container:
    """How data is laid out, from its first bytes (``head[first]`` is the first non-space).

    ``[`` starts an array, unless the first line is a whole JSON list and the next line
    opens another value (JSONL whose first record is a list), or is a whole list of
    messages (a one-line JSONL file of one conversation). A first line that is a lone ``{``
    starts pretty-printed objects (as ``json.dumps(indent=...)`` writes them). Anything
    else is JSONL, so that a JSONL file whose first line is broken still reads line by
    line.

    >>> sniff_container(b'[\\n{"a": 1}\\n]', 0), sniff_container(b'[1, 2]\\n{"a": 1}\\n', 0)
    ('array', 'jsonl')
    """
    end = head.find(b"\n", first)
    line = head[first:end] if end >= 0 else None
    if head[first : first + 1] == b"[":
        if line is None or not _one_list(line):
            return "array"
        following = first_non_space(head, end)
        if head[following : following + 1] in (b"{", b"[") or _messages(orjson.loads(line)):
            return "jsonl"
        return "array"
    if line is not None and line.strip(WHITESPACE) == b"{":
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


def without_line_ending(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return line
