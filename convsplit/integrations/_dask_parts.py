"""Planning the Dask engine's partitions: which bytes each task reads, and where it starts.

A partition is a whole file, or the lines of a plain JSONL file that start in a byte range.
Each partition's records are counted first (a pass that parses nothing), so that every
task knows the line number and conversation index of its first record: numbered so, the
parts concatenated are the local pipeline's output.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from convsplit.formats import RawRecord, Source, count_range, read_range, splittable

#: The largest block a plain JSONL file is cut into (Dask's own default for text).
MAX_BLOCKSIZE = 64 << 20
#: The smallest block :func:`auto_blocksize` chooses: a task reads at least this much, so
#: that starting it costs little beside its work.
MIN_BLOCKSIZE = 1 << 20
#: Blocks per worker thread that :func:`auto_blocksize` aims for: with several, a thread
#: that finishes early takes another, so the run ends when the work does.
BLOCKS_PER_THREAD = 4


@dataclass(frozen=True)
class Partition:
    """The input one task reads: a whole file, or the lines of a plain JSONL file that start
    in the bytes ``[start, end)``.

    Attributes:
        path: the file, absolute (workers may run elsewhere).
        name: the file as the user named it, for rejects and errors.
        start, end: the byte range; ``end`` is ``None`` for a whole file, read by
            convsplit's container reader (JSON arrays, gzip, pretty-printed objects).
    """

    path: str
    name: str
    start: int = 0
    end: int | None = None


def auto_blocksize(total_bytes: int, threads: int) -> int:
    """A block size that gives every worker thread a few blocks of the input.

    Between :data:`MIN_BLOCKSIZE` and :data:`MAX_BLOCKSIZE`: a 10 MB file on 8 threads is
    cut in 1 MiB blocks rather than read by one of them.

    >>> auto_blocksize(10_000_000, 8)
    1048576
    >>> auto_blocksize(400 << 20, 4)
    26214400
    >>> auto_blocksize(100 << 30, 16)
    67108864
    """
    wanted = -(-total_bytes // (max(threads, 1) * BLOCKS_PER_THREAD))
    return min(MAX_BLOCKSIZE, max(MIN_BLOCKSIZE, wanted))


def plan_partitions(files: Sequence[str], *, blocksize: int | None) -> list[Partition]:
    """One partition per file, and line-aligned blocks for plain JSONL files larger than
    ``blocksize`` (``None``: never cut a file).

    Only plain JSONL can be cut: a JSON array or a gzip stream must be read from its start.
    The container is told from the data, exactly as the local reader tells it.

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "a.jsonl")
    ...     _ = open(path, "w").write('{"messages": []}\\n' * 10)
    ...     [(p.start, p.end) for p in plan_partitions([path], blocksize=60)]
    [(0, 60), (60, 120), (120, 170)]
    """
    parts: list[Partition] = []
    for name in files:
        path = os.path.abspath(name)
        size = os.path.getsize(path)
        if blocksize is None or size <= blocksize or not splittable(path):
            parts.append(Partition(path, name))
            continue
        for start in range(0, size, blocksize):
            parts.append(Partition(path, name, start, min(start + blocksize, size)))
    return parts


@contextlib.contextmanager
def open_records(
    part: Partition, first_line: int, limit: int | None
) -> Iterator[Iterator[RawRecord]]:
    """The records of ``part``, the first numbered ``first_line`` (blocks only: a whole file
    numbers its own), each at most ``limit`` bytes."""
    if part.end is not None:
        yield read_range(
            part.path,
            part.start,
            part.end,
            first_line=first_line,
            max_record_bytes=limit,
            name=part.name,
        )
        return
    with Source.open(part.path, name=part.name) as source:
        yield source.records(max_record_bytes=limit)


def count_part(part: Partition, limit: int | None) -> tuple[int, int]:
    """Lines (blocks only: a whole file numbers its own) and records of a partition."""
    if part.end is None:
        with Source.open(part.path, name=part.name) as source:
            return 0, sum(1 for _ in source.records(max_record_bytes=limit))
    return count_range(part.path, part.start, part.end, max_record_bytes=limit, name=part.name)


def part_starts(files: Sequence[str], counts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each partition's first line number (within its file) and first conversation index,
    from each partition's file and its lines and records.

    >>> part_starts(["a", "a", "b"], [(10, 4), (5, 2), (0, 3)])
    [(1, 0), (11, 4), (1, 6)]
    """
    out: list[tuple[int, int]] = []
    index = 0
    line = 1
    previous: str | None = None
    for path, (lines, records) in zip(files, counts, strict=True):
        if path != previous:
            line, previous = 1, path
        out.append((line, index))
        line += lines
        index += records
    return out
