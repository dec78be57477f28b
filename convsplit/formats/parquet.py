"""Parquet: samples written as row groups while they stream (``pip install 'convsplit[parquet]'``).

A file named ``.parquet`` holds the same rows as the JSON lines the writer makes, column by
column: each line is parsed as it comes and buffered until about :data:`ROW_GROUP_BYTES` of
it, then written as one row group, so memory stays flat however many samples there are.
Columns are typed from a table of the columns convsplit writes (``input_ids`` as
``list<int32>``, ``assistant_masks`` as ``list<int8>``, the metadata columns, ``text`` and
``spans``, ``segments``): the token and text writers' rows have one fixed shape. The
conversational writers' rows (``openai``, ``trl``, ``sharegpt``) are lists of messages whose
keys differ from message to message, which Parquet's one schema per file cannot hold without
guessing: :func:`check_parquet_output` refuses them before any work.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import IO, Any

from convsplit.errors import InvalidOptionError, OutputError
from convsplit.extras import require
from convsplit.formats.json_text import parse_json

__all__ = [
    "PARQUET_FORMATS",
    "ROW_GROUP_BYTES",
    "ParquetLines",
    "check_parquet_output",
    "is_parquet",
    "parquet_schema",
]

#: The output formats whose rows have one fixed set of typed columns.
PARQUET_FORMATS = ("text", "tokens")

#: JSON bytes buffered before a row group is written: a few MiB, so memory stays flat.
ROW_GROUP_BYTES = 4 << 20

_PURPOSE = "Parquet files"


def is_parquet(name: str) -> bool:
    """Whether ``name`` is written (or read) as Parquet.

    >>> is_parquet("train.parquet"), is_parquet("train.jsonl")
    (True, False)
    """
    return name.lower().endswith(".parquet")


def check_parquet_output(
    names: Iterable[str],
    output_format: str,
    *,
    rejects: str | os.PathLike[str] | None = None,
) -> None:
    """Refuse, before any work, a Parquet output for a writer whose rows have no fixed
    columns, or a Parquet rejects file (rejects keep their records' original text).

    Raises:
        InvalidOptionError: naming the formats Parquet holds and what to do instead.
        MissingExtraError: a Parquet output without pyarrow installed.

    >>> check_parquet_output(["samples.parquet"], "openai")
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: samples.parquet: Parquet output holds text or tokens \
samples (--to text, --to tokens); openai rows are lists of messages whose keys differ from \
message to message: write them as JSON lines (samples.jsonl)
    """
    if rejects is not None and is_parquet(os.fspath(rejects)):
        raise InvalidOptionError(
            f"{os.fspath(rejects)}: the rejects file is written as JSON lines (each record's "
            "original text, file, line and reason); name it .jsonl"
        )
    for name in names:
        if not is_parquet(name):
            continue
        if output_format not in PARQUET_FORMATS:
            jsonl = name[: -len(".parquet")] + ".jsonl"
            raise InvalidOptionError(
                f"{name}: Parquet output holds {' or '.join(PARQUET_FORMATS)} samples "
                f"({', '.join('--to ' + f for f in PARQUET_FORMATS)}); {output_format} rows "
                "are lists of messages whose keys differ from message to message: write "
                f"them as JSON lines ({jsonl})"
            )
        require("pyarrow", extra="parquet", purpose=_PURPOSE)


def _types() -> dict[str, Any]:
    pa = require("pyarrow", extra="parquet", purpose=_PURPOSE)
    ints = pa.list_(pa.int64())
    return {
        "input_ids": pa.list_(pa.int32()),
        "assistant_masks": pa.list_(pa.int8()),
        "conversation_id": pa.string(),
        "conversation_index": pa.int64(),
        "sample_index": pa.int64(),
        "targets": ints,
        "source_indices": ints,
        "total_tokens": pa.int64(),
        "context_tokens": pa.int64(),
        "target_tokens": pa.int64(),
        "dropped_messages": pa.int64(),
        "dropped_tokens": pa.int64(),
        "truncated": ints,
        "text": pa.string(),
        "spans": pa.list_(ints),
        "segments": pa.list_(pa.struct([("label", pa.bool_()), ("text", pa.string())])),
    }


def parquet_schema(row: Mapping[str, Any]) -> Any:
    """The ``pyarrow.Schema`` of rows with ``row``'s columns, in its order.

    Raises:
        OutputError: a column convsplit does not know the type of.

    >>> parquet_schema({"input_ids": [1], "assistant_masks": [0]}).types
    [ListType(list<item: int32>), ListType(list<item: int8>)]
    """
    pa = require("pyarrow", extra="parquet", purpose=_PURPOSE)
    types = _types()
    unknown = [name for name in row if name not in types]
    if unknown:
        raise OutputError(
            f"a sample row has column {unknown[0]!r}, which Parquet output has no type for; "
            f"it holds {', '.join(sorted(types))}"
        )
    return pa.schema([(name, types[name]) for name in row])


class ParquetLines:
    """A binary file that takes the JSON lines a writer makes and writes them to ``raw`` as
    Parquet row groups (the file :class:`~convsplit.run.output.AtomicOutput` writes a
    ``.parquet`` name through).

    ``write`` may cut a line anywhere; :meth:`close` writes the last row group and the
    footer but leaves ``raw`` open (its owner closes it).
    """

    def __init__(self, raw: IO[bytes], *, name: str, row_group_bytes: int = ROW_GROUP_BYTES):
        self._pq = require("pyarrow.parquet", extra="parquet", purpose=_PURPOSE)
        self._raw, self.name, self._limit = raw, name, row_group_bytes
        self._partial = bytearray()
        self._rows: list[dict[str, Any]] = []
        self._size = 0
        self._writer: Any = None
        self._columns: list[str] | None = None
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Take ``data``; every complete line is parsed, and a row group written once about
        ``row_group_bytes`` of lines are buffered."""
        self._partial += data
        end = self._partial.rfind(b"\n")
        if end >= 0:
            complete = bytes(self._partial[: end + 1])
            del self._partial[: end + 1]
            for line in complete.splitlines():
                self._add(line)
            if self._size >= self._limit:
                self._flush()
        return len(data)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        """:meth:`write` each chunk: what the write-behind thread calls."""
        for chunk in chunks:
            self.write(chunk)

    def _add(self, line: bytes) -> None:
        row = parse_json(line)
        if not isinstance(row, dict):
            raise OutputError(f"{self.name}: a sample row is not a JSON object")
        if self._columns is None:
            self._columns = list(row)
        elif list(row) != self._columns:
            raise OutputError(
                f"{self.name}: a sample row has columns {list(row)}, not {self._columns} as "
                "the first row: Parquet holds one set of columns per file"
            )
        self._rows.append(row)
        self._size += len(line)

    def _flush(self) -> None:
        if not self._rows:
            return
        pa = require("pyarrow", extra="parquet", purpose=_PURPOSE)
        if self._writer is None:
            schema = parquet_schema(self._rows[0])
            self._writer = self._pq.ParquetWriter(self._raw, schema)
        table = pa.Table.from_pylist(self._rows, schema=self._writer.schema)
        self._writer.write_table(table, row_group_size=len(self._rows))
        self._rows, self._size = [], 0

    def flush(self) -> None:
        """Nothing to do: rows are written a row group at a time."""

    def close(self) -> None:
        """Write what is buffered and the footer (an empty output: a file with no columns).

        Raises:
            OutputError: the last line was cut off.
        """
        if self.closed:
            return
        self.closed = True
        if self._partial:
            raise OutputError(f"{self.name}: the last sample row is cut off")
        self._flush()
        if self._writer is None:
            pa = require("pyarrow", extra="parquet", purpose=_PURPOSE)
            self._writer = self._pq.ParquetWriter(self._raw, pa.schema([]))
        self._writer.close()
