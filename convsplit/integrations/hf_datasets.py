"""Hugging Face datasets: a dataset of conversations in, a dataset of samples out.

:func:`split_dataset` runs one batched ``map`` whose function returns more rows than it
receives (a conversation becomes one row per sample), with ``remove_columns`` dropping the
input columns and ``num_proc`` spreading the batches over processes. Each row is read by the
same readers as a file record (any supported format, detected per row unless
``input_format`` says otherwise) and written by the same writer, so a row gives exactly the
samples the local pipeline writes for the same record.

**Rejects and accounting travel as rows** (``_hf_ledger``): the map returns a *ledger* of
sample rows, reject rows and one accounting row per batch. It is then cut by its kind
column with one Arrow comparison (``select`` makes an index mapping: no Python loop, no
copy): ``samples`` holds only samples, ``rejects`` the rows that could not be read, and
``report`` adds the batches' reports. Nothing vanishes: every row is a conversation or a
reject, every assistant turn is trained or skipped with a reason.

**Columns** (``_hf_features``): message lists are ``Json()`` values, typed before the map
runs, so messages may differ in their keys and the usual next steps (TRL's
``maybe_apply_chat_template``, ``SFTTrainer``) read them as lists of dicts.

Needs ``datasets>=4.7`` (for ``Json``): ``pip install 'convsplit[hf]'``. The stored JSON is
exact (and :meth:`DatasetSplit.to_json` writes it back byte for byte), but ``datasets``
decodes ``Json`` values with its own parser, which may change the last digit of a float
written with 16 or 17 significant digits. An ``IterableDataset`` never goes through Arrow:
its samples are the writer's values as they are.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeAlias

import orjson

from convsplit.budget import check_count
from convsplit.errors import InvalidOptionError
from convsplit.extras import require
from convsplit.integrations._hf_features import (
    METADATA,
    PURPOSE,
    Features,
    datasets_module,
    metadata_features,
    sample_features,
)
from convsplit.integrations._hf_ledger import (
    ACCOUNT,
    KIND,
    REJECT,
    REJECT_COLUMNS,
    REPORT,
    SAMPLE,
    BatchSplitter,
    KindIs,
    ledger_columns,
)
from convsplit.run.output import AtomicOutput
from convsplit.run.report import Report
from convsplit.spec import SplitSpec, check_spec

# ``datasets`` ships no type information: to mypy its classes are ``Any``.
Dataset: TypeAlias = Any
IterableDataset: TypeAlias = Any

__all__ = ["DatasetSplit", "metadata_features", "sample_features", "split_dataset"]

_JSON_BATCH = 1000  # rows per Arrow batch that to_json reads


class DatasetSplit:
    """What :func:`split_dataset` returns: samples, rejects and the accounting.

    Attributes:
        samples: one row per sample, in input order; the columns of
            :func:`sample_features`, less any that no sample has (``tools`` when no
            conversation had tool schemas: a row then reads like its JSON line, and
            ``samples.to_json`` writes no ``"tools": null``). Backed by an index mapping
            over the ledger: call ``samples.flatten_indices()`` for a contiguous copy if
            you read it many times.
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

    def to_json(self, path: str | os.PathLike[str]) -> int:
        """Write the samples as JSON lines, byte for byte what ``convsplit split`` writes.

        Unlike ``samples.to_json``, a field a sample does not have is left out (no
        ``"tools": null``), and ``Json`` columns are written as they are stored, not as
        ``datasets`` decodes them.

        Args:
            path: the file (``.gz``: compressed; ``-``: standard output), written under a
                temporary name and renamed into place when complete.

        Returns:
            The number of samples written.

        Raises:
            OutputError: the file cannot be written.
        """
        written = 0
        with AtomicOutput(path) as out:
            for line in _sample_lines(self.samples):
                out.write(line)
                written += 1
        return written

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
            :func:`sample_features`); kept as given, even where no sample fills one.
        load_from_cache_file: passed to ``Dataset.map``: ``False`` splits again even when
            ``datasets`` has this exact map cached.

    Returns:
        A :class:`DatasetSplit`: ``samples``, ``rejects`` and ``report``.

    Raises:
        InvalidOptionError: ``spec`` not a ``SplitSpec``; ``batch_size`` not an int >= 1;
            not a ``Dataset`` or ``IterableDataset`` (a ``DatasetDict``: pick a split);
            ``num_proc`` with an ``IterableDataset``; a writer whose columns are unknown and
            no ``features``; a writer field missing from ``features``.
        MissingExtraError: ``datasets`` is not installed.
        UnknownNameError: an unknown tokenizer, chat format, reader or writer name.

    Example::

        from datasets import load_dataset
        from convsplit import Budget
        from convsplit import SplitSpec
        from convsplit.integrations import split_dataset

        conversations = load_dataset("json", data_files="chats.jsonl", split="train")
        split = split_dataset(conversations, SplitSpec(Budget(4096)), num_proc=8)
        split.to_json("samples.jsonl")   # what `convsplit split` would write
        print(split.report.summary(), len(split.rejects))
    """
    check_spec(spec)
    batch_size = check_count("batch_size", batch_size, minimum=1)
    ds = datasets_module()
    if features is None:
        columns = sample_features(spec, metadata=metadata)
    else:
        columns = ds.Features(features)
        if metadata and METADATA not in columns:
            columns[METADATA] = metadata_features()
    ledger_features = ds.Features({**columns, **ledger_columns(ds)})
    if not isinstance(dataset, (ds.Dataset, ds.IterableDataset)):
        raise InvalidOptionError(
            f"expected a datasets.Dataset or IterableDataset; got {type(dataset).__name__}"
            " (for a DatasetDict, split each split: dataset['train'])"
        )
    iterable = isinstance(dataset, ds.IterableDataset)
    function = BatchSplitter(
        spec, columns, dataset.features, metadata=metadata, stored=not iterable
    )
    if iterable:
        if num_proc is not None:
            raise InvalidOptionError(
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
        return DatasetSplit(ledger, _samples(ledger, list(columns)), _rejects(ledger), None)
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
    kept = list(columns) if features is not None else _filled(ledger, list(columns))
    return DatasetSplit(ledger, _samples(ledger, kept), _rejects(ledger), report)


def _compute() -> Any:
    return require("pyarrow.compute", extra="hf", purpose=PURPOSE)


def _only(ledger: Any, kind: int) -> Any:
    """The ledger's rows of one kind."""
    if isinstance(ledger, datasets_module().IterableDataset):
        return ledger.filter(KindIs(kind), input_columns=[KIND], batched=True)
    compute = _compute()
    kinds = ledger.with_format("arrow")[KIND]
    return ledger.select(compute.indices_nonzero(compute.equal(kinds, kind)))


def _filled(ledger: Any, names: list[str]) -> list[str]:
    """The columns some sample has a value in (all of them when there is no sample)."""
    compute = _compute()
    table = ledger.with_format("arrow")
    samples = compute.equal(table[KIND], SAMPLE)
    if not compute.any(samples).as_py():
        return names
    return [
        name
        for name in names
        if compute.any(compute.and_(samples, compute.is_valid(table[name]))).as_py()
    ]


def _samples(ledger: Any, names: list[str]) -> Any:
    return _only(ledger, SAMPLE).select_columns(names)


def _rejects(ledger: Any) -> Any:
    return _only(ledger, REJECT).select_columns(list(REJECT_COLUMNS)).rename_columns(REJECT_COLUMNS)


def _add_reports(texts: Any) -> Report:
    total = Report()
    for text in texts:
        total.add(Report.from_dict(orjson.loads(text)))
    return total


def _sample_lines(samples: Any) -> Iterator[bytes]:
    """Each sample row as its JSON line: the fields it has, in column order; ``Json``
    columns as their stored text."""
    ds = datasets_module()
    if isinstance(samples, ds.IterableDataset):  # never in Arrow: the writer's values
        for row in samples:
            yield orjson.dumps({k: v for k, v in row.items() if v is not None}) + b"\n"
        return
    stored = {name for name, feature in samples.features.items() if isinstance(feature, ds.Json)}
    keys = {name: orjson.dumps(name) + b":" for name in samples.column_names}
    for table in samples.with_format("arrow").iter(batch_size=_JSON_BATCH):
        columns = [
            (keys[name], name in stored, table.column(name).to_pylist())
            for name in table.column_names
        ]
        for i in range(table.num_rows):
            yield b"{" + b",".join(_fields(columns, i)) + b"}\n"


def _fields(columns: Iterable[tuple[bytes, bool, list[Any]]], i: int) -> Iterator[bytes]:
    for key, stored, values in columns:
        value = values[i]
        if value is not None:
            yield key + (value.encode() if stored else orjson.dumps(value))
