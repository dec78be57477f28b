"""Records in, samples out under several budgets at once: the local pipeline's unit of work.

Users produce the same data at several context lengths, and counts do not depend on the
window: each record is read, parsed and counted once (:func:`~convsplit.core.split.prepare_split`)
and split under every budget, each window's samples going to its own writer. One budget
is the ordinary split. A window's samples are the bytes a run with that budget alone writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from convsplit.budget import Budget
from convsplit.errors import InvalidConversationError
from convsplit.formats import RawRecord
from convsplit.run.records import RecordSplitter
from convsplit.run.report import Reject, Report
from convsplit.spec import SplitSpec


@dataclass
class BudgetBatch:
    """What one batch of records became under each budget: output pieces and accounting
    per budget, and the records rejected.

    ``chunks[k]`` are budget ``k``'s output lines in pieces (see
    :class:`~convsplit.run.records.SplitBatch`). A record is rejected once in ``rejects``
    if any budget rejects it (a writer that cannot write one of its samples); each budget's
    report counts it as that budget's run would.
    """

    chunks: list[list[bytes]]
    rejects: list[Reject]
    reports: list[Report]


class BudgetSplitter:
    """Raw records in, written samples out under each of ``budgets`` (the spec's own alone
    by default), each budget with its own writer."""

    def __init__(self, spec: SplitSpec, budgets: Sequence[Budget] | None = None) -> None:
        self.spec = spec
        self.budgets = list(budgets) if budgets is not None else [spec.budget]
        self.records = RecordSplitter(spec)
        self.writers = [spec.with_budget(b).writer() for b in self.budgets]

    def process(self, path: str, records: Iterable[RawRecord], first_index: int) -> BudgetBatch:
        """Split ``records`` of file ``path``; the first is conversation ``first_index``."""
        budgets, writers = self.budgets, self.writers
        chunks: list[list[bytes]] = [[] for _ in budgets]
        reports = [Report() for _ in budgets]
        rejects: list[Reject] = []
        for offset, raw in enumerate(records):
            for report in reports:
                report.input_bytes += len(raw.text)
            try:
                prepared = self.records.prepare(raw, first_index + offset)
            except InvalidConversationError as error:
                reject = Reject(path, raw.lineno, error.reason, error.field, raw.text, error.hints)
                rejects.append(reject)
                for report in reports:
                    report.reject(reject)
                continue
            first: Reject | None = None
            for k, budget in enumerate(budgets):
                try:
                    result = prepared.split(budget)
                    # Whole before any is kept: a writer refusing a later sample rejects
                    # the record, and no line of it is written.
                    pieces = list(writers[k].chunks(result))
                except InvalidConversationError as error:
                    reject = Reject(
                        path, raw.lineno, error.reason, error.field, raw.text, error.hints
                    )
                    reports[k].reject(reject)
                    first = first or reject
                    continue
                chunks[k].extend(pieces)
                reports[k].count(result)
            if first is not None:
                rejects.append(first)
        return BudgetBatch(chunks, rejects, reports)
