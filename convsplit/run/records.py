"""Records in, samples out: the unit of work of every engine (local, workers, Dask,
Hugging Face datasets).

Each record is read, parsed and counted once (:func:`~convsplit.core.split.prepare_split`)
and split under each budget, each budget's samples going to its own writer: users produce
the same data at several context lengths, and counts do not depend on the window. One
budget (the spec's own) is the ordinary split; a budget's samples are the bytes a run with
that budget alone writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from convsplit.budget import Budget
from convsplit.core.preference import PreparedJudged, preference_output, prepare_judged
from convsplit.core.split import PreparedSplit, prepare_split, split_conversation
from convsplit.errors import ConvsplitError, InvalidConversationError, InvalidOptionError
from convsplit.formats import RawRecord, SampleWriter, parse_record, reader_for
from convsplit.messages import Conversation, StringsEncode
from convsplit.run.report import Reject, Report
from convsplit.samples import Sample, SplitResult, TurnOutcome, trusted
from convsplit.spec import SplitSpec


@dataclass
class SplitBatch:
    """What one batch of records became under each budget: output pieces and accounting
    per budget, and the records rejected.

    ``chunks[k]`` are budget ``k``'s output lines in pieces whose concatenation they are
    (message fragments shared between samples), so that they are copied once, where they
    are written. A record is rejected once in ``rejects`` if any budget rejects it (a
    writer that cannot write one of its samples); each budget's report counts it as that
    budget's run would.
    """

    chunks: list[list[bytes]]
    rejects: list[Reject]
    reports: list[Report]

    def lines(self, k: int = 0) -> bytes:
        """Budget ``k``'s output lines, joined."""
        return b"".join(self.chunks[k])


Emit = Callable[[int, list[bytes]], None]
"""Where budget ``k``'s output pieces go as they are made: ``emit(k, chunks)``."""

_HELD_MESSAGES = 1 << 16
"""Messages the samples of one conversation may hold before they go to the writer: a
conversation of 200,000 turns makes 100,000 samples of hundreds of messages each."""


class RecordSplitter:
    """Raw records in, written samples out under each of ``budgets`` (the spec's own alone
    by default), each budget with its own writer: the unit of work of every engine.

    Holds what a process needs once (the spec, its reader and writers); the local pipeline,
    its worker processes, the Dask engine and the Hugging Face integration all split
    through it.
    """

    def __init__(
        self,
        spec: SplitSpec,
        budgets: Sequence[Budget] | None = None,
        *,
        writer: SampleWriter | None = None,
    ) -> None:
        """``writer``: one to use instead of the spec's (a wrapper around it, say), for
        a single budget."""
        self.spec = spec
        self.budgets = list(budgets) if budgets is not None else [spec.budget]
        if writer is not None and len(self.budgets) != 1:
            raise InvalidOptionError(
                "writer= is for one budget; several budgets have a writer each"
            )
        self.writers = (
            [writer] if writer is not None else [spec.with_budget(b).writer() for b in self.budgets]
        )
        self.reader = reader_for(spec.input_format)
        self.judged = preference_output(spec)  # preference data is read and split as such
        # A writer that numbers samples within their conversation (inline metadata) is
        # given each conversation whole; the others may be given its samples in parts.
        self._in_parts = [getattr(w, "metadata", "none") == "none" for w in self.writers]

    @property
    def writer(self) -> SampleWriter:
        """The first budget's writer (the only one, for one budget)."""
        return self.writers[0]

    def split(self, conversation: Conversation, index: int) -> SplitResult:
        """Split one conversation with the spec (its position in the stream: ``index``)."""
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

    def process(
        self,
        path: str,
        records: Iterable[RawRecord],
        first_index: int,
        emit: Emit | None = None,
    ) -> SplitBatch:
        """Split ``records`` of file ``path``; the first is conversation ``first_index``.

        With ``emit``, a conversation whose samples grow large is written as its samples
        are made (what the batch held before for that budget goes first), so memory stays
        flat however long one conversation is; the rest comes back in the batch.

        Raises:
            ConvsplitError: a conversation was refused (an InvalidConversationError) after
                part of its samples had been emitted: they cannot be taken back.
        """
        budgets = self.budgets
        chunks: list[list[bytes]] = [[] for _ in budgets]
        reports = [Report() for _ in budgets]
        rejects: list[Reject] = []
        for offset, raw in enumerate(records):
            for report in reports:
                report.input_bytes += len(raw.text)
            try:
                prepared = self.prepare(raw, first_index + offset)
            except InvalidConversationError as error:
                reject = Reject(path, raw.lineno, error.reason, error.field, raw.text, error.hints)
                rejects.append(reject)
                for report in reports:
                    report.reject(reject)
                continue
            first: Reject | None = None
            for k in range(len(budgets)):
                try:
                    if isinstance(prepared, PreparedJudged):  # preference data: a pair at most
                        self._split_judged(prepared, k, chunks, reports[k])
                    else:
                        self._split(prepared, k, chunks, reports[k], emit)
                except InvalidConversationError as error:
                    reject = Reject(
                        path, raw.lineno, error.reason, error.field, raw.text, error.hints
                    )
                    reports[k].reject(reject)
                    first = first or reject
            if first is not None:
                rejects.append(first)
        return SplitBatch(chunks, rejects, reports)

    def _split_judged(
        self, prepared: PreparedJudged, k: int, chunks: list[list[bytes]], report: Report
    ) -> None:
        """Budget ``k``'s pair (or the reason it has none) of one preference record."""
        result = prepared.split(self.budgets[k])
        chunks[k].extend(self.writers[k].chunks(result))
        report.count(result)

    def _split(
        self,
        prepared: PreparedSplit,
        k: int,
        chunks: list[list[bytes]],
        report: Report,
        emit: Emit | None,
    ) -> None:
        """Budget ``k``'s samples of one conversation, written into ``chunks[k]`` (or
        emitted, in parts), and counted in ``report``."""
        writer, index, budget = self.writers[k], prepared.index, self.budgets[k]
        outcomes: list[TurnOutcome] = []
        made = Report()  # this conversation, counted in once it is all written
        emitted = 0

        def encoded(samples: list[Sample]) -> list[bytes]:
            part = trusted(
                SplitResult, conversation_id=prepared.conversation.id,
                conversation_index=index, samples=tuple(samples), outcomes=(),
            )  # fmt: skip
            # Whole before any is kept: a writer refusing a later sample rejects the
            # record, and no line of it is written.
            return list(writer.chunks(part))

        try:
            in_parts = emit is not None and self._in_parts[k]
            parts = _parts(prepared.stream(budget, outcomes), cut=in_parts)
            part = next(parts)
            for following in parts:  # ``part`` is not the last one: written now
                assert emit is not None  # parts are cut only where they can be emitted
                if not emitted:
                    # Made and encoded once, none kept: a conversation too large to hold
                    # is refused (a reject) before any of it is written.
                    for rehearsed in _parts(prepared.stream(budget, [])):
                        encoded(rehearsed)
                made.count_samples(part)
                pieces = encoded(part)
                if chunks[k]:  # what the batch holds comes first
                    emit(k, chunks[k])
                    chunks[k] = []
                emit(k, pieces)
                emitted += len(part)
                part = following
            made.count_samples(part)
            pieces = encoded(part)
        except InvalidConversationError as error:
            if emitted:  # the rehearsal passed: a strategy that answers differently twice
                name = prepared.conversation.id or f"#{index}"
                raise ConvsplitError(
                    f"conversation {name} was refused after {emitted:,} of its samples were "
                    f"written: {error.reason}"
                ) from error
            raise
        chunks[k].extend(pieces)
        made.count(
            trusted(
                SplitResult, conversation_id=prepared.conversation.id, conversation_index=index,
                samples=(), outcomes=tuple(outcomes),
            )
        )  # fmt: skip
        report.add(made)


def _parts(samples: Iterable[Sample], *, cut: bool = True) -> Iterator[list[Sample]]:
    """``samples`` in lists of about :data:`_HELD_MESSAGES` messages each (one list if not
    ``cut``); the last list may be shorter, or empty."""
    part: list[Sample] = []
    size = 0
    for sample in samples:
        part.append(sample)
        size += len(sample.messages)
        if cut and size >= _HELD_MESSAGES:
            yield part
            part, size = [], 0
    yield part
