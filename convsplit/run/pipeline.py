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
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import replace

from convsplit.budget import Budget, check_count, describe
from convsplit.errors import InvalidConversationError, InvalidOptionError
from convsplit.formats import RawRecord, Source
from convsplit.formats.parquet import check_parquet_output
from convsplit.run.inputs import expand_inputs
from convsplit.run.interrupts import raise_if_interrupted
from convsplit.run.output import AtomicOutput, AtomicOutputs, check_targets
from convsplit.run.records import RecordSplitter, SplitBatch
from convsplit.run.report import Report
from convsplit.spec import SplitSpec, check_spec

_BATCH_RECORDS = 64
_BATCH_BYTES = 1 << 20


def split_files(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
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
        inputs: files, globs or directories (see :func:`expand_inputs`), one alone or a
            list; ``-`` is stdin.
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
        InvalidOptionError: ``spec`` is not a :class:`~convsplit.spec.SplitSpec`.
        InvalidConversationError: an input cannot be read, or (``strict``) a bad record.
        OutputError: the output or rejects file cannot be written, or names an input or
            the other (:func:`~convsplit.run.output.check_targets`).
        WorkerError: a worker process died.
    """
    spec = check_spec(spec)
    (report,) = _split(
        inputs, {"output": os.fspath(output)}, spec, [spec.budget], rejects, jobs, strict, progress
    )
    return report


def split_windows(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    spec: SplitSpec,
    budgets: Sequence[Budget | int],
    *,
    rejects: str | os.PathLike[str] | None = None,
    jobs: int = 1,
    strict: bool = False,
    progress: Callable[[Report], None] | None = None,
) -> dict[int, Report]:
    """Split ``inputs`` under several budgets in one pass: one output file per budget.

    Each record is read, parsed and counted once, and split under every budget; each
    file holds the bytes :func:`split_files` writes with that budget alone. The files
    are renamed into place together, once all are complete (none if any fails); a bad
    record is written to ``rejects`` once.

    Args:
        output: the files' name, holding ``{max_tokens}`` (``out-{max_tokens}.jsonl``).
        budgets: a :class:`~convsplit.budget.Budget` each, or a ``max_tokens`` for the
            spec's budget with that window (its reserve and minimum context).
        inputs, spec, rejects, jobs, strict: as for :func:`split_files`.
        progress: called with the first budget's running report after each batch.

    Returns:
        Each budget's :class:`Report`, by its ``max_tokens``, in the order given.

    Raises:
        InvalidOptionError: ``output`` lacks ``{max_tokens}``, no budgets, or two with
            one ``max_tokens``.
        And what :func:`split_files` raises.

    >>> split_windows(["chats.jsonl"], "out.jsonl", SplitSpec(), [1024, 4096])
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: output must hold {max_tokens} to name one file per \
budget (such as out-{max_tokens}.jsonl); got 'out.jsonl'
    """
    spec = check_spec(spec)
    text = os.fspath(output)
    if WINDOW_FIELD not in text:
        raise InvalidOptionError(
            f"output must hold {WINDOW_FIELD} to name one file per budget (such as "
            f"out-{WINDOW_FIELD}.jsonl); got {text!r}"
        )
    chosen = [_as_budget(spec, b) for b in budgets]
    if not chosen:
        raise InvalidOptionError("budgets must name at least one budget; got none")
    windows = [b.max_tokens for b in chosen]
    for n in windows:
        if windows.count(n) > 1:
            raise InvalidOptionError(
                f"budgets name max_tokens={n} twice; each names its own output file"
            )
    outputs = {f"output for max_tokens={b.max_tokens}": window_output(text, b) for b in chosen}
    reports = _split(inputs, outputs, spec, chosen, rejects, jobs, strict, progress)
    return {b.max_tokens: r for b, r in zip(chosen, reports, strict=True)}


WINDOW_FIELD = "{max_tokens}"
"""What :func:`split_windows`' output name holds, replaced by each budget's ``max_tokens``."""


def window_output(output: str, budget: Budget) -> str:
    """The file ``budget``'s samples go to.

    >>> window_output("out-{max_tokens}.jsonl", Budget(4096))
    'out-4096.jsonl'
    """
    return output.replace(WINDOW_FIELD, str(budget.max_tokens))


def _as_budget(spec: SplitSpec, budget: Budget | int) -> Budget:
    if isinstance(budget, Budget):
        return budget
    if type(budget) is not int:
        raise InvalidOptionError(
            f"budgets must hold Budgets or max_tokens (int); got {describe(budget)}"
        )
    return replace(spec.budget, max_tokens=check_count("max_tokens", budget, minimum=1))


def _split(  # noqa: PLR0917 (split_files' and split_windows' own arguments)
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    outputs: Mapping[str, str],
    spec: SplitSpec,
    budgets: Sequence[Budget],
    rejects: str | os.PathLike[str] | None,
    jobs: int,
    strict: bool,
    progress: Callable[[Report], None] | None,
) -> list[Report]:
    worker = RecordSplitter(spec, budgets)
    files = expand_inputs(inputs)
    check_targets({**outputs, "rejects": rejects}, files)
    check_parquet_output(outputs.values(), spec.output_format, rejects=rejects)
    reports = [Report(files=files) for _ in budgets]
    started = time.perf_counter()
    with (
        AtomicOutputs(list(outputs.values())) as outs,
        AtomicOutput(rejects) if rejects is not None else contextlib.nullcontext() as bad,
        contextlib.closing(_run(files, worker, jobs, outs)) as batches,
    ):
        # ``batches`` is closed first: after a failure, worker processes are gone before
        # the temporary files are removed.
        for batch in batches:
            raise_if_interrupted()
            if batch.rejects:
                first = batch.rejects[0]
                if strict:
                    raise InvalidConversationError(
                        first.reason, path=first.path, lineno=first.line, hints=first.hints
                    )
                if bad is not None:
                    bad.write(b"".join(r.json_line() for r in batch.rejects))
            for out, chunks, report, part in zip(
                outs, batch.chunks, reports, batch.reports, strict=True
            ):
                out.write_chunks(chunks)
                report.add(part)
            if progress is not None:
                reports[0].seconds = time.perf_counter() - started
                progress(reports[0])
    for report in reports:
        report.seconds = time.perf_counter() - started
    return reports


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
    files: Sequence[str], worker: RecordSplitter, jobs: int, outs: Sequence[AtomicOutput]
) -> Generator[SplitBatch, None, None]:
    limit = worker.spec.max_record_bytes
    if jobs <= 1:
        # One conversation at a time, its samples written as they are made: memory stays
        # flat however large a conversation or its output.
        for path, records, index in _batches(files, limit, records=1):
            yield worker.process(path, records, index, emit=lambda k, c: outs[k].write_chunks(c))
        return
    # The parent only cuts records (parse=False); the workers parse them.
    batches = _batches(files, limit, parse=False)
    in_place = [out.positional_path for out in outs]
    # Written at offsets by the workers only where every file can be.
    places = [
        (out.target, path) for out, path in zip(outs, in_place, strict=True) if path is not None
    ]
    output = places if len(places) == len(outs) else None
    from convsplit.run.parallel import run_parallel  # noqa: PLC0415 (imported when used: startup)

    yield from run_parallel(batches, worker.spec, worker.budgets, jobs, output)
