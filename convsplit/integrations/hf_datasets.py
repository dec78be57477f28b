"""Hugging Face datasets: a dataset of conversations in, a dataset of samples out.

:func:`split_dataset` runs one batched ``map`` whose function returns more rows than it
receives (a conversation becomes one row per sample), with ``remove_columns`` dropping the
input columns and ``num_proc`` spreading the batches over processes. Each row is read by the
same readers as a file record (any supported format, detected per row unless
``input_format`` says otherwise) and written by the same writer, so a row gives exactly the
samples the local pipeline writes for the same record.

**Rejects and accounting travel as rows.** ``map`` workers are separate processes, and all
that comes back from them is rows. So the map returns a *ledger*: sample rows, one row per
rejected record (its row index, reason, field and the row as JSON) and one accounting row
per batch (that batch's :class:`~convsplit.run.pipeline.Report`). The ledger is then cut by its
kind column with one Arrow comparison (``select`` makes an index mapping: no Python loop, no
copy): ``samples`` holds only samples, ``rejects`` the rows that could not be read, and
``report`` adds the batches' reports. Nothing vanishes: every row is a conversation or a
reject, every assistant turn is trained or skipped with a reason.

**Column types are fixed before the map runs.** Arrow needs one type per column, and every
batch of every process must agree. Messages differ in their keys (a tool call here, a
``weight`` there, content parts elsewhere), so inferring a struct from one batch breaks on
the next. Every list of messages (and of tool schemas) is therefore ``List(Json())``: one
JSON object per message, stored as convsplit's writer wrote it and decoded back to the
same dict on access, whatever keys each message has; ``datasets`` itself picks this type
for heterogeneous message lists. Text columns are strings, ShareGPT's ``tools`` a JSON
string (as LLaMA-Factory stores it), and the optional metadata column a typed struct.
:func:`sample_features` gives the columns of each writer; a writer of your own needs
``features=``.

**Nulls that Arrow invented are dropped before reading.** A struct column holds the union
of its rows' keys, with ``null`` where a row had none, and a column missing from a row is
``null`` too. Such keys are removed (only where the dataset's features say a struct could
have invented them; ``Json`` values are kept as they are) so a row reads like its JSON line.

Needs ``datasets>=4.7`` (for ``Json``): ``pip install 'convsplit[hf]'``. The stored JSON is
exact, but ``datasets`` decodes ``Json`` values with its own parser, which may change the
last digit of a float written with 16 or 17 significant digits. An ``IterableDataset``
never goes through Arrow: its samples are the writer's values as they are.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeAlias

import orjson

import convsplit
from convsplit.extras import require
from convsplit.formats import (
    OpenAIWriter,
    PromptCompletionWriter,
    RawRecord,
    SampleWriter,
    ShareGPTWriter,
    TextWriter,
    TRLWriter,
    get_writer,
    parse_json,
    sample_metadata,
)
from convsplit.run.records import RecordSplitter, SplitBatch
from convsplit.run.report import Report
from convsplit.samples import SplitResult
from convsplit.spec import SplitSpec

# ``datasets`` ships no type information (no ``py.typed``): to mypy its classes are ``Any``
# however they are imported. These names say what is meant without importing it.
Dataset: TypeAlias = Any
IterableDataset: TypeAlias = Any
Features: TypeAlias = Any

__all__ = ["DatasetSplit", "sample_features", "split_dataset"]

_PURPOSE = "splitting a Hugging Face dataset"
_ROW_PATH = "<dataset>"

#: The ledger's own columns; the prefix keeps them clear of any writer's fields.
KIND = "__convsplit_kind__"
ROW = "__convsplit_row__"
REASON = "__convsplit_reason__"
FIELD = "__convsplit_field__"
RECORD = "__convsplit_record__"
REPORT = "__convsplit_report__"
#: What each ledger row is (values of the ``KIND`` column).
SAMPLE, REJECT, ACCOUNT = 0, 1, 2
#: The column :func:`split_dataset` adds with ``metadata=True`` (the key the OpenAI writer's
#: inline metadata uses).
METADATA = "metadata"
#: The rejects dataset's columns, renamed from the ledger's.
REJECT_COLUMNS = {ROW: "row", REASON: "reason", FIELD: "field", RECORD: "record"}


def _datasets() -> Any:
    return require("datasets", extra="hf", purpose=_PURPOSE)


def metadata_features() -> Features:
    """The struct of :func:`convsplit.formats.sample_metadata`: where a sample came from."""
    ds = _datasets()
    index = ds.Value("int64")
    return ds.Features(
        {
            "conversation_id": ds.Value("string"),
            "conversation_index": index,
            "sample_index": index,
            "targets": ds.List(index),
            "source_indices": ds.List(index),
            "total_tokens": index,
            "context_tokens": index,
            "target_tokens": index,
            "dropped_messages": index,
            "dropped_tokens": index,
            "truncated": ds.List(index),
        }
    )


def sample_features(spec: SplitSpec, *, metadata: bool = False) -> Features:
    """The columns of a samples dataset: the output writer's JSON fields, typed.

    Lists of messages and of tool schemas are ``List(Json())`` (one JSON object per item, so
    messages may differ in their keys); text is ``string``; ShareGPT's ``tools`` is the JSON
    string LLaMA-Factory reads. A field a sample does not have (``tools`` without tools) is
    ``None``.

    Args:
        spec: the split spec; ``output_format`` and ``writer_options`` decide.
        metadata: add a ``metadata`` struct column (:func:`metadata_features`).

    Returns:
        A ``datasets.Features``, in the order the writer writes its fields.

    Raises:
        ValueError: a writer convsplit does not know the columns of (pass ``features=`` to
            :func:`split_dataset`).
        MissingExtraError: ``datasets`` is not installed.
    """
    ds = _datasets()
    writer = get_writer(spec.output_format, **spec.writer_options)
    messages = ds.List(ds.Json())
    columns: dict[str, Any]
    if isinstance(writer, OpenAIWriter):
        columns = {"messages": messages, "tools": messages}
        if writer.parallel_tool_calls is not None:
            columns["parallel_tool_calls"] = ds.Value("bool")
        if writer.metadata == "inline":
            columns[writer.metadata_key] = metadata_features()
    elif isinstance(writer, TRLWriter):
        columns = {"prompt": messages, "completion": messages, "tools": messages}
    elif isinstance(writer, ShareGPTWriter):
        columns = {"conversations": messages, "tools": ds.Value("string")}
    elif isinstance(writer, TextWriter):
        if writer.layout == "spans":
            columns = {"text": ds.Value("string"), "spans": ds.List(ds.List(ds.Value("int64")))}
        else:
            segment = {"label": ds.Value("bool"), "text": ds.Value("string")}
            columns = {"segments": ds.List(segment)}
    elif isinstance(writer, PromptCompletionWriter):
        columns = {"prompt": ds.Value("string"), "completion": ds.Value("string")}
    else:
        raise ValueError(
            f"the columns of writer {writer.name!r} are not known: pass "
            "features=datasets.Features({...}) naming each field it writes "
            "(List(Json()) suits a list of objects)"
        )
    if metadata and METADATA not in columns:
        columns[METADATA] = metadata_features()
    return ds.Features(columns)


class DatasetSplit:
    """What :func:`split_dataset` returns: samples, rejects and the accounting.

    Attributes:
        samples: one row per sample, in input order; the columns of
            :func:`sample_features`. Backed by an index mapping over the ledger: call
            ``samples.flatten_indices()`` for a contiguous copy if you read it many times.
        rejects: one row per input row that could not be read: ``row`` (its index in the
            input), ``reason``, ``field`` and ``record`` (the row as JSON).
        ledger: every row the map returned (samples, rejects, accounting), for debugging.
    """

    def __init__(self, ledger: Any, samples: Any, rejects: Any, report: Report | None) -> None:
        self.ledger = ledger
        self.samples = samples
        self.rejects = rejects
        self._report = report

    @property
    def report(self) -> Report:
        """The accounting: records = conversations + rejected; turns = targeted + skipped.

        For a ``Dataset`` it was added up when the split ran. For an ``IterableDataset``
        nothing has run yet: the first access reads the whole ledger, which splits every
        conversation again (an iterable keeps nothing between passes).
        """
        if self._report is None:
            self._report = _add_reports(row[REPORT] for row in _only(self.ledger, ACCOUNT))
        return self._report

    def __repr__(self) -> str:
        return f"DatasetSplit(samples={self.samples!r}, rejects={self.rejects!r})"


def split_dataset(
    dataset: Dataset | IterableDataset,
    spec: SplitSpec,
    *,
    num_proc: int | None = None,
    batch_size: int = 64,
    metadata: bool = False,
    features: Features | None = None,
    load_from_cache_file: bool | None = None,
) -> DatasetSplit:
    """Split every conversation of a Hugging Face dataset into a dataset of samples.

    Each row is one record in any format convsplit reads (``messages``, ``conversations``,
    prompt/completion pairs...; detected per row unless ``spec.input_format`` names
    one); its other columns (``id``...) are kept on the conversation as the readers keep
    extra fields. A row's index is its conversation index.

    Args:
        dataset: a ``datasets.Dataset`` (split now, with ``num_proc`` processes) or an
            ``IterableDataset`` (split lazily, as the result is read).
        spec: what to split and how; ``output_format`` decides the columns.
        num_proc: processes for ``Dataset.map`` (each loads the tokenizer once). Not
            available for an ``IterableDataset``, which is read where it is consumed (use a
            ``DataLoader`` with workers to spread it).
        batch_size: rows per map call; each call adds one accounting row to the ledger.
        metadata: add a ``metadata`` struct column: conversation id and index, targets,
            token counts and what was dropped (:func:`~convsplit.formats.sample_metadata`).
        features: the sample columns, for a writer of your own (default:
            :func:`sample_features`).
        load_from_cache_file: passed to ``Dataset.map``: ``False`` splits again even when
            ``datasets`` has this exact map cached.

    Returns:
        A :class:`DatasetSplit`: ``samples``, ``rejects`` and ``report``.

    Raises:
        TypeError: not a ``Dataset`` or ``IterableDataset`` (a ``DatasetDict``: pick a split).
        ValueError: ``num_proc`` with an ``IterableDataset``; a writer whose columns are
            unknown and no ``features``; a writer field missing from ``features``.
        MissingExtraError: ``datasets`` is not installed.
        UnknownNameError: an unknown tokenizer, chat format, reader or writer name.

    Example::

        from datasets import load_dataset
        from convsplit import Budget
        from convsplit import SplitSpec
        from convsplit.integrations import split_dataset

        conversations = load_dataset("json", data_files="chats.jsonl", split="train")
        split = split_dataset(conversations, SplitSpec(Budget(4096)), num_proc=8)
        split.samples.to_json("samples.jsonl")   # what `convsplit split` would write
        print(split.report.summary(), len(split.rejects))
    """
    ds = _datasets()
    if features is None:
        columns = sample_features(spec, metadata=metadata)
    else:
        columns = ds.Features(features)
        if metadata and METADATA not in columns:
            columns[METADATA] = metadata_features()
    ledger_features = ds.Features({**columns, **_ledger_columns(ds)})
    if not isinstance(dataset, (ds.Dataset, ds.IterableDataset)):
        raise TypeError(
            f"expected a datasets.Dataset or IterableDataset; got {type(dataset).__name__}"
            " (for a DatasetDict, split each split: dataset['train'])"
        )
    iterable = isinstance(dataset, ds.IterableDataset)
    function = _BatchSplitter(
        spec, columns, dataset.features, metadata=metadata, stored=not iterable
    )
    if iterable:
        if num_proc is not None:
            raise ValueError(
                "num_proc applies to a Dataset; an IterableDataset is split lazily where it "
                "is read (spread it with a DataLoader's workers, or split a Dataset)"
            )
        names = dataset.column_names
        if names is None:  # features unknown until read: look at the first row
            names = list(next(iter(dataset), {}))
        ledger = dataset.map(
            function,
            batched=True,
            batch_size=batch_size,
            with_indices=True,
            remove_columns=names,
            features=ledger_features,
        )
        return DatasetSplit(ledger, _samples(ledger, columns), _rejects(ledger), None)
    started = time.perf_counter()
    ledger = dataset.map(
        function,
        batched=True,
        batch_size=batch_size,
        with_indices=True,
        remove_columns=dataset.column_names,
        features=ledger_features,
        num_proc=num_proc,
        load_from_cache_file=load_from_cache_file,
        desc="Splitting conversations",
    )
    report = _add_reports(_only(ledger, ACCOUNT)[REPORT])
    report.seconds = time.perf_counter() - started
    return DatasetSplit(ledger, _samples(ledger, columns), _rejects(ledger), report)


def _ledger_columns(ds: Any) -> dict[str, Any]:
    return {
        KIND: ds.Value("int8"),
        ROW: ds.Value("int64"),
        REASON: ds.Value("string"),
        FIELD: ds.Value("string"),
        RECORD: ds.Value("string"),
        REPORT: ds.Value("string"),
    }


def _only(ledger: Any, kind: int) -> Any:
    """The ledger's rows of one kind."""
    if isinstance(ledger, _datasets().IterableDataset):
        return ledger.filter(_KindIs(kind), input_columns=[KIND], batched=True)
    compute = require("pyarrow.compute", extra="hf", purpose=_PURPOSE)
    kinds = ledger.with_format("arrow")[KIND]
    return ledger.select(compute.indices_nonzero(compute.equal(kinds, kind)))


def _samples(ledger: Any, columns: Features) -> Any:
    return _only(ledger, SAMPLE).select_columns(list(columns))


def _rejects(ledger: Any) -> Any:
    return _only(ledger, REJECT).select_columns(list(REJECT_COLUMNS)).rename_columns(REJECT_COLUMNS)


def _add_reports(texts: Any) -> Report:
    total = Report()
    for text in texts:
        total.add(Report.from_dict(orjson.loads(text)))
    return total


@dataclasses.dataclass(frozen=True)
class _KindIs:
    """A picklable filter (an iterable dataset may be read in DataLoader workers)."""

    kind: int

    def __call__(self, kinds: list[int]) -> list[bool]:
        return [k == self.kind for k in kinds]


class _BatchSplitter:
    """The function ``map`` calls: a batch of rows in, a batch of ledger rows out.

    Pickled into every ``map`` process without its :class:`RecordSplitter` (built there on
    first use, so the tokenizer loads once per process). Its state is what ``datasets``
    hashes for its cache, so it carries convsplit's version: an upgrade splits again.
    """

    def __init__(
        self,
        spec: SplitSpec,
        columns: Features,
        input_features: Features | None,
        *,
        metadata: bool,
        stored: bool,
    ) -> None:
        self.spec = spec
        self.columns = dict(columns)
        self.input_features = input_features
        self.metadata = metadata
        self.stored = stored
        self.version = convsplit.__version__
        self._state: _ProcessState | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_state": None}

    def __call__(self, batch: Mapping[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        if self._state is None:
            self._state = _ProcessState(self)
        state = self._state
        names = list(batch)
        records = []
        for i, index in enumerate(indices):
            row = state.restore({name: batch[name][i] for name in names})
            records.append(RawRecord(index, _json(row), row))
        state.sidecar_metadata.clear()
        first = indices[0] if indices else 0
        if indices == list(range(first, first + len(indices))):
            results = [state.splitter.process(_ROW_PATH, records, first)]
        else:  # not one run of indices: each row keeps its own
            results = [state.splitter.process(_ROW_PATH, [r], r.lineno) for r in records]
        return self._ledger(state, results)

    def _ledger(self, state: _ProcessState, results: list[SplitBatch]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in (*self.columns, *_LEDGER_NAMES)}

        def add(values: Mapping[str, Any]) -> None:
            for name, column in out.items():
                column.append(values.get(name))

        metadata = iter(state.sidecar_metadata)
        report = Report()
        for result in results:
            for line in result.lines.split(b"\n")[:-1]:
                sample = parse_json(line)
                if not isinstance(sample, dict):  # pragma: no cover - writers write objects
                    raise ValueError(f"writer {self.spec.output_format!r} wrote {line[:80]!r}")
                unknown = sample.keys() - self.columns.keys()
                if unknown:
                    raise ValueError(
                        f"writer {self.spec.output_format!r} wrote fields "
                        f"{', '.join(sorted(unknown))} that the dataset has no columns for "
                        "(pass features= naming them)"
                    )
                if state.sidecar is not None:
                    sample[METADATA] = next(metadata)
                add({KIND: SAMPLE, **{k: state.encode[k](v) for k, v in sample.items()}})
            for reject in result.rejects:
                add(
                    {
                        KIND: REJECT,
                        ROW: reject.line,
                        REASON: reject.reason,
                        FIELD: reject.field,
                        RECORD: reject.record.decode("utf-8", errors="replace"),
                    }
                )
            report.add(result.report)
        add({KIND: ACCOUNT, REPORT: orjson.dumps(report.as_dict()).decode()})
        return out


_LEDGER_NAMES = (KIND, ROW, REASON, FIELD, RECORD, REPORT)


class _ProcessState:
    """What one process builds once: the splitter and the column codecs."""

    def __init__(self, function: _BatchSplitter) -> None:
        ds = _datasets()
        spec = function.spec
        writer: SampleWriter = get_writer(spec.output_format, **spec.writer_options)
        self.sidecar: _MetadataSidecar | None = None
        if function.metadata and not _writes_metadata(writer):
            writer = self.sidecar = _MetadataSidecar(writer)
        self.splitter = RecordSplitter(spec, writer=writer)
        # Rows of an iterable dataset go to their reader as Python objects, never through
        # Arrow: they are handed over as they are.
        self.encode = {
            name: (_encoder(feature, ds) if function.stored else None) or _same
            for name, feature in function.columns.items()
        }
        features = function.input_features
        self.restore: Codec = (
            _restorer(features, ds) or _same if features is not None else _drop_null_columns
        )

    @property
    def sidecar_metadata(self) -> list[dict[str, Any]]:
        return self.sidecar.metadata if self.sidecar is not None else []


def _writes_metadata(writer: SampleWriter) -> bool:
    """Whether the writer already puts :data:`METADATA` in every sample."""
    return (
        isinstance(writer, OpenAIWriter)
        and writer.metadata == "inline"
        and writer.metadata_key == METADATA
    )


class _MetadataSidecar(SampleWriter):
    """A writer that also keeps each sample's metadata, in the order of its lines."""

    def __init__(self, inner: SampleWriter) -> None:
        self.inner = inner
        self.metadata: list[dict[str, Any]] = []

    @property
    def name(self) -> str:
        return self.inner.name

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        lines = list(self.inner.lines(result))
        self.metadata.extend(
            sample_metadata(sample, sample_index=index)
            for index, sample in enumerate(result.samples)
        )
        return iter(lines)


Codec = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _json(value: object) -> bytes:
    """A row as JSON text, for a reject's ``record`` and the report's byte count: orjson,
    or the standard library for what orjson does not write (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _json_text(value: Any) -> str | None:
    return None if value is None else _json(value).decode()


def _encoder(feature: Any, ds: Any) -> Codec | None:
    """How to hand a writer's value to ``feature`` (``None``: as it is).

    ``datasets`` stores a string given to a ``Json`` feature unchanged when it is valid
    JSON, so each ``Json`` part is given as the writer's own orjson text: exact, where
    ``datasets``' encoder would round floats to 10 digits.
    """
    if isinstance(feature, ds.Json):
        return _json_text
    if isinstance(feature, (ds.List, ds.LargeList)):
        item = _encoder(feature.feature, ds)
        if item is None:
            return None

        def each(value: Any) -> Any:
            return [item(v) for v in value] if isinstance(value, list) else value

        return each
    if isinstance(feature, dict):
        fields = {k: c for k, f in feature.items() if (c := _encoder(f, ds)) is not None}
        if not fields:
            return None

        def struct(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            return {k: fields[k](v) if k in fields else v for k, v in value.items()}

        return struct
    return None


def _restorer(feature: Any, ds: Any) -> Codec | None:
    """How to take the nulls Arrow filled in out of a value of ``feature`` (``None``: no
    struct inside, nothing to do). Only a struct invents keys; ``Json`` keeps its nulls."""
    if isinstance(feature, (ds.List, ds.LargeList)):
        item = _restorer(feature.feature, ds)
        if item is None:
            return None

        def each(value: Any) -> Any:
            return [item(v) for v in value] if isinstance(value, list) else value

        return each
    if isinstance(feature, dict):
        fields = {k: c for k, f in feature.items() if (c := _restorer(f, ds)) is not None}

        def struct(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            return {
                k: fields[k](v) if k in fields else v for k, v in value.items() if v is not None
            }

        return struct
    return None


def _drop_null_columns(row: Any) -> Any:
    """Without features, only the columns: one a record lacks is null in its row."""
    return {k: v for k, v in row.items() if v is not None}
