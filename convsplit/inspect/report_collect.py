"""What the HTML report shows, gathered in one pass over the records.

:func:`collect_report` reads the records once, feeding each to the token reports of every
window in the sweep and to :func:`~convsplit.inspect.validation.validate_records`;
:func:`~convsplit.inspect.report_render.render_report` draws the result.

Memory stays small for big inputs: token counts are histograms, and only the first
``max_listed`` findings of each kind (and the records they point at, cut to a readable
length) are kept.

>>> import io
>>> from convsplit.formats import read_records
>>> data = io.BytesIO(b'{"messages": [{"role": "user", "content": "Hi"},'
...                   b' {"role": "assistant", "content": "Hello"}]}\\n')
>>> report = collect_report(read_records(data, name="chats.jsonl"), budgets=[Budget(512)])
>>> print(report.summary())
1 conversation (0 records rejected), 1 assistant turn; 0 errors, 0 warnings, 1 note
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, is_dataclass

from convsplit.budget import Budget
from convsplit.errors import InvalidOptionError
from convsplit.formats import Record
from convsplit.inspect.findings import Finding, Severity, group_order
from convsplit.inspect.labels import plural
from convsplit.inspect.report_records import ShownRecord, show_record
from convsplit.inspect.stats import BudgetReports, TokenReport
from convsplit.inspect.validation import validate_records
from convsplit.spec import SplitSpec
from convsplit.tokens.chat_formats import ChatFormat
from convsplit.tokens.counters import TokenCounter

#: The window sweep of the benchmarks: 512 tokens to 128k.
DEFAULT_WINDOWS: tuple[int, ...] = (512, 1024, 2048, 4096, 8192, 16384, 32768, 131072)

#: The sweep as budgets, the default of :func:`collect_report`.
DEFAULT_BUDGETS: tuple[Budget, ...] = tuple(Budget(n) for n in DEFAULT_WINDOWS)


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, gathered in one pass over the records.

    Attributes:
        reports: one token report per window, smallest window first.
        conversation_histogram: ``{tokens of a whole conversation: how many}``.
        files: the input paths in the order first read (their index is in each anchor).
        records: records read; ``rejected`` of them did not parse as conversations.
        finding_counts: findings per (severity, code), most severe first.
        findings: the first ``max_listed`` findings of each (severity, code).
        shown: the records listed errors and warnings are about, by anchor.
        settings: the tokenizer, chat format, window and truncation, as text.
    """

    reports: list[TokenReport]
    conversation_histogram: dict[int, int]
    files: list[str]
    records: int
    rejected: int
    finding_counts: dict[tuple[Severity, str], int]
    findings: dict[tuple[Severity, str], list[Finding]]
    shown: dict[str, ShownRecord]
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def severity_counts(self) -> dict[Severity, int]:
        """Findings per severity (every severity present, zeros included)."""
        totals = dict.fromkeys(Severity, 0)
        for (severity, _), n in self.finding_counts.items():
            totals[severity] += n
        return totals

    def summary(self) -> str:
        """One line for a terminal: what was read and what was found."""
        first = self.reports[0] if self.reports else None
        conversations = first.conversations if first else 0
        turns = first.turns if first else 0
        totals = self.severity_counts
        return (
            f"{plural(conversations, 'conversation')} ({plural(self.rejected, 'record')} "
            f"rejected), {plural(turns, 'assistant turn')}; "
            f"{plural(totals[Severity.ERROR], 'error')}, "
            f"{plural(totals[Severity.WARNING], 'warning')}, "
            f"{plural(totals[Severity.INFO], 'note')}"
        )


def record_anchor(file_index: int, lineno: int) -> str:
    """The id of a record's section: the file's index among the inputs and the line.

    >>> record_anchor(0, 12)
    'record-0-12'
    """
    return f"record-{file_index}-{lineno}"


def collect_report(
    records: Iterable[Record],
    spec: SplitSpec | None = None,
    *,
    budgets: Sequence[Budget] = DEFAULT_BUDGETS,
    check_budget: Budget | None = None,
    max_listed: int = 30,
) -> ReportData:
    """Read ``records`` once: token reports for every budget, and the validation findings.

    Args:
        records: from :func:`convsplit.formats.read_records` (rejected ones included).
        spec: the split to report on (its budget aside: ``budgets`` are swept), as in
            :func:`convsplit.inspect.stats.token_reports`, which gives the same numbers, and
            :func:`convsplit.inspect.validation.validate_records`.
        budgets: the windows to compare (the sweep 512 to 128k when omitted).
        check_budget: also list conversations and turns over this budget as findings (no
            token-length findings without it: the sweep shows lengths for every window).
        max_listed: findings listed per kind (and the records of errors and warnings
            shown); all are counted.

    Returns:
        The data :func:`~convsplit.inspect.report_render.render_report` draws.

    Raises:
        InvalidOptionError: when ``budgets`` is empty.
    """
    if not budgets:
        raise InvalidOptionError("no budgets: give at least one max_tokens to report on")
    ordered = sorted(set(budgets), key=lambda b: (b.max_tokens, b.reserve_target, b.min_context))
    split = spec or SplitSpec()
    reports = BudgetReports(split, ordered)
    reading = _Reading()

    def stream() -> Iterator[Record]:
        for record in records:
            reading.read(record)
            conversation = record.conversation
            if conversation is not None:
                reports.add(conversation, reading.conversations)
                reading.conversations += 1
            yield record

    checked = spec if check_budget is None else split.with_budget(check_budget)
    findings = validate_records(stream(), checked, check_tokens=check_budget is not None)
    listing = _Listing(max_listed, split.tokenizer, split.chat_format)
    for finding in findings:
        # validate_records yields a record's findings before it reads the next record
        listing.add(finding, reading.current, reading.file_index(finding.path))
    listing.flush()
    counts = dict(sorted(listing.counts.items(), key=lambda item: group_order(item[0])))
    return ReportData(
        reports=reports.build(),
        conversation_histogram=reports.conversation_histogram(),
        files=list(reading.files),
        records=reading.records,
        rejected=reading.records - reading.conversations,
        finding_counts=counts,
        findings={group: listing.listed[group] for group in counts},
        shown=listing.shown,
        settings={
            "tokenizer": split.tokenizer.name,
            "chat format": split.chat_format.name,
            "window": _describe(split.window),
            "truncation": _describe(split.truncation),
            "long targets": split.on_long_target,
        },
    )


class _Reading:
    """What the pass over the records has seen so far."""

    def __init__(self) -> None:
        self.files: dict[str, int] = {}
        self.records = 0
        self.conversations = 0
        self.current: Record | None = None

    def read(self, record: Record) -> None:
        self.files.setdefault(record.path, len(self.files))
        self.records += 1
        self.current = record

    def file_index(self, path: str) -> int:
        return self.files.setdefault(path, len(self.files))


class _Listing:
    """Counts every finding, keeps the first few of each kind and the records they name.

    A record is shown only for an error or a warning: notes (no system message, a near
    duplicate) are often intended and can be found on most records of a file, so showing
    theirs would make the page tens of thousands of pixels tall. A note is listed, and
    linked where its record is shown anyway. A record is kept whole only while its findings
    arrive, then cut down to what the page shows, so memory does not grow with the size of
    the records.
    """

    def __init__(self, limit: int, counter: TokenCounter, chat_format: ChatFormat) -> None:
        self.limit = limit
        self.counter = counter
        self.chat_format = chat_format
        self.counts: Counter[tuple[Severity, str]] = Counter()
        self.listed: dict[tuple[Severity, str], list[Finding]] = {}
        self.shown: dict[str, ShownRecord] = {}
        self.pending: tuple[str, Record, list[Finding]] | None = None

    def add(self, finding: Finding, record: Record | None, file_index: int) -> None:
        group = (finding.severity, finding.code)
        self.counts[group] += 1
        listed = self.listed.setdefault(group, [])
        if len(listed) >= self.limit:
            return
        listed.append(finding)
        anchor = record_anchor(file_index, finding.lineno)
        if self.pending is None or self.pending[0] != anchor:
            self.flush()
            if record is None or (record.path, record.lineno) != (finding.path, finding.lineno):
                return
            self.pending = (anchor, record, [])
        self.pending[2].append(finding)

    def flush(self) -> None:
        if self.pending is None:
            return
        anchor, record, found = self.pending
        if any(f.severity is not Severity.INFO for f in found):
            self.shown[anchor] = show_record(anchor, record, found, self.counter, self.chat_format)
        self.pending = None


def _describe(strategy: object) -> str:
    """A strategy's name and its options: ``last-turns (turns=4)``."""
    name = str(getattr(strategy, "name", type(strategy).__name__))
    if not is_dataclass(strategy):
        return name
    options = [
        f"{f.name}={getattr(strategy, f.name)!r}" for f in fields(strategy) if f.name != "name"
    ]
    return f"{name} ({', '.join(options)})" if options else name
