"""Dask bags: a bag of records in, lazy bags of sample lines and rejects out.

For a pipeline that goes on in Dask (filter, deduplicate, write with ``to_textfiles``).
Nothing runs when :func:`split_bag` is called: it builds a graph, and the caller computes it.
Each partition is first counted (so every record gets the conversation index and line the
local pipeline would give it), then split by the local pipeline's unit of work
(:class:`~convsplit.run.records.RecordSplitter`). The counts travel along a chain of tiny
tasks, one per partition, so partition ``k`` waits only for the counts before it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from convsplit.extras import require
from convsplit.formats import RawRecord
from convsplit.formats.records import parse_record
from convsplit.integrations._dask_cluster import PURPOSE
from convsplit.integrations._dask_tasks import BATCH_RECORDS, reraise
from convsplit.run.records import RecordSplitter
from convsplit.run.report import Report
from convsplit.spec import SplitSpec, check_spec

if TYPE_CHECKING:
    from dask.bag import Bag
    from dask.delayed import Delayed

__all__ = ["BagSplit", "split_bag"]

_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True)
class BagSplit:
    """What :func:`split_bag` returns, all lazy; compute them together (``dask.compute``)
    so that each partition is read and split once.

    Attributes:
        lines: the samples, one JSON line (``str``, no newline) per sample, in input order.
            ``lines.to_textfiles("out/*.jsonl", encoding="utf-8", last_endline=True)``
            writes them, with one blank line for each partition that has no sample (Dask
            ends every partition with a newline; JSONL readers skip blank lines). For
            files exactly as ``convsplit split`` writes them, use
            :func:`~convsplit.integrations.split_files_dask`.
        rejects: one dict per record that could not be read: ``path``, ``line``,
            ``reason``, ``field``, ``record`` (as the rejects file has them). ``path`` and
            ``line`` are the file and line of an item read with
            ``read_text(..., include_path=True)``; for other items, the bag's ``name`` and
            the item's 1-based position in the bag.
        report: a delayed :class:`~convsplit.run.report.Report`, added over the partitions.
    """

    lines: Bag
    rejects: Bag
    report: Delayed


def split_bag(records: Bag, spec: SplitSpec, *, name: str = "<bag>") -> BagSplit:
    """Split a bag of records on whatever scheduler Dask uses, lazily.

    Items are JSON texts (``str`` or ``bytes``, such as the lines of
    ``dask.bag.read_text``; blank ones are skipped, as blank lines are), ``(text, path)``
    pairs (``read_text(..., include_path=True)``: rejects then name the file and line), or
    parsed records (``dict``). The items of one file must come in order and together, as
    ``read_text`` gives them. Nothing is computed until the result is.

    Args:
        records: the bag.
        spec: what to split and how.
        name: the ``path`` of rejects from items that carry none.

    Returns:
        A :class:`BagSplit` of lazy ``lines``, ``rejects`` and ``report``.

    Raises:
        InvalidOptionError: ``spec`` is not a ``SplitSpec``.
        MissingExtraError: ``dask`` is not installed.
        UnknownNameError: an unknown tokenizer, chat format, reader or writer name (when
            the result is computed).

    Example::

        import dask, dask.bag as db
        texts = db.read_text("data/*.jsonl", blocksize="16MiB", include_path=True)
        split = split_bag(texts, spec)
        # one compute for all three: each partition is split once
        samples, rejects, report = dask.compute(
            split.lines.map(json.loads).filter(lambda s: len(s["messages"]) > 2).count(),
            split.rejects, split.report)
    """
    check_spec(spec)
    dask = require("dask", extra="dask", purpose=PURPOSE)
    bag = require("dask.bag", extra="dask", purpose=PURPOSE)
    untyped: Any = records  # dask leaves Bag.to_delayed unannotated
    parts = untyped.to_delayed()
    count = dask.delayed(_count_items, pure=True)
    advance = dask.delayed(_advance, pure=True)
    split = dask.delayed(_split_items, pure=True)
    start: Any = _Start()
    results = []
    for part in parts:
        results.append(split(part, start, spec, name))
        start = advance(start, count(part))
    lines = bag.from_delayed([dask.delayed(_part_lines)(r) for r in results])
    rejects = bag.from_delayed([dask.delayed(_part_rejects)(r) for r in results])
    report = dask.delayed(_add_reports)([dask.delayed(_part_report)(r) for r in results])
    return BagSplit(lines, rejects, report)


# -- counting: where each partition starts ----------------------------------------------------


@dataclass(frozen=True)
class _Count:
    """A partition's items, its records (items that are not blank) and its runs of items of
    one file, ``(path, items)`` in order (``path`` None for items that carry none)."""

    items: int
    records: int
    runs: tuple[tuple[str | None, int], ...]


@dataclass(frozen=True)
class _Start:
    """Where a partition starts: items and records before it, and the file the last of
    them came from with how many items of that file came before."""

    item: int = 0
    index: int = 0
    path: str | None = None
    path_items: int = 0


def _count_items(items: Iterable[object]) -> _Count:
    count = found = 0
    runs: list[tuple[str | None, int]] = []
    for item in items:
        count += 1
        text, path = _unpaired(item)
        if not _blank(text):
            found += 1
        if runs and runs[-1][0] == path:
            runs[-1] = (path, runs[-1][1] + 1)
        else:
            runs.append((path, 1))
    return _Count(count, found, tuple(runs))


def _advance(start: _Start, count: _Count) -> _Start:
    path, path_items = start.path, start.path_items
    for run_path, items in count.runs:
        if run_path == path:
            path_items += items
        else:
            path, path_items = run_path, items
    return _Start(start.item + count.items, start.index + count.records, path, path_items)


# -- splitting one partition ------------------------------------------------------------------


@dataclass
class _BagPart:
    lines: list[str]
    rejects: list[dict[str, Any]]
    report: Report = field(default_factory=Report)


def _split_items(items: Iterable[object], start: _Start, spec: SplitSpec, name: str) -> _BagPart:
    try:
        splitter = RecordSplitter(spec)
        index = start.index
        out = _BagPart([], [])
        for path, batch in _batches(items, start):
            result = splitter.process(name if path is None else path, batch, index)
            index += len(batch)
            out.lines.extend(line.decode() for line in result.lines().split(b"\n")[:-1])
            out.rejects.extend(r.as_dict() for r in result.rejects)
            out.report.add(result.reports[0])
            if path is not None and path not in out.report.files:
                out.report.files.append(path)
        return out
    except Exception as error:
        reraise(error)


def _batches(
    items: Iterable[object], start: _Start
) -> Iterator[tuple[str | None, list[RawRecord]]]:
    """The partition's records in batches of one file each (``None``: items that carry no
    file), numbered by their line in that file or else their position in the bag."""
    batch: list[RawRecord] = []
    path, path_items = start.path, start.path_items
    for position, item in enumerate(items, start=start.item + 1):
        text, item_path = _unpaired(item)
        if item_path != path:
            if batch:
                yield path, batch
                batch = []
            path, path_items = item_path, 0
        path_items += 1
        if _blank(text):
            continue
        batch.append(_as_record(position if path is None else path_items, text))
        if len(batch) >= BATCH_RECORDS:
            yield path, batch
            batch = []
    if batch:
        yield path, batch


def _unpaired(item: object) -> tuple[object, str | None]:
    """An item as (what it holds, its file): ``read_text(include_path=True)`` gives pairs."""
    if (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], (str, bytes, bytearray))
        and isinstance(item[1], str)
    ):
        return item[0], item[1]
    return item, None


def _blank(item: object) -> bool:
    if isinstance(item, str):
        return not item.strip()
    if isinstance(item, (bytes, bytearray)):
        return not item.strip(_WHITESPACE)
    return False


def _as_record(position: int, item: object) -> RawRecord:
    """One bag item as a record: JSON text parsed as a JSONL line is, a value as it is."""
    if isinstance(item, (str, bytes, bytearray)):
        text = (item.encode() if isinstance(item, str) else bytes(item)).rstrip(b"\r\n")
        return parse_record(position, text)
    return RawRecord(position, _json(item), item)


def _json(value: object) -> bytes:
    """A parsed record as JSON text, for its reject and the byte count (orjson, or the
    standard library for what orjson does not write, such as integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _part_lines(part: _BagPart) -> list[str]:
    return part.lines


def _part_rejects(part: _BagPart) -> list[dict[str, Any]]:
    return part.rejects


def _part_report(part: _BagPart) -> Report:
    return part.report


def _add_reports(reports: Iterable[Report]) -> Report:
    total = Report()
    for report in reports:
        total.add(report)
        total.files.extend(path for path in report.files if path not in total.files)
    return total
