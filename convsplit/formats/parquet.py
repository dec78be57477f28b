"""Parquet: records read and samples written a row group at a time
(``pip install 'convsplit[parquet]'``).

**Reading** (:func:`parquet_records`): each row is a record, numbered from 1 where a JSONL
file numbers lines, so a reject names its file and row. A row is turned into the JSON text
of its values (keys in the columns' order; a null value left out, since Arrow fills every
field a struct row lacks with null) and parsed back as a JSONL line is, so the same records
as JSONL give the same samples byte for byte. Row groups are read one batch at a time:
memory follows a batch, not the file.

**Writing**:
a file named ``.parquet`` holds the same rows as the JSON lines the writer makes, column by
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
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import orjson

from convsplit.errors import InvalidConversationError, InvalidOptionError, OutputError
from convsplit.extras import require
from convsplit.formats.json_text import parse_json
from convsplit.formats.records import OVERSIZE_PREFIX, RawRecord, oversize_error, parse_record

__all__ = [
    "PARQUET_FORMATS",
    "ROW_GROUP_BYTES",
    "ParquetLines",
    "check_parquet_output",
    "is_parquet",
    "parquet_records",
    "parquet_schema",
]

#: Rows converted to Python at a time while reading.
READ_BATCH_ROWS = 1024

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
        schema = self._writer.schema
        # column by column: about ten times faster than from_pylist on token rows
        columns = {name: [row[name] for row in self._rows] for name in schema.names}
        table = pa.Table.from_pydict(columns, schema=schema)
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


def parquet_records(
    source: str | IO[bytes], *, path: str, limit: int | None, parse: bool = True
) -> Iterator[RawRecord]:
    """The rows of a Parquet file as records: row ``n`` (from 1) is the record of "line" ``n``.

    Args:
        source: the file's path, or a seekable binary stream holding it.
        path: the name to report.
        limit: a row whose JSON text is longer is rejected with its first bytes kept.
        parse: parse each row's JSON text (else only make it; workers parse it).

    Raises:
        InvalidConversationError: the file is not Parquet pyarrow can read, naming it.
        MissingExtraError: pyarrow is not installed.

    >>> import io, pyarrow as pa, pyarrow.parquet as pq
    >>> sink = io.BytesIO()
    >>> pq.write_table(pa.table({"prompt": ["Hi", None], "completion": ["Hello", "Bye"]}), sink)
    >>> [(r.lineno, r.text) for r in parquet_records(sink, path="pairs.parquet", limit=None)]
    [(1, b'{"prompt":"Hi","completion":"Hello"}'), (2, b'{"completion":"Bye"}')]
    """
    pq = require("pyarrow.parquet", extra="parquet", purpose=_PURPOSE)
    try:
        parquet = pq.ParquetFile(source)
        batches = parquet.iter_batches(batch_size=READ_BATCH_ROWS)
        row = 0
        for batch in batches:
            for value in batch.to_pylist():
                row += 1
                yield _record(row, _without_nulls(value), limit, parse)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidConversationError(f"cannot read as Parquet: {error}", path=path) from error


def _record(row: int, value: object, limit: int | None, parse: bool) -> RawRecord:
    text = orjson.dumps(value, default=str)
    if limit is not None and len(text) > limit:
        return RawRecord(row, text[:OVERSIZE_PREFIX], error=oversize_error(limit, len(text)))
    return parse_record(row, text) if parse else RawRecord(row, text)


def _without_nulls(value: Any) -> Any:
    """``value`` without the null entries of its objects (at every depth)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
