"""Files in, files out: read records, split them, write samples, account for everything.

The library function behind ``convsplit split``. It streams (memory stays flat whatever
the input size), writes atomically (a temporary file renamed into place at the end, so an
interrupted run never leaves a partial file under the output name), sends every bad record
to the rejects file with its exact bytes, file, line and reason, and can spread the work
over worker processes while writing exactly the bytes one process would.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Generator, Iterator, Sequence

from convsplit.errors import InvalidConversationError
from convsplit.formats import RawRecord, Source
from convsplit.run.inputs import expand_inputs
from convsplit.run.output import AtomicOutput, check_targets
from convsplit.run.parallel import run_parallel
from convsplit.run.records import RecordSplitter, SplitBatch
from convsplit.run.report import Report
from convsplit.spec import SplitSpec

_BATCH_RECORDS = 64
_BATCH_BYTES = 1 << 20


def split_files(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    spec: SplitSpec,
    *,
    rejects: str | os.PathLike[str] | None = None,
    jobs: int = 1,
    strict: bool = False,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Split every conversation of ``inputs`` into ``output``.

    Args:
        inputs: files, globs or directories (see :func:`expand_inputs`); ``-`` is stdin.
        output: the samples file (``-`` for stdout); ``.gz`` compresses.
        spec: what to split and how.
        rejects: a JSONL file for records that could not be read, each with its original
            text, file, line and reason; without it they are only counted.
        jobs: worker processes; the output is byte-identical whatever the number.
        strict: stop at the first bad record instead of rejecting it.
        progress: called with the running report after each batch.

    Returns:
        The run's :class:`Report`.

    Raises:
        InvalidConversationError: an input cannot be read, or (``strict``) a bad record.
        OutputError: the output or rejects file cannot be written, or names an input or
            the other (:func:`~convsplit.run.output.check_targets`).
        WorkerError: a worker process died.
    """
    worker = RecordSplitter(spec)
    files = expand_inputs(inputs)
    check_targets({"output": output, "rejects": rejects}, files)
    report = Report(files=files)
    started = time.perf_counter()
    with (
        AtomicOutput(output) as out,
        AtomicOutput(rejects) if rejects is not None else contextlib.nullcontext() as bad,
        contextlib.closing(_run(files, worker, jobs, out)) as batches,
    ):
        # ``batches`` is closed first: after a failure, worker processes are gone before
        # the temporary files are removed.
        for batch in batches:
            if batch.rejects:
                first = batch.rejects[0]
                if strict:
                    raise InvalidConversationError(
                        first.reason, path=first.path, lineno=first.line, hints=first.hints
                    )
                if bad is not None:
                    bad.write(b"".join(r.json_line() for r in batch.rejects))
            out.write_chunks(batch.chunks)
            report.add(batch.report)
            if progress is not None:
                report.seconds = time.perf_counter() - started
                progress(report)
    report.seconds = time.perf_counter() - started
    return report


def _batches(
    files: Sequence[str],
    max_record_bytes: int | None,
    *,
    records: int = _BATCH_RECORDS,
    parse: bool = True,
) -> Iterator[tuple[str, list[RawRecord], int]]:
    """Records grouped in batches of about a megabyte (or ``records`` records), with the
    index of their first record."""
    index = 0
    for path in files:
        with Source.open(path) as source:
            batch: list[RawRecord] = []
            size = 0
            for raw in source.records(max_record_bytes=max_record_bytes, parse=parse):
                batch.append(raw)
                size += len(raw.text)
                if len(batch) >= records or size >= _BATCH_BYTES:
                    yield source.path, batch, index
                    index += len(batch)
                    batch, size = [], 0
            if batch:
                yield source.path, batch, index
                index += len(batch)


def _run(
    files: Sequence[str], worker: RecordSplitter, jobs: int, out: AtomicOutput
) -> Generator[SplitBatch, None, None]:
    limit = worker.spec.max_record_bytes
    if jobs <= 1:
        # One conversation at a time: its samples are written before the next is read, so
        # memory follows the largest conversation's output, not a batch's.
        for path, records, index in _batches(files, limit, records=1):
            yield worker.process(path, records, index)
        return
    # The parent only cuts records (parse=False); the workers parse them.
    batches = _batches(files, limit, parse=False)
    in_place = out.positional_path
    output = (out.target, in_place) if in_place is not None else None
    yield from run_parallel(batches, worker.spec, jobs, output)
