"""Dask: the local split, run over a ``dask.bag`` or over partitioned JSONL on a cluster.

Every partition is split by the local pipeline's unit of work
(:class:`~convsplit.run.pipeline.RecordSplitter`), so a record gives the same samples, rejects
and accounting on a cluster as on a laptop. Before splitting, each partition's records are
counted (a fast pass that parses nothing): every record then gets the conversation index and
line number the local pipeline gives it, and the output is byte for byte what
:func:`~convsplit.run.pipeline.split_files` writes, only cut into parts.

- :func:`split_files_dask` reads files (JSONL, JSON arrays, gzip: whatever ``convsplit
  split`` reads), one partition per file, and plain JSONL files larger than ``blocksize``
  in line-aligned blocks; it writes ``part-00000.jsonl``, ``part-00001.jsonl``... into an
  output folder, one part per partition, in input order (concatenated, they are the local
  output). The parts are written into a temporary folder beside the output and renamed
  into place when every partition has succeeded: a failed run leaves no partial output.
- :func:`split_bag` splits a bag of JSON lines (``dask.bag.read_text``) or of parsed
  records, lazily, into bags of sample lines and rejects and a delayed report, for a
  pipeline that goes on in Dask.

Pointing it at a real cluster
-----------------------------
1. Install the same convsplit, with ``pip install 'convsplit[dask]'``, on the machine you
   run it from and on every worker (and whatever the options need, such as
   ``convsplit[hf]`` for a Hugging Face tokenizer, and the tiktoken vocabulary: set
   ``TIKTOKEN_CACHE_DIR`` or install ``convsplit[offline]`` on the workers too).
2. Put the input and output folders on storage that the client and every worker see at
   the same path (NFS, a shared disk, a mounted bucket). Paths are made absolute on the
   client; object-store URLs (``s3://``) are not read.
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

import contextlib
import json
import logging
import os
import pickle
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import orjson

from convsplit.errors import InvalidConversationError, OutputError, WorkerError
from convsplit.extras import require
from convsplit.formats import RawRecord, Source, count_range, read_range, splittable
from convsplit.formats.records import parse_record
from convsplit.run.inputs import expand_inputs
from convsplit.run.output import AtomicOutput, check_targets, temporary_folder
from convsplit.run.records import RecordSplitter
from convsplit.run.report import Reject, Report
from convsplit.spec import SplitSpec

if TYPE_CHECKING:
    from dask.bag import Bag
    from dask.delayed import Delayed
    from distributed import Client

__all__ = ["BagSplit", "Partition", "plan_partitions", "split_bag", "split_files_dask"]

_PURPOSE = "the Dask engine"
#: Plain JSONL files larger than this are read in blocks of about this size.
DEFAULT_BLOCKSIZE = 64 << 20
_BATCH_RECORDS = 64
_WHITESPACE = b" \t\r\n"
_COPY_CHUNK = 1 << 20
_PART = re.compile(r"part-\d+\.jsonl\Z")
#: How long a run waits with no worker connected, unless Dask's own
#: ``distributed.scheduler.no-workers-timeout`` says otherwise.
_NO_WORKERS_SECONDS = 60.0
_POLL_SECONDS = 0.05  # between looks for finished tasks
_WORKERS_POLL_SECONDS = 1.0  # between questions to the scheduler about its workers


# -- partitions -------------------------------------------------------------------------------


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
def _records(part: Partition, first_line: int, limit: int | None) -> Iterator[Iterator[RawRecord]]:
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


def _count(part: Partition, limit: int | None) -> tuple[int, int]:
    """Lines (blocks only: a whole file numbers its own) and records of a partition."""
    if part.end is None:
        with Source.open(part.path, name=part.name) as source:
            return 0, sum(1 for _ in source.records(max_record_bytes=limit))
    return count_range(part.path, part.start, part.end, max_record_bytes=limit, name=part.name)


def _starts(parts: Sequence[Partition], counts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each partition's first line number (within its file) and first conversation index."""
    out: list[tuple[int, int]] = []
    index = 0
    line = 1
    previous: str | None = None
    for part, (lines, records) in zip(parts, counts, strict=True):
        if part.path != previous:
            line, previous = 1, part.path
        out.append((line, index))
        line += lines
        index += records
    return out


# -- the work of one task ---------------------------------------------------------------------


def _splitter(spec: SplitSpec) -> RecordSplitter:
    """A splitter for ``spec`` in this worker: cheap, since the spec's tokenizer and chat
    format come from the worker's own registry, loaded once per process."""
    return RecordSplitter(spec)


def _batched(records: Iterable[RawRecord]) -> Iterator[list[RawRecord]]:
    batch: list[RawRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= _BATCH_RECORDS:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _PartResult:
    """What a task sends back: its accounting and, for ``strict``, its first reject."""

    report: Report
    first_reject: Reject | None = None


def _split_part(
    part: Partition,
    start: tuple[int, int],
    spec: SplitSpec,
    output: str,
    *,
    rejects: str | None,
    strict: bool,
) -> _PartResult:
    """Split one partition into the file ``output`` (and its rejects into ``rejects``)."""
    try:
        splitter = _splitter(spec)
        report = Report()
        first_line, index = start
        with (
            _records(part, first_line, spec.max_record_bytes) as records,
            open(output, "wb") as out,
            open(rejects, "wb") if rejects is not None else contextlib.nullcontext() as bad,
        ):
            for batch in _batched(records):
                result = splitter.process(part.name, batch, index)
                index += len(batch)
                if result.rejects and strict:
                    return _PartResult(report, result.rejects[0])
                out.write(result.lines)
                if bad is not None:
                    bad.write(b"".join(r.json_line() for r in result.rejects))
                report.add(result.report)
        return _PartResult(report)
    except Exception as error:
        _reraise(error)


def _reraise(error: Exception) -> NoReturn:
    """Raise ``error`` again, or a :class:`WorkerError` with its message where it would not
    survive the trip to the client (an exception whose ``__init__`` takes other arguments
    than its message cannot be unpickled there: the client would see a TypeError instead)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        raise WorkerError(f"on a Dask worker: {type(error).__name__}: {error}") from None
    raise error


# -- files in, files out ----------------------------------------------------------------------


def split_files_dask(
    inputs: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    spec: SplitSpec,
    *,
    scheduler: str | Client | None = None,
    rejects: str | os.PathLike[str] | None = None,
    blocksize: int | None = DEFAULT_BLOCKSIZE,
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
            part files (a previous run), so a wrong path never deletes other files.
        spec: what to split and how.
        scheduler: a scheduler address (``tcp://host:8786``) or a ``distributed.Client``;
            ``None`` uses the client active in this process, or starts a local cluster
            of ``n_workers`` processes for the run.
        rejects: a JSONL file for the records that could not be read (original text, file,
            line and reason, as ``split_files`` writes them); without it they are counted.
        blocksize: plain JSONL files larger than this many bytes are split in line-aligned
            blocks of about this size; ``None`` keeps one partition per file.
        n_workers: worker processes of the local cluster (default: one per core).
        strict: fail on the first bad record (in input order) instead of rejecting it.
        progress: called with the running report each time a partition is done.

    Returns:
        The run's :class:`~convsplit.run.pipeline.Report`, added up over the partitions.

    Raises:
        InvalidConversationError: an input cannot be read, or (``strict``) a bad record.
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
    distributed = require("distributed", extra="dask", purpose=_PURPOSE)
    files = expand_inputs(inputs)
    if "-" in files:
        raise InvalidConversationError(
            "Dask workers cannot read standard input; write it to a file first", path="-"
        )
    if os.fspath(output_dir) == "-":
        raise OutputError(
            "the Dask engine writes a folder of part files, not standard output: name a folder"
        )
    target = os.path.abspath(os.fspath(output_dir))
    _check_output(target)
    check_targets({"rejects": rejects}, files, folders={"output folder": output_dir})
    started = time.perf_counter()
    parts = plan_partitions(files, blocksize=blocksize)
    report = Report(files=files)
    folder = _temporary_folder(target)
    try:
        with _quiet_logs(), _client(distributed, scheduler, n_workers) as client:
            counts = (
                _results(
                    distributed,
                    client,
                    client.map(_count, parts, [spec.max_record_bytes] * len(parts), pure=False),
                )
                if len(parts) > 1
                else [(0, 0)] * len(parts)
            )
            starts = _starts(parts, counts)
            width = max(5, len(str(len(parts) - 1)))
            names = [f"part-{k:0{width}d}.jsonl" for k in range(len(parts))]
            futures = [
                client.submit(
                    _split_part,
                    part,
                    start,
                    spec,
                    os.path.join(folder, name),
                    rejects=os.path.join(folder, f".rejects-{name}") if rejects else None,
                    strict=strict,
                    pure=False,
                )
                for part, start, name in zip(parts, starts, names, strict=True)
            ]

            def done(result: _PartResult) -> None:
                report.add(result.report)
                if progress is not None:
                    report.seconds = time.perf_counter() - started
                    progress(report)

            results: list[_PartResult] = _results(distributed, client, futures, done)
        if strict:
            _raise_first_reject(results)
        if rejects is not None:
            _join_rejects(folder, names, rejects)
        report.seconds = time.perf_counter() - started
        _put_in_place(folder, target)
    finally:  # on any exception, an interrupt too
        _remove(folder)
    return report


def _results(
    distributed: Any,
    client: Any,
    futures: list[Any],
    done: Callable[[Any], None] | None = None,
) -> list[Any]:
    """The tasks' results in input order, ``done`` called with each as it finishes.

    A run whose scheduler has had no worker for the no-workers timeout fails, rather than
    wait for ever; so does one whose scheduler is lost or fails its tasks.
    """
    order = {future.key: k for k, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    watch = _Workers(client)
    completed = distributed.as_completed(futures)
    try:
        while not completed.is_empty():
            if not completed.has_ready():
                watch.check(completed.count(), len(futures))
                time.sleep(_POLL_SECONDS)
                continue
            future = next(completed)
            result = future.result()
            results[order[future.key]] = result
            if done is not None:
                done(result)
    except distributed.KilledWorker as error:
        raise WorkerError(
            f"a Dask worker died running a partition (killed or out of memory): {error}; "
            "no output was written"
        ) from error
    except distributed.CancelledError as error:  # a BaseException: not caught below
        raise WorkerError(
            f"lost the Dask scheduler at {watch.address} (the connection closed, or the "
            "scheduler cancelled the run's tasks); no output was written"
        ) from error
    except Exception as error:
        if type(error).__module__.partition(".")[0] != "distributed":
            raise  # the task's own error (a bad record, a full disk), as the local engine's
        raise WorkerError(
            f"the Dask scheduler at {watch.address} failed the run: "
            f"{type(error).__name__}: {error}; no output was written"
        ) from error
    finally:
        with contextlib.suppress(Exception):  # a lost scheduler: nothing left to cancel
            client.cancel(futures)
    return results


class _Workers:
    """Asks the scheduler, once in a while, whether it has workers; after the no-workers
    timeout without any, fails the run."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.address = str(getattr(client.scheduler, "address", None) or "(unknown)")
        self.timeout = _no_workers_timeout()
        self._asked = 0.0
        self._none_since: float | None = None

    def check(self, left: int, total: int) -> None:
        now = time.monotonic()
        if now - self._asked < _WORKERS_POLL_SECONDS:
            return
        self._asked = now
        try:
            workers = len(self.client.nthreads())
        except OSError as error:
            raise WorkerError(
                f"lost the Dask scheduler at {self.address}: {error}; no output was written"
            ) from error
        if workers:
            self._none_since = None
            return
        if self._none_since is None:
            self._none_since = now
        if now - self._none_since >= self.timeout:
            raise WorkerError(
                f"no Dask worker has been connected to the scheduler at {self.address} for "
                f"{self.timeout:g} s (all gone, or none started), with {left} of {total} tasks "
                "not done; no output was written (start workers, or set "
                "DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT to wait longer)"
            )


def _no_workers_timeout() -> float:
    """Dask's ``distributed.scheduler.no-workers-timeout`` in seconds, or our default."""
    config = require("dask.config", extra="dask", purpose=_PURPOSE)
    utils = require("dask.utils", extra="dask", purpose=_PURPOSE)
    configured = config.get("distributed.scheduler.no-workers-timeout", None)
    if configured is None:
        return _NO_WORKERS_SECONDS
    return float(utils.parse_timedelta(configured, default="s"))


def _raise_first_reject(results: Sequence[_PartResult]) -> None:
    for result in results:
        if result.first_reject is not None:
            first = result.first_reject
            raise InvalidConversationError(first.reason, path=first.path, lineno=first.line)


def _join_rejects(folder: str, names: Sequence[str], rejects: str | os.PathLike[str]) -> None:
    with AtomicOutput(rejects) as out:
        for name in names:
            path = os.path.join(folder, f".rejects-{name}")
            with open(path, "rb") as part:
                shutil.copyfileobj(part, out, _COPY_CHUNK)
            os.unlink(path)


@contextlib.contextmanager
def _client(
    distributed: Any, scheduler: str | Client | None, n_workers: int | None
) -> Iterator[Any]:
    """The client to run on: the one given, one connected to an address, the one already
    active in this process, or a local cluster started (and stopped) for the run."""
    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler
        return
    if scheduler is not None:
        with distributed.Client(scheduler) as client:
            yield client
        return
    try:
        active = distributed.get_client()
    except ValueError:  # no client in this process
        active = None
    if active is not None:
        yield active
        return
    with contextlib.ExitStack() as stack:
        with _interrupts_held():
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # Without a dashboard the scheduler still serves HTTP (health checks),
                    # on 8787 unless told: a second run at once would warn that it is taken.
                    scheduler_kwargs={"dashboard_address": ":0"},
                    silence_logs=logging.CRITICAL,  # failures reach the caller as errors
                )
            )
        yield stack.enter_context(distributed.Client(cluster))


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """No log lines from Dask in this process while the block runs.

    What goes wrong reaches the caller as one error; Dask would also log it (a lost
    scheduler as a traceback, an interrupt as a page of them while it shuts down). Each
    logger with a level of its own is raised, the others follow ``distributed``'s.
    """
    manager = logging.Logger.manager
    names = ["distributed"] + [
        name
        for name, found in list(manager.loggerDict.items())
        if name.startswith("distributed.")
        and isinstance(found, logging.Logger)
        and found.level != logging.NOTSET
    ]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Keep Ctrl-C (``SIGINT``) from the worker processes started inside the block.

    The terminal sends it to the whole process group: each worker would die printing its
    traceback, while this process, interrupted too, stops them anyway (quietly). A
    process inherits an ignored signal (a blocked one would not do: multiprocessing
    unblocks it in the thread that starts them), so it is ignored while they start; a
    Ctrl-C in that second is lost. Only the main thread can change it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:  # None: a handler set outside Python, which Python cannot put back
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


def _check_output(target: str) -> None:
    """Refuse, before any work, an output path that is a file or a folder of other files."""
    if not os.path.lexists(target):
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            raise OutputError(f"cannot write {target}: no folder {parent}; nothing was written")
        return
    if not os.path.isdir(target) or os.path.islink(target):
        raise OutputError(
            f"cannot write {target}: it exists and is not a folder (the Dask engine writes a "
            "folder of part files); nothing was written"
        )
    others = sorted(name for name in os.listdir(target) if not _PART.match(name))
    if others:
        raise OutputError(
            f"cannot write {target}: the folder holds other files than part-NNNNN.jsonl "
            f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); choose a new or "
            "empty folder; nothing was written"
        )


def _temporary_folder(target: str) -> str:
    """A folder beside ``target`` (same file system, so the final rename is atomic) that
    every worker may write to, made as ``mkdir`` makes one; its name is one no later run
    reads as input (:func:`~convsplit.run.output.is_temporary`)."""
    try:
        return temporary_folder(target)
    except OSError as error:
        raise OutputError(
            f"cannot write {target}: {error.strerror or error}; nothing was written"
        ) from error


def _put_in_place(folder: str, target: str) -> None:
    """Rename the finished folder to ``target``, replacing a previous run's parts."""
    _check_output(target)  # nothing else appeared there while the run went on
    try:
        if os.path.lexists(target):
            old = temporary_folder(target)  # empty: renaming a folder over it replaces it
            os.replace(target, old)
            os.replace(folder, target)
            _remove(old)
        else:
            os.replace(folder, target)
    except OSError as error:
        raise OutputError(
            f"cannot put {target} in place: {error.strerror or error}; nothing was written"
        ) from error


def _remove(folder: str) -> None:
    """Remove ``folder`` and what it holds, if it is there.

    It is renamed first: a task still running on some worker (an external cluster finishes
    a task it was told to cancel) can then no longer create a file in it, which would
    leave it behind once emptied.
    """
    if not os.path.lexists(folder):
        return
    doomed: str | None = None
    with contextlib.suppress(OSError):
        doomed = temporary_folder(folder)
        try:
            os.replace(folder, doomed)  # over the empty folder just made
        except OSError:
            os.rmdir(doomed)
            doomed = None
    shutil.rmtree(doomed or folder, ignore_errors=True)


# -- bags -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BagSplit:
    """What :func:`split_bag` returns, all lazy; compute them together (``dask.compute``)
    so that each partition is split once.

    Attributes:
        lines: the samples, one JSON line (``str``, no newline) per sample, in input order.
            ``lines.to_textfiles("out/*.jsonl", encoding="utf-8", last_endline=True)``
            writes them, with one blank line for each partition that has no sample (Dask
            ends every partition with a newline; JSONL readers skip blank lines). For
            files exactly as ``convsplit split`` writes them, use :func:`split_files_dask`.
        rejects: one dict per record that could not be read: ``path`` (the bag's name),
            ``line`` (the item's 1-based position in the bag), ``reason``, ``field``,
            ``record``.
        report: a delayed :class:`~convsplit.run.pipeline.Report`, added over the partitions.
    """

    lines: Bag
    rejects: Bag
    report: Delayed


@dataclass
class _BagPart:
    lines: list[str]
    rejects: list[dict[str, Any]]
    report: Report = field(default_factory=Report)


def split_bag(records: Bag, spec: SplitSpec, *, name: str = "<bag>") -> BagSplit:
    """Split a bag of records on whatever scheduler Dask uses.

    Items are JSON texts (``str`` or ``bytes``, such as the lines of
    ``dask.bag.read_text``; blank ones are skipped, as blank lines are) or parsed records
    (``dict``). The bag is read twice: first to count each partition's records (so every
    record gets the conversation index and position the local pipeline would give it), then
    to split; ``persist()`` a bag that is expensive to compute.

    Args:
        records: the bag.
        spec: what to split and how.
        name: the name rejects give as their ``path``.

    Returns:
        A :class:`BagSplit` of lazy ``lines``, ``rejects`` and ``report``.

    Raises:
        MissingExtraError: ``dask`` is not installed.
        UnknownNameError: an unknown tokenizer, chat format, reader or writer name.

    Example::

        import dask, dask.bag as db
        split = split_bag(db.read_text("data/*.jsonl", blocksize="64MiB"), spec)
        # one compute for all three: each partition is split once
        samples, rejects, report = dask.compute(
            split.lines.map(json.loads).filter(lambda s: len(s["messages"]) > 2).count(),
            split.rejects, split.report)
    """
    dask = require("dask", extra="dask", purpose=_PURPOSE)
    bag = require("dask.bag", extra="dask", purpose=_PURPOSE)
    untyped: Any = records  # dask leaves Bag.to_delayed unannotated
    parts = untyped.to_delayed()
    counts = dask.compute(*[dask.delayed(_count_items)(part) for part in parts])
    starts: list[tuple[int, int]] = []
    item = index = 0
    for items, found in counts:
        starts.append((item, index))
        item += items
        index += found
    split = dask.delayed(_split_items, pure=True)
    results = [split(part, start, spec, name) for part, start in zip(parts, starts, strict=True)]
    lines = bag.from_delayed([dask.delayed(_part_lines)(r) for r in results])
    rejects = bag.from_delayed([dask.delayed(_part_rejects)(r) for r in results])
    report = dask.delayed(_add_reports)([dask.delayed(_part_report)(r) for r in results])
    return BagSplit(lines, rejects, report)


def _count_items(items: Iterable[object]) -> tuple[int, int]:
    count = found = 0
    for item in items:
        count += 1
        if not _blank(item):
            found += 1
    return count, found


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


def _split_items(
    items: Iterable[object], start: tuple[int, int], spec: SplitSpec, name: str
) -> _BagPart:
    try:
        splitter = _splitter(spec)
        first_item, index = start
        records = (
            _as_record(position, item)
            for position, item in enumerate(items, start=first_item + 1)
            if not _blank(item)
        )
        out = _BagPart([], [])
        for batch in _batched(records):
            result = splitter.process(name, batch, index)
            index += len(batch)
            out.lines.extend(line.decode() for line in result.lines.split(b"\n")[:-1])
            out.rejects.extend(r.as_dict() for r in result.rejects)
            out.report.add(result.report)
        return out
    except Exception as error:
        _reraise(error)


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
    return total
