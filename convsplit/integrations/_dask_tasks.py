"""The work of one Dask task: split one partition into its part file.

Each task runs the local pipeline's unit of work
(:class:`~convsplit.run.records.RecordSplitter`), so a record gives the same samples,
rejects and accounting on a cluster as on a laptop.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, NoReturn, cast

from convsplit.errors import WorkerError
from convsplit.extras import require
from convsplit.formats import RawRecord
from convsplit.formats.parquet import ParquetLines, is_parquet
from convsplit.integrations._dask_parts import Partition, open_records
from convsplit.run.records import RecordSplitter
from convsplit.run.report import Reject, Report
from convsplit.spec import SplitSpec

#: Records handed to the splitter at a time: few enough to keep a task's memory small.
BATCH_RECORDS = 64


def batched(records: Iterable[RawRecord]) -> Iterator[list[RawRecord]]:
    """``records`` in lists of :data:`BATCH_RECORDS`."""
    batch: list[RawRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= BATCH_RECORDS:
            yield batch
            batch = []
    if batch:
        yield batch


#: Seconds between the progress events a running task sends (see :func:`split_records`).
PROGRESS_SECONDS = 1.0


@dataclass
class PartResult:
    """What a task sends back: its accounting, for ``strict`` its first reject, and the
    name of its part file (the key of its progress events)."""

    report: Report
    first_reject: Reject | None = None
    part: str = ""


def progress_sender(topic: str | None, part: str) -> Callable[[Report], None]:
    """What a task calls after each batch: at most every :data:`PROGRESS_SECONDS`, it logs
    its counts so far as an event of ``topic`` on the scheduler (``Worker.log_event``),
    which the client reads while it waits, so the progress line moves within a partition.
    Outside a worker, or without a topic, it does nothing."""
    worker: Any = None
    if topic is not None:
        with contextlib.suppress(ImportError, ValueError):  # not on a worker
            worker = require("distributed", extra="dask").get_worker()
    last = time.monotonic()

    def send(report: Report) -> None:
        nonlocal last
        now = time.monotonic()
        if worker is None or now - last < PROGRESS_SECONDS:
            return
        last = now
        worker.log_event(topic, {"part": part, **counts(report)})

    return send


def counts(report: Report) -> dict[str, int]:
    """What the progress line shows of a report."""
    return {
        "records": report.records,
        "input_bytes": report.input_bytes,
        "sample_tokens": report.sample_tokens,
    }


@dataclass(frozen=True)
class PartOutput:
    """Where one task writes, and how.

    Attributes:
        output: its part file.
        rejects: its rejects file; ``None``: rejects are only counted.
        strict: stop at the first reject and send it back.
        topic: where its progress events go (see :func:`progress_sender`).
    """

    output: str
    rejects: str | None = None
    strict: bool = False
    topic: str | None = None


def split_part(
    part: Partition, start: tuple[int, int], spec: SplitSpec, to: PartOutput
) -> PartResult:
    """Split one partition into ``to``'s files.

    ``start`` is the partition's first line number and first conversation index. The
    splitter is cheap to build: the spec's tokenizer and chat format come from the worker's
    own registry, loaded once per process.
    """
    first_line, index = start
    try:
        with open_records(part, first_line, spec.max_record_bytes) as records:
            return split_records(part.name, records, index, spec, to)
    except Exception as error:
        reraise(error)


def split_records(
    name: str, records: Iterable[RawRecord], index: int, spec: SplitSpec, to: PartOutput
) -> PartResult:
    """Split the ``records`` of file ``name``, the first conversation ``index``, into
    ``to``'s files, sending progress events to its topic."""
    part = os.path.basename(to.output)
    try:
        splitter = RecordSplitter(spec)
        report = Report()
        send = progress_sender(to.topic, part)
        with (
            open_part(to.output) as out,
            open(to.rejects, "wb") if to.rejects is not None else contextlib.nullcontext() as bad,
        ):
            for batch in batched(records):
                # A long conversation's samples are written as they are made.
                result = splitter.process(name, batch, index, emit=lambda _, c: out.writelines(c))
                index += len(batch)
                if result.rejects and to.strict:
                    return PartResult(report, result.rejects[0], part)
                out.writelines(result.chunks[0])
                if bad is not None:
                    bad.write(b"".join(r.json_line() for r in result.rejects))
                report.add(result.reports[0])
                send(report)
        return PartResult(report, part=part)
    except Exception as error:
        reraise(error)


@contextlib.contextmanager
def open_part(output: str) -> Iterator[IO[bytes]]:
    """The part file ``output``: JSON lines, or for a name ending in ``.parquet`` the same
    rows as Parquet row groups, through the local run's Parquet writer
    (:class:`~convsplit.formats.parquet.ParquetLines`)."""
    with open(output, "wb") as raw:
        if not is_parquet(output):
            yield raw
            return
        rows = ParquetLines(raw, name=output)
        yield cast(IO[bytes], rows)
        rows.close()  # the footer, only when every row is in: a failed part is discarded


def reraise(error: Exception) -> NoReturn:
    """Raise ``error`` again, or a :class:`WorkerError` with its message where it would not
    survive the trip to the client (an exception whose ``__init__`` takes other arguments
    than its message cannot be unpickled there: the client would see a TypeError instead)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        raise WorkerError(f"on a Dask worker: {type(error).__name__}: {error}") from None
    raise error
