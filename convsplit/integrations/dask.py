"""Dask: the local split, run over partitioned files on a cluster (or over a ``dask.bag``).

Every partition is split by the local pipeline's unit of work
(:class:`~convsplit.run.records.RecordSplitter`), so a record gives the same samples, rejects
and accounting on a cluster as on a laptop. Before splitting, each partition's records are
counted (a fast pass that parses nothing): every record then gets the conversation index and
line number the local pipeline gives it, and the output is byte for byte what
:func:`~convsplit.run.pipeline.split_files` writes, only cut into parts.

- :func:`split_files_dask` reads files (JSONL, JSON arrays, gzip: whatever ``convsplit
  split`` reads), one partition per file, and plain JSONL files in line-aligned blocks
  (by default sized so that every worker thread gets a few); it writes
  ``part-00000.jsonl``, ``part-00001.jsonl``... into an output folder, one part per
  partition, in input order (concatenated, they are the local output). The parts are
  written into a temporary folder beside the output and renamed into place when every
  partition has succeeded: a failed run leaves no partial output.
- :func:`~convsplit.integrations.dask_bag.split_bag` (also importable from here) splits a
  bag of JSON lines or of parsed records, lazily, for a pipeline that goes on in Dask.

The modules behind it, one job each: ``_dask_parts`` (planning partitions),
``_dask_tasks`` (the work of one task), ``_dask_cluster`` (client, waiting, stopping) and
``_dask_output`` (the output folder).

Pointing it at a real cluster
-----------------------------
1. Install the same convsplit, with ``pip install 'convsplit[dask]'``, on the machine you
   run it from and on every worker (and whatever the options need, such as
   ``convsplit[hf]`` for a Hugging Face tokenizer, and the tiktoken vocabulary: set
   ``TIKTOKEN_CACHE_DIR`` or install ``convsplit[offline]`` on the workers too).
2. Put the output folder on storage that the client and every worker see at the same
   path (NFS, a shared disk, a mounted bucket), and the inputs there too, or name them by
   URL (``s3://bucket/chats/``, any filesystem fsspec knows, with its package installed:
   ``s3fs``, ``gcsfs``...): URLs are read by each worker through Dask's ``read_bytes``.
   Paths are made absolute on the client.
3. Start a scheduler and workers, for example ``dask scheduler`` on one machine
   (it prints ``tcp://10.0.0.5:8786``) and ``dask worker tcp://10.0.0.5:8786 --nthreads 1``
   on each worker machine (one thread per process: splitting is CPU-bound Python; start
   as many worker processes per machine as it has cores, with ``--nworkers``), or use
   dask-jobqueue, dask-kubernetes or a hosted cluster.
4. Run ``convsplit split data/ -o samples/ --engine dask --scheduler tcp://10.0.0.5:8786``,
   or from Python ``split_files_dask(["data/"], "samples/", spec,
   scheduler="tcp://10.0.0.5:8786")`` (``scheduler`` may also be a
   ``distributed.Client``). Without a scheduler, a client already active in the process is
   used, or else a local cluster of worker processes is started for the run. A run whose
   scheduler has no worker fails after Dask's ``distributed.scheduler.no-workers-timeout``
   (60 s when not set; ``DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT=10min`` for a
   cluster that starts its workers on demand).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from convsplit.budget import check_count
from convsplit.errors import InvalidConversationError, InvalidOptionError, OutputError
from convsplit.extras import require
from convsplit.formats.parquet import check_parquet_output, is_parquet
from convsplit.integrations._dask_cluster import (
    PURPOSE,
    client_for,
    gather,
    quiet_logs,
    worker_threads,
)
from convsplit.integrations._dask_output import (
    check_output,
    join_rejects,
    make_temporary,
    part_names,
    put_in_place,
    rejects_name,
    remove,
)
from convsplit.integrations._dask_parts import (
    MAX_BLOCKSIZE,
    Partition,
    auto_blocksize,
    count_part,
    part_starts,
    plan_partitions,
)
from convsplit.integrations._dask_progress import RunningProgress, new_topic
from convsplit.integrations._dask_remote import (
    count_block,
    expand_urls,
    is_url,
    plan_blocks,
    split_block,
    total_size,
)
from convsplit.integrations._dask_tasks import PartOutput, PartResult, split_part
from convsplit.integrations.dask_bag import BagSplit, split_bag
from convsplit.run.inputs import expand_inputs, input_list
from convsplit.run.output import check_targets
from convsplit.run.report import Report
from convsplit.spec import SplitSpec, check_spec

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "DEFAULT_BLOCKSIZE",
    "BagSplit",
    "Partition",
    "auto_blocksize",
    "plan_partitions",
    "split_bag",
    "split_files_dask",
]

#: The largest block a plain JSONL file is cut into; ``blocksize="auto"`` chooses smaller
#: blocks where the input is small beside the cluster.
DEFAULT_BLOCKSIZE = MAX_BLOCKSIZE


def split_files_dask(  # noqa: PLR0913 (keyword-only: split_files' run options and the cluster's)
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    spec: SplitSpec,
    *,
    scheduler: str | Client | None = None,
    rejects: str | os.PathLike[str] | None = None,
    blocksize: int | Literal["auto"] | None = "auto",
    n_workers: int | None = None,
    strict: bool = False,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Split every conversation of ``inputs`` on a Dask cluster into ``output_dir``.

    Args:
        inputs: files, globs or directories, as for :func:`~convsplit.run.pipeline.split_files`
            (not standard input: workers cannot read it).
        output_dir: the folder of ``part-NNNNN.jsonl`` files, one per partition, in input
            order. Created; an existing folder is replaced only if it holds nothing but
            part files (a previous run), so a wrong path never deletes other files. A
            folder named ``.parquet`` holds ``part-NNNNN.parquet`` files instead, the rows
            the local run writes to a ``.parquet`` file (``--to text`` or ``tokens``).
        spec: what to split and how.
        scheduler: a scheduler address (``tcp://host:8786``) or a ``distributed.Client``;
            ``None`` uses the client active in this process, or starts a local cluster
            of ``n_workers`` processes for the run.
        rejects: a JSONL file for the records that could not be read (original text, file,
            line and reason, as ``split_files`` writes them); without it they are counted.
        blocksize: plain JSONL files larger than this many bytes are split in line-aligned
            blocks of about this size. ``"auto"`` (the default) gives each worker thread
            about four blocks of the whole input, between 1 MiB and 64 MiB
            (:func:`auto_blocksize`), so a single file is spread over the cluster;
            ``None`` keeps one partition per file.
        n_workers: worker processes of the local cluster (default: one per core).
        strict: fail on the first bad record (in input order) instead of rejecting it.
        progress: called with the running report each time a partition is done, and about
            twice a second with the counts the running partitions have sent.

    Returns:
        The run's :class:`~convsplit.run.report.Report`, added up over the partitions.

    Raises:
        InvalidConversationError: an input cannot be read, or (``strict``) a bad record.
        InvalidOptionError: ``spec`` not a ``SplitSpec``; a ``blocksize`` that is not a
            positive int, ``"auto"`` or None; ``n_workers`` not a positive int; a folder
            named ``.parquet`` for a writer whose rows Parquet cannot hold.
        OutputError: the output folder cannot be written, holds other files, holds an
            input or the rejects file, or the rejects file names an input (all refused
            before any work).
        WorkerError: a worker died, or failed with an error that could not be sent back;
            the scheduler was lost; or it had no worker for Dask's
            ``distributed.scheduler.no-workers-timeout`` (60 s when not set).
        MissingExtraError: ``dask`` or ``distributed`` is not installed.

    Example::

        from convsplit import Budget
        from convsplit import SplitSpec
        from convsplit.integrations import split_files_dask

        report = split_files_dask(["data/"], "samples/", SplitSpec(Budget(4096)),
                                  scheduler="tcp://10.0.0.5:8786", rejects="rejects.jsonl")
        print(report.summary())
    """
    check_spec(spec)
    _check_blocksize(blocksize)
    if n_workers is not None:
        check_count("n_workers", n_workers, minimum=1)
    distributed = require("distributed", extra="dask", purpose=PURPOSE)
    given = [os.fspath(name) for name in input_list(inputs)]
    remote = any(map(is_url, given))
    files = expand_urls(given) if remote else expand_inputs(given)
    if "-" in files:
        raise InvalidConversationError(
            "Dask workers cannot read standard input; write it to a file first", path="-"
        )
    if os.fspath(output_dir) == "-":
        raise OutputError(
            "the Dask engine writes a folder of part files, not standard output: name a folder"
        )
    target = os.path.abspath(os.fspath(output_dir))
    check_output(target)
    # A folder named .parquet holds Parquet parts, written as the local run writes one.
    check_parquet_output([target], spec.output_format, rejects=rejects)
    suffix = ".parquet" if is_parquet(target) else ".jsonl"
    local = [] if remote else files  # a URL cannot be a local output
    check_targets({"rejects": rejects}, local, folders={"output folder": output_dir})
    started = time.perf_counter()
    folder = make_temporary(target)
    try:
        with quiet_logs(), client_for(distributed, scheduler, n_workers) as client:
            if blocksize == "auto":
                total = total_size(files) if remote else sum(map(os.path.getsize, files))
                blocksize = auto_blocksize(total, worker_threads(client))
            topic = new_topic() if progress is not None else None
            planned = _plan(files, remote=remote, blocksize=blocksize)
            names = part_names(len(planned.args), suffix=suffix)
            outputs = [
                PartOutput(
                    os.path.join(folder, name),
                    os.path.join(folder, rejects_name(name)) if rejects else None,
                    strict,
                    topic,
                )
                for name in names
            ]
            futures = _submit(distributed, client, planned, spec, outputs)

            running = None
            if progress is not None and topic is not None:
                running = RunningProgress(progress, client, topic, started)
            results: list[PartResult] = gather(
                distributed,
                client,
                futures,
                None if running is None else running.part_done,
                None if running is None else running.poll,
            )
        # Added up again in input order, so the first rejects are those the local run lists.
        report = Report(files=files)
        for result in results:
            report.add(result.report)
        if strict:
            _raise_first_reject(results)
        if rejects is not None:
            join_rejects(folder, names, rejects)
        report.seconds = time.perf_counter() - started
        put_in_place(folder, target)
    finally:  # on any exception, an interrupt too
        remove(folder)
    return report


@dataclass(frozen=True)
class _Planned:
    r"""A run's partitions, whichever way they are read: local files (``Partition``\ s, each
    task opening its own) or URLs (blocks of Dask's ``read_bytes``, each task given its
    bytes).

    Attributes:
        files: the file of each partition (its line numbers start again with each file).
        args: the leading arguments of each partition's tasks.
        count: ``count(*args, max_record_bytes)``: its lines and records.
        split: ``split(*args, start, spec, to)`` (``to``: its :class:`PartOutput`).
    """

    files: list[str]
    args: list[tuple[Any, ...]]
    count: Callable[..., tuple[int, int]]
    split: Callable[..., PartResult]


def _plan(files: Sequence[str], *, remote: bool, blocksize: int | None) -> _Planned:
    if remote:
        blocks = plan_blocks(files, blocksize=blocksize)
        return _Planned(
            [block.name for block, _ in blocks],
            [(data, block) for block, data in blocks],
            count_block,
            split_block,
        )
    parts = plan_partitions(files, blocksize=blocksize)
    return _Planned(
        [part.path for part in parts], [(part,) for part in parts], count_part, split_part
    )


def _submit(
    distributed: Any,
    client: Any,
    planned: _Planned,
    spec: SplitSpec,
    outputs: Sequence[PartOutput],
) -> list[Any]:
    """The futures of the split, one per partition (written to its ``outputs``): the
    partitions are counted on the cluster (a single one starts at the start: nothing to
    count), then split, each task reading its own partition (nothing is held in the
    cluster's memory between the two)."""
    delayed = require("dask", extra="dask", purpose=PURPOSE).delayed
    counts: list[tuple[int, int]] = [(0, 0)] * len(planned.args)
    if len(planned.args) > 1:
        limit = spec.max_record_bytes
        counting = [delayed(planned.count, pure=False)(*args, limit) for args in planned.args]
        counts = gather(distributed, client, client.compute(counting))
    starts = part_starts(planned.files, counts)
    splitting = [
        delayed(planned.split, pure=False)(*args, start, spec, to)
        for args, start, to in zip(planned.args, starts, outputs, strict=True)
    ]
    return list(client.compute(splitting))


def _check_blocksize(blocksize: object) -> None:
    if blocksize is None or blocksize == "auto":
        return
    if isinstance(blocksize, bool) or not isinstance(blocksize, int) or blocksize < 1:
        raise InvalidOptionError(
            f"blocksize must be a positive number of bytes, 'auto' or None; got {blocksize!r}"
        )


def _raise_first_reject(results: Sequence[PartResult]) -> None:
    for result in results:
        if result.first_reject is not None:
            first = result.first_reject
            raise InvalidConversationError(first.reason, path=first.path, lineno=first.line)
