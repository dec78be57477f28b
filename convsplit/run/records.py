"""Records in, samples out: the unit of work of every engine (local, workers, Dask,
Hugging Face datasets)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from convsplit.core.preference import PreparedJudged, preference_output, prepare_judged
from convsplit.core.split import PreparedSplit, prepare_split, split_conversation
from convsplit.errors import InvalidConversationError
from convsplit.formats import RawRecord, SampleWriter, get_reader, parse_record
from convsplit.messages import Conversation, StringsEncode
from convsplit.run.report import Reject, Report
from convsplit.samples import SplitResult
from convsplit.spec import SplitSpec


@dataclass
class SplitBatch:
    """What one batch of records became: output lines, rejects and the accounting.

    The lines come as ``chunks`` whose concatenation they are (message fragments shared
    between samples), so that they are copied once, where they are written; ``lines``
    joins them here.
    """

    chunks: list[bytes]
    rejects: list[Reject]
    report: Report

    @property
    def lines(self) -> bytes:
        """The output lines, joined."""
        return b"".join(self.chunks)


class RecordSplitter:
    """Raw records in, written samples out: the unit of work of every engine.

    Holds what a process needs once (the spec, its reader and writer); the local pipeline,
    its worker processes and both other engines split through it.
    """

    def __init__(self, spec: SplitSpec, *, writer: SampleWriter | None = None) -> None:
        """``writer``: one to use instead of the spec's (a wrapper around it, say)."""
        self.spec = spec
        self.writer = writer or spec.writer()
        self.reader = None if spec.input_format == "auto" else get_reader(spec.input_format)
        self.judged = preference_output(spec)  # preference data is read and split as such

    def split(self, conversation: Conversation, index: int) -> SplitResult:
        """Split one conversation with this spec (its position in the stream: ``index``)."""
        return split_conversation(conversation, self.spec, index=index)

    def parse(self, value: object) -> Conversation:
        """One JSON record as a conversation, in the spec's input format."""
        spec = self.spec
        return parse_record(value, reader=self.reader, role_map=spec.role_map, fields=spec.fields)

    def read(self, raw: RawRecord) -> Conversation:
        """The conversation of one raw record (an InvalidConversationError if none)."""
        if raw.error is not None:
            raise InvalidConversationError(raw.error)
        with StringsEncode(raw.from_text):  # skip the surrogate check parse_json did
            return self.parse(raw.value)

    def prepare(self, raw: RawRecord, index: int) -> PreparedSplit | PreparedJudged:
        """One raw record read and counted once, to split under one budget or several: a
        conversation, or for a preference output a preference record."""
        if self.judged is None:
            return prepare_split(self.read(raw), self.spec, index=index)
        if raw.error is not None:
            raise InvalidConversationError(raw.error)
        return prepare_judged(raw.value, self.spec, kind=self.judged, index=index)

    def split_raw(self, raw: RawRecord, index: int) -> SplitResult:
        """One raw record split with this spec (its position in the stream: ``index``)."""
        if self.judged is None:
            return self.split(self.read(raw), index)
        return self.prepare(raw, index).split()

    def process(self, path: str, records: Iterable[RawRecord], first_index: int) -> SplitBatch:
        """Split ``records`` of file ``path``; the first is conversation ``first_index``."""
        chunks: list[bytes] = []
        rejects: list[Reject] = []
        report = Report()
        pieces = self.writer.chunks  # lines in pieces, shared between samples where it can
        for offset, raw in enumerate(records):
            report.input_bytes += len(raw.text)
            try:
                result = self.split_raw(raw, first_index + offset)
                chunks.extend(pieces(result))
            except InvalidConversationError as error:
                reject = Reject(path, raw.lineno, error.reason, error.field, raw.text, error.hints)
                rejects.append(reject)
                report.reject(reject)
                continue
            report.count(result)
        return SplitBatch(chunks, rejects, report)
