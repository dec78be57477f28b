"""Files in, files out: read records, split them, write samples, account for everything.

The library function behind ``convsplit split``. It streams (memory stays flat whatever
the input size), writes atomically (a temporary file renamed into place at the end, so an
interrupted run never leaves a partial file under the output name), sends every bad record
to the rejects file with its original text, file, line and reason, and can spread the work
over worker processes while writing exactly the bytes one process would.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from convsplit.budget import Budget
from convsplit.core.split import OnLongTarget, Splitter
from convsplit.core.truncation import DropOldest, TruncationStrategy
from convsplit.core.windows import FullHistory, WindowStrategy
from convsplit.errors import InvalidConversationError, InvalidOptionError
from convsplit.formats import (
    MAX_RECORD_BYTES,
    RawRecord,
    SampleWriter,
    Source,
    check_role_map,
    detect_format,
    get_reader,
    get_writer,
)
from convsplit.messages import Conversation
from convsplit.run.inputs import expand_inputs
from convsplit.run.output import AtomicOutput, check_targets
from convsplit.run.parallel import run_parallel
from convsplit.samples import SplitResult
from convsplit.tokens.chat_formats import ChatFormat, get_chat_format
from convsplit.tokens.counters import DEFAULT_ENCODING, TokenCounter, get_counter, load_counter

FIRST_REJECTS = 5  # distinct reasons a report keeps an example of
_BATCH_RECORDS = 64
_BATCH_BYTES = 1 << 20


@dataclass(frozen=True)
class SplitOptions:
    """Everything a split run needs, by value, so worker processes can rebuild it.

    Args:
        budget: the token budget of every sample.
        tokenizer: a counter name or OpenAI model name (see :func:`convsplit.get_counter`).
        chat_format: a chat format name (see :func:`convsplit.get_chat_format`).
        window, truncation, on_long_target, keep_reasoning: as in
            :func:`convsplit.split_conversation`.
        input_format: a reader name, or ``auto`` to detect per record.
        output_format: a writer name; ``writer_options`` are passed to it.
        role_map: extra role names for the readers (``{"bot": "assistant"}``).
        bpe_file: a tiktoken vocabulary file to load ``tokenizer`` from (verified).
        max_record_bytes: a record larger than this is rejected unread (None: no limit).
    """

    budget: Budget
    tokenizer: str = DEFAULT_ENCODING
    chat_format: str = "openai"
    window: WindowStrategy = FullHistory()
    truncation: TruncationStrategy = DropOldest()
    on_long_target: OnLongTarget = "skip"
    keep_reasoning: bool = False
    input_format: str = "auto"
    output_format: str = "openai"
    writer_options: Mapping[str, Any] = field(default_factory=dict)
    role_map: Mapping[str, str] = field(default_factory=dict)
    bpe_file: str | None = None
    max_record_bytes: int | None = MAX_RECORD_BYTES

    def __post_init__(self) -> None:
        if not isinstance(self.budget, Budget):
            raise InvalidOptionError(f"budget must be a Budget, not {type(self.budget).__name__}")
        limit = self.max_record_bytes
        whole = isinstance(limit, int) and not isinstance(limit, bool)
        if limit is not None and not (whole and 1 <= limit <= sys.maxsize):
            raise InvalidOptionError(
                f"max_record_bytes must be a whole number of bytes from 1 to {sys.maxsize}, "
                f"or None; got {limit!r}"
            )


@dataclass
class Report:
    """The accounting of a run: records in = split + rejected; turns in = targeted + skipped."""

    files: list[str] = field(default_factory=list)
    records: int = 0
    conversations: int = 0
    rejected: int = 0
    assistant_turns: int = 0
    targeted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    sample_tokens: int = 0
    training_tokens: int = 0
    input_bytes: int = 0
    seconds: float = 0.0
    first_rejects: list[dict[str, Any]] = field(default_factory=list)
    """The first reject of each of the first few reasons (path, line, reason)."""

    def add(self, other: Report) -> None:
        """Fold another report's counts into this one."""
        for reject in other.first_rejects:
            self.note_reject(reject)
        self.records += other.records
        self.conversations += other.conversations
        self.rejected += other.rejected
        self.assistant_turns += other.assistant_turns
        self.targeted += other.targeted
        for reason, n in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + n
        self.samples += other.samples
        self.sample_tokens += other.sample_tokens
        self.training_tokens += other.training_tokens
        self.input_bytes += other.input_bytes

    def note_reject(self, reject: dict[str, Any]) -> None:
        """Keep ``reject`` (path, line, reason) if it is one of the first few reasons."""
        if len(self.first_rejects) < FIRST_REJECTS and all(
            kept["reason"] != reject["reason"] for kept in self.first_rejects
        ):
            self.first_rejects.append(reject)

    def count(self, result: SplitResult) -> None:
        """Account for one split conversation."""
        self.records += 1
        self.conversations += 1
        self.assistant_turns += len(result.outcomes)
        for outcome in result.outcomes:
            if outcome.reason is None:
                self.targeted += 1
            else:
                key = outcome.reason.value
                self.skipped[key] = self.skipped.get(key, 0) + 1
        self.samples += len(result.samples)
        for sample in result.samples:
            self.sample_tokens += sample.total_tokens
            self.training_tokens += sample.target_tokens

    def to_json(self) -> str:
        """The report as pretty JSON (what ``--report FILE`` writes)."""
        data = asdict(self)
        data["skipped"] = dict(sorted(self.skipped.items()))
        data["seconds"] = round(self.seconds, 3)
        return json.dumps(data, indent=2) + "\n"

    def summary(self) -> str:
        """A few lines for people, as printed on stderr at the end of a run."""
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{n:,} {r}" for r, n in sorted(self.skipped.items()))
        lines = [
            f"conversations: {self.conversations:,} of {self.records:,} records "
            f"({self.rejected:,} rejected)",
            f"assistant turns: {self.assistant_turns:,} ({self.targeted:,} trained, "
            f"{skipped:,} skipped{': ' + reasons if reasons else ''})",
            f"samples: {self.samples:,} ({self.sample_tokens:,} tokens, "
            f"{self.training_tokens:,} trained)",
        ]
        return "\n".join(lines)


def split_files(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    options: SplitOptions,
    rejects: str | os.PathLike[str] | None = None,
    jobs: int = 1,
    strict: bool = False,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Split every conversation of ``inputs`` into ``output``.

    Args:
        inputs: files, globs or directories (see :func:`expand_inputs`); ``-`` is stdin.
        output: the samples file (``-`` for stdout); ``.gz`` compresses.
        options: what to split and how.
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
    worker = RecordSplitter(options)  # fails on an unknown name before any file is touched
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
                        first["reason"], path=first["path"], lineno=first["line"]
                    )
                if bad is not None:
                    bad.write(b"".join(orjson.dumps(r) + b"\n" for r in batch.rejects))
            out.write_chunks(batch.chunks)
            report.add(batch.report)
            if progress is not None:
                report.seconds = time.perf_counter() - started
                progress(report)
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class SplitBatch:
    """What one batch of records became: output lines, rejects (as JSON-ready dicts with
    path, line, reason, field and the original record) and the accounting.

    The lines come as ``chunks`` whose concatenation they are (message fragments shared
    between samples), so that they are copied once, where they are written; ``lines``
    joins them here.
    """

    chunks: list[bytes]
    rejects: list[dict[str, Any]]
    report: Report

    @property
    def lines(self) -> bytes:
        """The output lines, joined."""
        return b"".join(self.chunks)


class RecordSplitter:
    """Raw records in, written samples out: the unit of work of every engine.

    Holds what a process needs once (tokenizer, chat format, writer); the local pipeline,
    its worker processes and the Dask engine all split through it.
    """

    def __init__(self, options: SplitOptions) -> None:
        self.options = options
        self.counter: TokenCounter = (
            get_counter(options.tokenizer)
            if options.bpe_file is None
            else load_counter(options.tokenizer, bpe_file=options.bpe_file)
        )
        self.chat_format: ChatFormat = get_chat_format(options.chat_format)
        self.writer: SampleWriter = get_writer(options.output_format, **options.writer_options)
        self.role_map = check_role_map(options.role_map)
        self.reader = None if options.input_format == "auto" else get_reader(options.input_format)
        self._split = Splitter(
            budget=options.budget,
            counter=self.counter,
            chat_format=self.chat_format,
            window=options.window,
            truncation=options.truncation,
            on_long_target=options.on_long_target,
            keep_reasoning=options.keep_reasoning,
        )
        self.index = 0

    def split(self, conversation: Conversation, index: int) -> SplitResult:
        """Split one conversation with these options (its position in the stream: ``index``)."""
        return self._split(conversation, index)

    def parse(self, value: object) -> Conversation:
        """One JSON record as a conversation, in the options' input format."""
        reader = self.reader or get_reader(detect_format(value, role_map=self.role_map))
        return reader(value, role_map=self.role_map)

    def process(self, path: str, records: Iterable[RawRecord], first_index: int) -> SplitBatch:
        """Split ``records`` of file ``path``; the first is conversation ``first_index``."""
        chunks: list[bytes] = []
        rejects: list[dict[str, Any]] = []
        report = Report()
        # A writer may hand out its lines in pieces (OpenAIWriter.chunks) to save copies.
        # Looked up here, not once: a caller may wrap the writer (the datasets sidecar).
        pieces: Callable[[SplitResult], Iterable[bytes]] = getattr(
            self.writer, "chunks", self.writer.lines
        )
        for offset, raw in enumerate(records):
            report.input_bytes += len(raw.text)
            try:
                if raw.error is not None:
                    raise InvalidConversationError(raw.error)
                result = self.split(self.parse(raw.value), first_index + offset)
                chunks.extend(pieces(result))
            except InvalidConversationError as error:
                report.records += 1
                report.rejected += 1
                rejects.append(_reject(path, raw, error))
                report.note_reject({"path": path, "line": raw.lineno, "reason": error.reason})
                continue
            report.count(result)
        return SplitBatch(chunks, rejects, report)


def _reject(path: str, raw: RawRecord, error: InvalidConversationError) -> dict[str, Any]:
    """A rejects-file entry: where, why, and the record's exact bytes: as text where they
    are UTF-8, else base64 (``record_base64``), so that nothing is altered."""
    reject: dict[str, Any] = {
        "path": path,
        "line": raw.lineno,
        "reason": error.reason,
        "field": error.field,
    }
    try:
        reject["record"] = raw.text.decode("utf-8")
    except UnicodeDecodeError:
        reject["record_base64"] = base64.b64encode(raw.text).decode("ascii")
    return reject


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
    limit = worker.options.max_record_bytes
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
    yield from run_parallel(batches, worker.options, jobs, output)
