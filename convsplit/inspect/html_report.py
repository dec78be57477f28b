"""One HTML file that shows a dataset before training: its tokens, its problems, its windows.

``convsplit stats`` and ``convsplit validate`` answer in text; a person choosing a context
window reads a curve faster than a table, and a person fixing data wants to click from a
finding to the record. :func:`collect_report` reads the records once, feeding each to the
token reports of every window in the sweep and to :func:`~convsplit.inspect.validation
.validate_records`; :func:`render_report` draws the result as one self-contained page
(inline SVG charts from :mod:`convsplit.inspect.charts`, an inline stylesheet, no script, and a
Content-Security-Policy that forbids every network load), so it opens from a file, offline,
and hostile text in the data stays text.

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
>>> page = render_report(report, title="chats")
>>> page.startswith("<!DOCTYPE html>"), "<script" in page
(True, False)
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from html import escape

from convsplit.budget import Budget
from convsplit.errors import InvalidOptionError
from convsplit.formats import Record
from convsplit.inspect.charts import (
    ROLE_COLORS,
    Series,
    Spread,
    histogram,
    line_chart,
    percent,
    share_bar,
    short,
    spread_chart,
    window_label,
)
from convsplit.inspect.stats import BudgetReports, Distribution, TokenReport, message_costs
from convsplit.inspect.validation import FINDING_CODES, Finding, Severity, validate_records
from convsplit.messages import Conversation, Message
from convsplit.run.output import AtomicOutput
from convsplit.spec import SplitSpec
from convsplit.tokens.chat_formats import ChatFormat
from convsplit.tokens.counters import TokenCounter

#: The window sweep of the benchmarks: 512 tokens to 128k.
DEFAULT_WINDOWS: tuple[int, ...] = (512, 1024, 2048, 4096, 8192, 16384, 32768, 131072)

#: The sweep as budgets, the default of :func:`collect_report`.
DEFAULT_BUDGETS: tuple[Budget, ...] = tuple(Budget(n) for n in DEFAULT_WINDOWS)

#: Content-Security-Policy of the page: nothing may load, run, submit or navigate away.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)

_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
_SEVERITY_WORDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_MESSAGE_CHARS = 600  # a message shown longer than this is cut, with the count of the rest
_RAW_CHARS = 2000
_MESSAGES_WHOLE = 14  # records with more messages show the ends and what the findings name


@dataclass(frozen=True)
class ShownMessage:
    """A message of a shown record: its text cut to a readable length."""

    index: int
    role: str
    tokens: int
    text: str
    cut: int
    flagged: bool


@dataclass(frozen=True)
class Gap:
    """Messages of a shown record left out: how many, and their tokens."""

    messages: int
    tokens: int


@dataclass(frozen=True)
class ShownRecord:
    """A record some listed finding is about, as the report shows it.

    ``raw`` is the record's text where it did not parse as a conversation (``raw_cut``
    characters left out at its end); otherwise ``rows`` holds its messages and gaps.
    """

    anchor: str
    path: str
    lineno: int
    conversation_id: str | None
    rows: tuple[ShownMessage | Gap, ...]
    raw: str | None
    raw_cut: int
    findings: tuple[Finding, ...]


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
        shown: the records those findings are about, by anchor.
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
            f"{_plural(conversations, 'conversation')} ({_plural(self.rejected, 'record')} "
            f"rejected), {_plural(turns, 'assistant turn')}; "
            f"{_plural(totals[Severity.ERROR], 'error')}, "
            f"{_plural(totals[Severity.WARNING], 'warning')}, "
            f"{_plural(totals[Severity.INFO], 'note')}"
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
        max_listed: findings listed (and records shown) per kind; all are counted.

    Returns:
        The data :func:`render_report` draws.

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
                costs = reports.add(conversation, reading.conversations)
                fixed = split.chat_format.sample_cost(conversation.tools, split.tokenizer)
                reading.histogram[fixed + sum(cost for _, cost in costs)] += 1
                reading.conversations += 1
            yield record

    checked = spec if check_budget is None else split.with_budget(check_budget)
    findings = validate_records(stream(), checked, check_tokens=check_budget is not None)
    listing = _Listing(max_listed, split.tokenizer, split.chat_format)
    for finding in findings:
        # validate_records yields a record's findings before it reads the next record
        listing.add(finding, reading.current, reading.file_index(finding.path))
    listing.flush()
    counts = dict(sorted(listing.counts.items(), key=lambda item: _group_order(item[0])))
    return ReportData(
        reports=reports.build(),
        conversation_histogram=dict(sorted(reading.histogram.items())),
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
        self.histogram: Counter[int] = Counter()
        self.current: Record | None = None

    def read(self, record: Record) -> None:
        self.files.setdefault(record.path, len(self.files))
        self.records += 1
        self.current = record

    def file_index(self, path: str) -> int:
        return self.files.setdefault(path, len(self.files))


class _Listing:
    """Counts every finding, keeps the first few of each kind and the records they name.

    A record is kept whole only while its findings arrive, then cut down to what the page
    shows, so memory does not grow with the size of the records.
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
        if self.pending is not None and self.pending[0] == anchor:
            self.pending[2].append(finding)
            return
        self.flush()
        if record is not None and (record.path, record.lineno) == (finding.path, finding.lineno):
            self.pending = (anchor, record, [finding])

    def flush(self) -> None:
        if self.pending is None:
            return
        anchor, record, found = self.pending
        self.shown[anchor] = _show_record(anchor, record, found, self.counter, self.chat_format)
        self.pending = None


def _group_order(group: tuple[Severity, str]) -> tuple[int, str]:
    return _SEVERITY_ORDER[group[0]], group[1]


def _describe(strategy: object) -> str:
    """A strategy's name and its options: ``last-turns (turns=4)``."""
    name = str(getattr(strategy, "name", type(strategy).__name__))
    if not is_dataclass(strategy):
        return name
    options = [
        f"{f.name}={getattr(strategy, f.name)!r}" for f in fields(strategy) if f.name != "name"
    ]
    return f"{name} ({', '.join(options)})" if options else name


def _show_record(
    anchor: str,
    record: Record,
    found: list[Finding],
    counter: TokenCounter,
    chat_format: ChatFormat,
) -> ShownRecord:
    conversation = record.conversation
    if conversation is None:
        return ShownRecord(
            anchor=anchor,
            path=record.path,
            lineno=record.lineno,
            conversation_id=None,
            rows=(),
            raw=record.raw[:_RAW_CHARS],
            raw_cut=max(len(record.raw) - _RAW_CHARS, 0),
            findings=tuple(found),
        )
    flagged = {f.message_index for f in found if f.message_index is not None}
    return ShownRecord(
        anchor=anchor,
        path=record.path,
        lineno=record.lineno,
        conversation_id=conversation.id,
        rows=_rows(conversation, flagged, counter, chat_format),
        raw=None,
        raw_cut=0,
        findings=tuple(found),
    )


def _rows(
    conversation: Conversation, flagged: set[int], counter: TokenCounter, chat_format: ChatFormat
) -> tuple[ShownMessage | Gap, ...]:
    """The messages to show: all of a short record; else both ends and around each flag."""
    messages = conversation.messages
    costs = [cost for _, cost in message_costs(conversation, counter, chat_format)]
    if len(messages) <= _MESSAGES_WHOLE:
        keep = set(range(len(messages)))
    else:
        keep = {0, 1, 2, len(messages) - 2, len(messages) - 1}
        for index in flagged:
            keep |= {index - 1, index, index + 1}
    rows: list[ShownMessage | Gap] = []
    gap: list[int] = []
    for index, message in enumerate(messages):
        if index not in keep:
            gap.append(index)
            continue
        if gap:
            rows.append(Gap(len(gap), sum(costs[k] for k in gap)))
            gap = []
        text = _message_text(message)
        rows.append(
            ShownMessage(
                index=index,
                role=message.role,
                tokens=costs[index],
                text=text[:_MESSAGE_CHARS],
                cut=max(len(text) - _MESSAGE_CHARS, 0),
                flagged=index in flagged,
            )
        )
    if gap:
        rows.append(Gap(len(gap), sum(costs[k] for k in gap)))
    return tuple(rows)


def _message_text(message: Message) -> str:
    """What a person needs to see of a message: its text, other parts, calls, reasoning."""
    lines: list[str] = []
    if message.reasoning:
        lines.append(f"[reasoning] {message.reasoning}")
    if isinstance(message.content, tuple):
        lines.extend(p.text or "" if p.type == "text" else f"[{p.type}]" for p in message.content)
    elif message.content:
        lines.append(message.content)
    for call in message.tool_calls or ():
        lines.append(f"[call] {call.function.name}({call.function.arguments})")
    if message.tool_call_id:
        lines.append(f"[result of {message.tool_call_id}]")
    return "\n".join(lines)


# -- rendering -------------------------------------------------------------------------------


def render_report(data: ReportData, *, title: str = "convsplit report") -> str:
    """The page: a summary, token charts, the window sweep, findings and their records.

    Every piece of text from the data (file names, ids, messages, finding texts) is escaped;
    the page has no script and its Content-Security-Policy forbids any network load.

    Args:
        data: from :func:`collect_report`.
        title: the page's heading and ``<title>``.

    Returns:
        The HTML document, as text.
    """
    # here, not at the top: convsplit/__init__ may import this module before __version__
    from convsplit import __version__  # noqa: PLC0415

    sections = [
        _summary(data),
        _tokens_section(data),
        _sweep_section(data),
        _findings_section(data),
        _records_section(data),
    ]
    settings = " · ".join(f"{name} {_e(value)}" for name, value in data.settings.items())
    files = ", ".join(f"<code>{_e(path)}</code>" for path in data.files) or "no input"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="convsplit {_e(__version__)}">
<title>{_e(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{_e(title)}</h1>
<p class="muted">{files}<br>{settings}</p>
<nav><a href="#summary">Summary</a><a href="#tokens">Tokens</a><a href="#sweep">Window sweep</a>\
<a href="#findings">Findings</a><a href="#records">Records</a></nav>
</header>
<main>
{"".join(sections)}
</main>
<footer class="muted">Made by convsplit {_e(__version__)}. This page loads nothing from the
network and runs no script.</footer>
</body>
</html>
"""


def write_report(path: str | os.PathLike[str], data: ReportData, *, title: str) -> None:
    """Write the page to ``path`` (``-``: standard output) under a temporary name, renamed
    into place when complete: an interrupted run never leaves half a report.

    Raises:
        OutputError: naming the file, when it cannot be written.
    """
    with AtomicOutput(path) as out:
        out.write(render_report(data, title=title).encode("utf-8"))


def _summary(data: ReportData) -> str:
    first = data.reports[0] if data.reports else None
    totals = data.severity_counts
    cards = [
        ("conversations", f"{first.conversations:,}" if first else "0"),
        ("records rejected", f"{data.rejected:,}"),
        ("assistant turns", f"{first.turns:,}" if first else "0"),
        ("tokens, whole conversations", f"{first.conversation_tokens.total:,}" if first else "0"),
        ("tokens, median conversation", _num(first.conversation_tokens.median) if first else "0"),
    ]
    html = "".join(
        f'<div class="card"><div class="value">{value}</div><div class="label">{label}</div></div>'
        for label, value in cards
    )
    badges = "".join(
        f'<a class="card {severity.value}" href="#findings"><div class="value">{totals[severity]:,}'
        f'</div><div class="label">{_plural_word(totals[severity], _SEVERITY_WORDS[severity])}'
        "</div></a>"
        for severity in Severity
    )
    return (
        f'<section id="summary"><h2>Summary</h2><div class="cards">{html}{badges}</div>'
        f"{_glance(data.reports)}</section>"
    )


def _glance(reports: Sequence[TokenReport]) -> str:
    """The sweep in two sentences: where length stops costing turns and history."""
    if not reports or not reports[0].turns:
        return ""
    length = ("target_too_long", "too_little_context")
    sentences: list[str] = []
    trains_all = next((r for r in reports if not any(r.skipped.get(k) for k in length)), None)
    if trains_all is None:
        worst = reports[-1]
        lost = sum(worst.skipped.get(k, 0) for k in length)
        sentences.append(
            f"Even at {window_label(worst.budget)} tokens, {_plural(lost, 'turn')} "
            "cannot be trained: too long for the window."
        )
    else:
        sentences.append(
            f"From <b>{window_label(trains_all.budget)}</b> tokens, no turn is skipped for "
            f"length ({trains_all.samples:,} samples, {trains_all.tokens_per_epoch:,} tokens "
            "per epoch)."
        )
    whole = next((r for r in reports if r.history_kept.count and r.history_kept.min == 1000), None)
    if whole is not None:
        sentences.append(
            f"From <b>{window_label(whole.budget)}</b>, every sample keeps its whole history."
        )
    elif reports[-1].history_kept.count:
        kept = reports[-1].history_kept
        sentences.append(
            f"At {window_label(reports[-1].budget)}, samples keep {share(kept.mean / 1000)} of "
            "their history on average."
        )
    low, high = reports[0], reports[-1]
    if high.amplification and low.tokens_per_epoch != high.tokens_per_epoch:
        sentences.append(
            f"Tokens per epoch grow from {short(low.tokens_per_epoch)} at "
            f"{window_label(low.budget)} to {short(high.tokens_per_epoch)} at "
            f"{window_label(high.budget)}: {high.amplification:.1f}x what training each "
            "conversation once would read."
        )
    elif high.amplification:
        sentences.append(
            f"Tokens per epoch: {short(high.tokens_per_epoch)} at every window, "
            f"{high.amplification:.1f}x what training each conversation once would read."
        )
    other = {r: n for r, n in reports[0].skipped.items() if r not in length}
    if other:
        sentences.append(
            "Skipped at every window for other reasons: "
            + ", ".join(f"{_plural(n, 'turn')} {_e(r)}" for r, n in other.items())
            + "."
        )
    return f'<p class="glance">{" ".join(sentences)}</p>'


def _tokens_section(data: ReportData) -> str:
    first = data.reports[0] if data.reports else None
    if first is None:
        return ""
    markers = [(r.budget, window_label(r.budget)) for r in data.reports]
    chart = histogram(
        data.conversation_histogram,
        title="Tokens per conversation (whole, as one sample)",
        markers=markers,
    )
    table = _table(
        ["", "count", "total", "min", "p5", "median", "p95", "max", "mean"],
        [_distribution_row("conversation", first.conversation_tokens)]
        + [_distribution_row(role, d) for role, d in first.role_tokens.items()],
        caption="Tokens per conversation and per message, by role",
        number_from=1,
    )
    spreads = [
        Spread(role, d.min, d.p5, d.median, d.p95, d.max, ROLE_COLORS.get(role))
        for role, d in first.role_tokens.items()
    ]
    roles = spread_chart(spreads, title="Tokens per message, by role (p5 to p95, median)")
    shares = share_bar(
        [(role, d.total, ROLE_COLORS.get(role)) for role, d in first.role_tokens.items()],
        title="Where the tokens are: share of all message tokens, by role",
    )
    return (
        '<section id="tokens"><h2>Tokens</h2><div class="row">'
        f'<figure>{chart}{shares}</figure><div class="side">{table}{roles}</div>'
        "</div></section>"
    )


def _distribution_row(label: str, d: Distribution) -> list[str]:
    return [
        _e(label),
        f"{d.count:,}",
        f"{d.total:,}",
        f"{d.min:,}",
        _num(d.p5),
        _num(d.median),
        _num(d.p95),
        f"{d.max:,}",
        _num(d.mean),
    ]


def _sweep_section(data: ReportData) -> str:
    reports = data.reports
    if not reports:
        return ""
    xs = [r.budget for r in reports]
    reasons = sorted({reason for r in reports for reason in r.skipped})
    shares = [_skipped(r) / r.turns if r.turns else 0.0 for r in reports]
    skipped_series = [
        Series(
            reason,
            [r.skipped.get(reason, 0) / r.turns if r.turns else 0.0 for r in reports],
            dashed=len(reasons) > 1,
        )
        for reason in reasons
    ]
    if len(reasons) != 1:  # one reason's line is the total already
        skipped_series.insert(0, Series("turns skipped", shares, color="#1f2328"))
    charts = [
        line_chart(
            xs, [Series("samples", [r.samples for r in reports])], title="Samples", width=560
        ),
        line_chart(
            xs,
            [
                Series("per epoch", [r.tokens_per_epoch for r in reports]),
                Series("trained (targets)", [r.trained_tokens_per_epoch for r in reports]),
            ],
            title="Training tokens per epoch",
            width=560,
        ),
        line_chart(
            xs,
            skipped_series,
            title="Turns skipped (share of assistant turns)",
            width=560,
            y_format=percent,
            y_floor=0.1,
            y_ceiling=1.0,
        ),
        line_chart(
            xs,
            [
                Series("mean", [_kept(r.history_kept.mean, r) for r in reports]),
                Series("5th percentile", [_kept(r.history_kept.p5, r) for r in reports]),
            ],
            title="History kept per sample (share of earlier tokens)",
            width=560,
            y_format=percent,
            y_floor=1.0,
            y_ceiling=1.0,
        ),
    ]
    rows = []
    for r in reports:
        skipped = _skipped(r)
        rows.append(
            [
                window_label(r.budget),
                f"{r.samples:,}",
                f"{r.tokens_per_epoch:,}",
                f"{r.trained_tokens_per_epoch:,}",
                f"{r.amplification:.2f}x" if r.amplification is not None else "-",
                f"{skipped:,} ({share(skipped / r.turns)})" if r.turns else f"{skipped:,}",
                share(r.history_kept.mean / 1000) if r.history_kept.count else "-",
                share(r.history_kept.p5 / 1000) if r.history_kept.count else "-",
                f"{r.conversations_over_budget:,}",
                _e(", ".join(f"{n:,} {reason}" for reason, n in r.skipped.items())) or "-",
            ]
        )
    header = ["max_tokens", "samples", "tokens/epoch", "trained/epoch", "amplification",
              "turns skipped", "history kept, mean", "history kept, p5",
              "conversations over budget", "skipped, by reason"]  # fmt: skip
    table = _table(
        header,
        rows,
        caption="What a split at each max_tokens produces",
        number_from=0,
        number_to=9,
        table_id="sweep-table",
    )
    grid = "".join(f"<figure>{chart}</figure>" for chart in charts)  # two per row at 1280
    return (
        '<section id="sweep"><h2>Window sweep</h2>'
        '<p class="muted">Each window splits every conversation with the options above. '
        "Tokens per epoch is what one epoch reads (and is billed); amplification compares it "
        "with training each conversation once, cut to the same window.</p>"
        f'<div class="grid">{grid}</div><div class="scroll">{table}</div></section>'
    )


def share(value: float) -> str:
    """A share (0 to 1) to one decimal place, never rounded to look like none or all.

    >>> [share(v) for v in (0, 0.0004, 0.25, 0.9996, 1)]
    ['0.0%', '<0.1%', '25.0%', '>99.9%', '100.0%']
    """
    if 0 < value < 0.001:
        return "<0.1%"
    if 0.999 < value < 1:
        return ">99.9%"
    return f"{value:.1%}"


def _skipped(report: TokenReport) -> int:
    return sum(report.skipped.values())


def _kept(thousandths: float, report: TokenReport) -> float | None:
    return thousandths / 1000 if report.history_kept.count else None


def _findings_section(data: ReportData) -> str:
    if not data.finding_counts:
        return (
            '<section id="findings"><h2>Findings</h2><p class="ok">No problems found.</p></section>'
        )
    rows = []
    for (severity, code), n in data.finding_counts.items():
        meaning = FINDING_CODES[code][1] if code in FINDING_CODES else ""
        rows.append(
            [
                f'<span class="badge {severity.value}">{_SEVERITY_WORDS[severity]}</span>',
                f'<a href="#{_group_anchor(severity, code)}"><code>{_e(code)}</code></a>',
                _e(meaning),
                f"{n:,}",
            ]
        )
    overview = _table(
        ["severity", "code", "meaning", "findings"],
        rows,
        caption="Findings by kind",
        number_from=3,
        table_id="findings-table",
    )
    names = _display_names(data.files)
    index = {path: k for k, path in enumerate(data.files)}
    groups = []
    for (severity, code), listed in data.findings.items():
        total = data.finding_counts[(severity, code)]
        items = []
        for finding in listed:
            anchor = record_anchor(index[finding.path], finding.lineno)
            where = f"{names[finding.path]}:{finding.lineno}"
            link = (
                f'<a href="#{anchor}" title="{_e(finding.path)}">{_e(where)}</a>'
                if anchor in data.shown
                else _e(where)
            )
            at = "" if finding.message_index is None else f"{finding.message_index}"
            items.append(f'<tr><td>{link}</td><td class="num">{at}</td>'
                         f"<td>{_e(finding.message)}</td></tr>")  # fmt: skip
        more = (
            f'<p class="muted">{total - len(listed):,} more not listed here; '
            "<code>convsplit validate</code> prints them all.</p>"
            if total > len(listed)
            else ""
        )
        meaning = FINDING_CODES[code][1] if code in FINDING_CODES else ""
        groups.append(
            f'<details class="group" id="{_group_anchor(severity, code)}"'
            f"{'' if severity is Severity.INFO else ' open'}><summary>"
            f'<span class="badge {severity.value}">{_SEVERITY_WORDS[severity]}</span> '
            f'<code>{_e(code)}</code> <span class="muted">{_e(meaning)} ({total:,})</span>'
            '</summary><table class="findings"><thead><tr><th>record</th><th class="num">'
            f"message</th><th>finding</th></tr></thead><tbody>{''.join(items)}</tbody></table>"
            f"{more}</details>"
        )
    return (
        f'<section id="findings"><h2>Findings</h2>{overview}'
        '<p class="muted">Notes are folded; click a kind to open it, a record to see it.</p>'
        f"{''.join(groups)}</section>"
    )


def _display_names(paths: Sequence[str]) -> dict[str, str]:
    """Each input's file name where those are unique (the header lists the full paths)."""
    names = {path: os.path.basename(path) or path for path in paths}
    if len(set(names.values())) < len(names):
        return {path: path for path in paths}
    return names


def _group_anchor(severity: Severity, code: str) -> str:
    return f"findings-{severity.value}-{re.sub(r'[^a-z0-9_]', '-', code.lower())}"


def _records_section(data: ReportData) -> str:
    if not data.shown:
        return ""
    parts = [
        '<section id="records"><h2>Records</h2><p class="muted">The records the findings '
        "above are about; long messages and long conversations are cut.</p>"
    ]
    for shown in data.shown.values():
        title = f"{shown.path}:{shown.lineno}"
        if shown.conversation_id is not None:
            title += f" \u00b7 id {shown.conversation_id}"
        notes = "".join(
            f'<li><span class="badge {f.severity.value}">{_SEVERITY_WORDS[f.severity]}</span> '
            f'<a href="#{_group_anchor(f.severity, f.code)}"><code>{_e(f.code)}</code></a>: '
            f"{_e(f.message)}</li>"
            for f in shown.findings
        )
        if shown.raw is not None:
            cut = f"\n[... {shown.raw_cut:,} more characters]" if shown.raw_cut else ""
            body = f'<pre class="raw">{_e(shown.raw)}{cut}</pre>'
        else:
            body = f'<div class="messages">{"".join(map(_row, shown.rows))}</div>'
        parts.append(
            f'<article class="record" id="{shown.anchor}"><h3>{_e(title)}</h3>'
            f'<ul class="notes">{notes}</ul>{body}</article>'
        )
    parts.append("</section>")
    return "".join(parts)


def _row(row: ShownMessage | Gap) -> str:
    if isinstance(row, Gap):
        return (
            f'<div class="gap">\u2026 {_plural(row.messages, "message")}, '
            f"{row.tokens:,} tokens not shown \u2026</div>"
        )
    cut = f'<span class="cut"> [\u2026 {row.cut:,} more characters]</span>' if row.cut else ""
    flagged = " flagged" if row.flagged else ""
    return (
        f'<div class="message{flagged}"><div class="meta"><span class="role role-{_e(row.role)}">'
        f'{_e(row.role)}</span><span class="muted">#{row.index} \u00b7 {row.tokens:,} tok</span>'
        f'</div><div class="text">{_e(row.text)}{cut}</div></div>'
    )


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    caption: str,
    number_from: int = 1,
    number_to: int | None = None,
    table_id: str | None = None,
) -> str:
    """A table; cells are HTML already (escaped by the caller); numeric columns align right."""
    end = len(header) if number_to is None else number_to

    def cls(k: int) -> str:
        return ' class="num"' if number_from <= k < end else ""

    head = "".join(f"<th{cls(k)}>{_e(h)}</th>" for k, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(k)}>{cell}</td>" for k, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    ident = f' id="{table_id}"' if table_id else ""
    return (
        f"<table{ident}><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _e(text: str) -> str:
    return escape(text, quote=True)


def _num(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {_plural_word(n, word)}"


def _plural_word(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


_STYLE = """
:root { --ink: #1f2328; --muted: #5b616b; --line: #d8dde3; --soft: #f5f7f9;
  --error: #c0362c; --warning: #b26b00; --info: #3f6f99; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #fff; }
header, main, footer { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 28px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
nav { display: flex; gap: 16px; margin: 10px 0 0; }
a { color: #0b5cad; text-decoration: none; }
a:hover { text-decoration: underline; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.muted { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(136px, 1fr));
  gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px;
  background: var(--soft); color: var(--ink); }
.card .value { font-size: 22px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
.card.error .value { color: var(--error); } .card.warning .value { color: var(--warning); }
.card.info .value { color: var(--info); }
.glance { font-size: 15px; background: #eef5fb; border-left: 4px solid #0072b2;
  padding: 8px 12px; border-radius: 4px; }
.row { display: flex; flex-wrap: wrap; gap: 20px; align-items: flex-start; }
.side { flex: 1 1 420px; overflow-x: auto; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr));
  gap: 8px 20px; }
figure { margin: 0; }
svg.chart { display: block; max-width: 100%; height: auto; margin-bottom: 8px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
.badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 0 6px;
  border-radius: 8px; color: #fff; }
.badge.error { background: var(--error); } .badge.warning { background: var(--warning); }
.badge.info { background: var(--info); }
details.group { margin: 6px 0; } details.group > summary { cursor: pointer; padding: 4px 0; }
table.findings { margin: 4px 0 10px 18px; width: calc(100% - 18px); }
.scroll { overflow-x: auto; }
ul.notes { list-style: none; padding: 0; margin: 4px 0 8px; }
.ok { color: #1a7f37; font-weight: 600; }
.record { border: 1px solid var(--line); border-radius: 8px; padding: 4px 14px 10px;
  margin: 12px 0; scroll-margin-top: 8px; }
.record:target { border-color: #0072b2; box-shadow: 0 0 0 3px #cfe3f3; }
.message { display: flex; gap: 12px; padding: 4px 0; border-top: 1px solid #eef0f2; }
.message.flagged { background: #fff6e0; }
.meta { flex: 0 0 110px; display: flex; flex-direction: column; font-size: 12px; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; flex: 1; }
.cut, .gap { color: var(--muted); font-style: italic; }
.gap { padding: 4px 0; border-top: 1px solid #eef0f2; }
.role { font-weight: 600; }
.role-system { color: #5f5f5f; } .role-developer { color: #a8457f; }
.role-user { color: #0072b2; } .role-assistant { color: #00795a; } .role-tool { color: #a86f00; }
pre.raw { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--soft);
  padding: 8px; border-radius: 6px; }
footer { margin: 32px auto 24px; font-size: 12px; }
"""
