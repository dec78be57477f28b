"""Inputs named by URL (``s3://``, ``gs://``, ``memory://``...) for the Dask engine, read
through Dask's own :func:`dask.bytes.read_bytes` (fsspec): every worker reads its block
from the store itself, so nothing needs a shared disk.

A ``.jsonl`` / ``.ndjson`` file is cut in blocks of whole lines (fsspec's delimiter-aligned
blocks: a line belongs to the block it starts in, as in :mod:`._dask_parts`); any other
file (a JSON array, gzip) is one block, read by the same container reader as a local
file. Each block is read twice: once to count its lines and records (so that every record
gets the line number and conversation index the local pipeline gives it), once to split
it; nothing is held in the cluster's memory between the two.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from convsplit.errors import InvalidConversationError
from convsplit.extras import require
from convsplit.formats import RawRecord, Source
from convsplit.formats.records import parsed
from convsplit.integrations._dask_cluster import PURPOSE
from convsplit.integrations._dask_tasks import PartOutput, PartResult, split_records
from convsplit.run.inputs import INPUT_SUFFIXES

#: What a folder is searched for: what a local one is, but Parquet (read only locally).
_INPUT_SUFFIXES = tuple(s for s in INPUT_SUFFIXES if s != ".parquet")
_CUTTABLE = (".jsonl", ".ndjson")


def is_url(name: str) -> bool:
    """Whether an input names a file by URL (``s3://bucket/a.jsonl``) rather than a path.

    >>> is_url("s3://bucket/chats.jsonl"), is_url("data/chats.jsonl")
    (True, False)
    """
    return "://" in name


def expand_urls(inputs: Sequence[str]) -> list[str]:
    """Files named, globs expanded and folders searched for JSON/JSONL (gzipped too), as
    :func:`~convsplit.run.inputs.expand_inputs` does for paths, on any fsspec filesystem.

    Raises:
        InvalidConversationError: naming the input that matched no file.
    """
    url_to_fs = require("fsspec.core", extra="dask", purpose=PURPOSE).url_to_fs
    found: list[str] = []
    for item in inputs:
        fs, path = url_to_fs(item)
        if fs.isdir(path):
            names = sorted(p for p in fs.find(path) if p.lower().endswith(_INPUT_SUFFIXES))
            if not names:
                raise InvalidConversationError(
                    f"no {', '.join(_INPUT_SUFFIXES)} files in directory", path=item
                )
        elif fs.exists(path):
            names = [path]
        elif any(c in path for c in "*?["):
            names = sorted(fs.glob(path))
            if not names:
                raise InvalidConversationError("no file matches this pattern", path=item)
        else:
            raise InvalidConversationError("no such file", path=item)
        found += [fs.unstrip_protocol(name) for name in names]
    return found


def total_size(urls: Sequence[str]) -> int:
    """The bytes of every file (as stored), for sizing blocks."""
    url_to_fs = require("fsspec.core", extra="dask", purpose=PURPOSE).url_to_fs
    total = 0
    for url in urls:
        fs, path = url_to_fs(url)
        total += int(fs.size(path) or 0)
    return total


@dataclass(frozen=True)
class Block:
    """One task's input: a block of whole lines of ``name``, or (``whole``) the file."""

    name: str
    whole: bool


def plan_blocks(urls: Sequence[str], *, blocksize: int | None) -> list[tuple[Block, Any]]:
    """Each block, in input order, with the Dask ``Delayed`` that reads its bytes."""
    read_bytes = require("dask.bytes", extra="dask", purpose=PURPOSE).read_bytes
    planned: list[tuple[Block, Any]] = []
    for url in urls:
        cut = blocksize is not None and url.endswith(_CUTTABLE)
        _, (blocks,) = read_bytes(
            url, delimiter=b"\n" if cut else None, blocksize=blocksize if cut else None,
            sample=False,
        )  # fmt: skip
        planned += [(Block(url, whole=not cut), block) for block in blocks]
    return planned


def _records(data: bytes, block: Block, first_line: int, limit: int | None) -> Iterator[RawRecord]:
    """The records of a block's bytes, numbered from ``first_line`` (a whole file from 1)."""
    source = Source.open(io.BytesIO(data), name=block.name)
    if block.whole:
        yield from source.records(max_record_bytes=limit)
        return
    shift = first_line - 1
    for record in source.records(max_record_bytes=limit, parse=False):
        yield parsed(replace(record, lineno=record.lineno + shift))


def count_block(data: bytes, block: Block, limit: int | None) -> tuple[int, int]:
    """Lines (blocks only: a whole file numbers its own) and records of a block."""
    source = Source.open(io.BytesIO(data), name=block.name)
    records = sum(1 for _ in source.records(max_record_bytes=limit, parse=False))
    if block.whole:
        return 0, records
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0), records


def split_block(
    data: bytes, block: Block, start: tuple[int, int], spec: Any, to: PartOutput
) -> PartResult:
    """Split one block's bytes into ``to``'s files, as ``split_part`` does."""
    first_line, index = start
    records = _records(data, block, first_line, spec.max_record_bytes)
    return split_records(block.name, records, index, spec, to)
