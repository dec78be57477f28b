"""The function ``Dataset.map`` runs: a batch of conversation rows in, a *ledger* out.

``map`` workers are separate processes, and all that comes back from them is rows. So each
batch returns sample rows, one row per rejected record (its row index, reason, field and the
row as JSON) and one accounting row (that batch's :class:`~convsplit.run.report.Report`),
told apart by the :data:`KIND` column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

import convsplit
from convsplit.errors import InvalidOptionError
from convsplit.formats import (
    OpenAIWriter,
    RawRecord,
    SampleWriter,
    parse_json,
    sample_metadata,
)
from convsplit.integrations._hf_features import (
    METADATA,
    Codec,
    Features,
    datasets_module,
    drop_null_columns,
    encoder,
    restorer,
    row_json,
    same,
)
from convsplit.run.records import RecordSplitter, SplitBatch
from convsplit.run.report import Report
from convsplit.samples import SplitResult
from convsplit.spec import SplitSpec

ROW_PATH = "<dataset>"

#: The ledger's own columns; the prefix keeps them clear of any writer's fields.
KIND = "__convsplit_kind__"
ROW = "__convsplit_row__"
REASON = "__convsplit_reason__"
FIELD = "__convsplit_field__"
RECORD = "__convsplit_record__"
REPORT = "__convsplit_report__"
LEDGER_NAMES = (KIND, ROW, REASON, FIELD, RECORD, REPORT)
#: What each ledger row is (values of the ``KIND`` column).
SAMPLE, REJECT, ACCOUNT = 0, 1, 2
#: The rejects dataset's columns, renamed from the ledger's.
REJECT_COLUMNS = {ROW: "row", REASON: "reason", FIELD: "field", RECORD: "record"}


def ledger_columns(ds: Any) -> dict[str, Any]:
    """The ledger's own columns, typed."""
    return {
        KIND: ds.Value("int8"),
        ROW: ds.Value("int64"),
        REASON: ds.Value("string"),
        FIELD: ds.Value("string"),
        RECORD: ds.Value("string"),
        REPORT: ds.Value("string"),
    }


@dataclasses.dataclass(frozen=True)
class KindIs:
    """A picklable filter (an iterable dataset may be read in DataLoader workers)."""

    kind: int

    def __call__(self, kinds: list[int]) -> list[bool]:
        return [k == self.kind for k in kinds]


class BatchSplitter:
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
            records.append(RawRecord(index, row_json(row), row))
        state.sidecar_metadata.clear()
        first = indices[0] if indices else 0
        if indices == list(range(first, first + len(indices))):
            results = [state.splitter.process(ROW_PATH, records, first)]
        else:  # not one run of indices: each row keeps its own
            results = [state.splitter.process(ROW_PATH, [r], r.lineno) for r in records]
        return self._ledger(state, results)

    def _ledger(self, state: _ProcessState, results: list[SplitBatch]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in (*self.columns, *LEDGER_NAMES)}

        def add(values: Mapping[str, Any]) -> None:
            for name, column in out.items():
                column.append(values.get(name))

        metadata = iter(state.sidecar_metadata)
        report = Report()
        for result in results:
            for line in result.lines().split(b"\n")[:-1]:
                sample = parse_json(line)
                if not isinstance(sample, dict):  # pragma: no cover - writers write objects
                    raise InvalidOptionError(
                        f"writer {self.spec.output_format!r} wrote {line[:80]!r}"
                    )
                unknown = sample.keys() - self.columns.keys()
                if unknown:
                    raise InvalidOptionError(
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
            report.add(result.reports[0])
        add({KIND: ACCOUNT, REPORT: orjson.dumps(report.as_dict()).decode()})
        return out


class _ProcessState:
    """What one process builds once: the splitter and the column codecs."""

    def __init__(self, function: BatchSplitter) -> None:
        ds = datasets_module()
        spec = function.spec
        writer: SampleWriter = spec.writer()
        self.sidecar: _MetadataSidecar | None = None
        if function.metadata and not _writes_metadata(writer):
            writer = self.sidecar = _MetadataSidecar(writer)
        self.splitter = RecordSplitter(spec, writer=writer)
        # Rows of an iterable dataset go to their reader as Python objects, never through
        # Arrow: they are handed over as they are.
        self.encode = {
            name: (encoder(feature, ds) if function.stored else None) or same
            for name, feature in function.columns.items()
        }
        features = function.input_features
        self.restore: Codec = (
            restorer(features, ds) or same if features is not None else drop_null_columns
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
