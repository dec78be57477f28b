"""Plain-text summaries for people: token reports side by side, findings grouped by kind.

What ``convsplit stats`` and ``convsplit validate`` print; kept apart from the CLI so a
notebook or a pipeline's log can print the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict

from convsplit.inspect.findings import FINDING_CODES, Finding, Severity, group_order
from convsplit.inspect.labels import number, plural
from convsplit.inspect.stats import Distribution, TokenReport
from convsplit.terminal import visible

#: What a preference record's tokens count, by its unit.
_WHOLE = {"pair": " (prompt + longer answer)", "judged answer": " (prompt + answer)"}


def format_reports(
    reports: Sequence[TokenReport],
    *,
    price: float | None = None,
    rejected: int = 0,
    unit: str = "conversation",
    reasons: Sequence[str] = (),
) -> str:
    """The token distribution, then one row per budget: what a split there produces.

    ``unit`` names what a record is: ``"pair"`` (or ``"judged answer"``) for preference
    data, each counted as its prompt with the longer answer, one trained turn. ``reasons``
    say why the ``rejected`` records were, a line each under the count.

    >>> from convsplit import Budget, Conversation, Message
    >>> from convsplit.inspect.stats import token_reports
    >>> conv = Conversation(messages=(Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello")))
    >>> from convsplit import SplitSpec
    >>> print(format_reports(token_reports([conv], SplitSpec(Budget(100)))))
    conversations: 1
    tokens per conversation: min 13, p5 13, median 13, p95 13, max 13
    tokens per message: assistant median 5 (1), user median 5 (1)
    <BLANKLINE>
    max_tokens  samples  tokens/epoch  trained/epoch  amplification  turns skipped  history kept
           100        1            13              5          1.00x         0 (0%)          100%
    """
    first = reports[0]
    units = f"{unit}s"
    head = f"{units}: {first.conversations:,}"
    if rejected:
        head += f" ({plural(rejected, 'record')} rejected)"
    head = "\n".join([head, *(f"  {reason}" for reason in reasons)])
    if not first.conversations:
        # A distribution of nothing would print as "min 0 ... max 0", as if measured.
        return f"{head}\nno {units} to count: nothing would be split"
    whole = _WHOLE.get(unit, "")
    roles = ", ".join(
        f"{role} median {number(d.median)} ({d.count:,})" for role, d in first.role_tokens.items()
    )
    lines = [
        head,
        f"tokens per {unit}{whole}: {_distribution(first.conversation_tokens)}",
        f"tokens per message: {roles or '-'}",
        "",
    ]
    turns = "turns" if unit == "conversation" else units
    columns = ["max_tokens", "samples", "tokens/epoch", "trained/epoch", "amplification",
               f"{turns} skipped", "history kept"]  # fmt: skip
    if price is not None:
        columns.append("cost/epoch")
    rows = [columns]
    for report in reports:
        skipped = sum(report.skipped.values())
        share = skipped / report.turns if report.turns else 0.0
        amplification = f"{report.amplification:.2f}x" if report.amplification else "-"
        row = [
            f"{report.budget:,}",
            f"{report.samples:,}",
            f"{report.tokens_per_epoch:,}",
            f"{report.trained_tokens_per_epoch:,}",
            amplification,
            f"{skipped:,} ({share:.0%})",
            f"{report.history_kept.mean / 1000:.0%}" if report.history_kept.count else "-",
        ]
        if price is not None:
            row.append(f"${report.cost_per_epoch(price):,.2f}")
        rows.append(row)
    widths = [max(len(row[k]) for row in rows) for k in range(len(columns))]
    for row in rows:
        lines.append("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    skipped_reasons = {r: n for report in reports for r, n in report.skipped.items()}
    if skipped_reasons:
        lines.append("")
        lines += [
            f"at {report.budget:,}: skipped "
            + ", ".join(f"{n:,} {r}" for r, n in report.skipped.items())
            for report in reports
            if report.skipped
        ]
    return "\n".join(lines)


def reports_json(
    reports: Sequence[TokenReport], *, price: float | None = None, rejected: int = 0
) -> dict[str, object]:
    """What ``stats --json`` prints: the reports, the records rejected, and with ``price``
    (per million tokens) each report's cost of one epoch.

    >>> from convsplit import Budget, SplitSpec
    >>> from convsplit.inspect.stats import token_reports
    >>> data = reports_json(token_reports([], SplitSpec(Budget(100))), price=2.5, rejected=1)
    >>> data["conversations"], data["rejected"], data["reports"][0]["cost_per_epoch"]
    (0, 1, 0.0)
    """
    rows: list[dict[str, object]] = []
    for report in reports:
        row: dict[str, object] = asdict(report)
        if price is not None:
            row["cost_per_epoch"] = report.cost_per_epoch(price)
        rows.append(row)
    return {
        "conversations": reports[0].conversations if reports else 0,
        "rejected": rejected,
        "price_per_million": price,
        "reports": rows,
    }


class FindingSummary:
    """Every finding counted by (severity, code); the first ``max_listed`` of each kind kept.

    Memory stays bounded on a big file whose every record lacks a system message: only the
    listed findings are held, the rest are counted.
    """

    def __init__(self, findings: Iterable[Finding], *, max_listed: int | None = None) -> None:
        self.counts: dict[tuple[Severity, str], int] = {}
        self.listed: dict[tuple[Severity, str], list[Finding]] = {}
        for finding in findings:
            group = (finding.severity, finding.code)
            self.counts[group] = self.counts.get(group, 0) + 1
            kept = self.listed.setdefault(group, [])
            if max_listed is None or len(kept) < max_listed:
                kept.append(finding)
        order = sorted(self.counts, key=group_order)
        self.counts = {group: self.counts[group] for group in order}
        self.listed = {group: self.listed[group] for group in order}

    def totals(self) -> dict[Severity, int]:
        """Findings per severity."""
        totals = dict.fromkeys(Severity, 0)
        for (severity, _), n in self.counts.items():
            totals[severity] += n
        return totals

    @property
    def clean(self) -> bool:
        """No errors and no warnings (notes are only informative)."""
        totals = self.totals()
        return not totals[Severity.ERROR] and not totals[Severity.WARNING]


def format_findings(
    findings: Iterable[Finding], *, max_listed: int | None = None
) -> tuple[str, bool]:
    """Findings grouped by kind, errors first, each with file:line; and whether it is clean.

    Clean means no errors and no warnings (notes are only informative). With
    ``max_listed``, each kind lists its first findings and says how many more there are.

    >>> from convsplit.inspect.findings import Finding
    >>> notes = [Finding("no_system_message", Severity.INFO, "a.jsonl", n, "no system message")
    ...          for n in (1, 2, 3)]
    >>> print(format_findings(notes, max_listed=1)[0])
    info no_system_message: no system message (3)
      a.jsonl:1: no system message
      ... and 2 more
    <BLANKLINE>
    0 errors, 0 warnings, 3 notes
    """
    summary = FindingSummary(findings, max_listed=max_listed)
    if not summary.counts:
        return "no problems found", True
    lines: list[str] = []
    for group, listed in summary.listed.items():
        severity, code = group
        count = summary.counts[group]
        meaning = FINDING_CODES[code][1] if code in FINDING_CODES else code
        lines.append(f"{severity.value} {code}: {meaning} ({count:,})")
        for finding in listed:
            where = f"{finding.path}:{finding.lineno}"
            if finding.message_index is not None:
                where += f" message {finding.message_index}"
            lines.append(visible(f"  {where}: {finding.message}"))
        if count > len(listed):
            lines.append(f"  ... and {count - len(listed):,} more")
        lines.append("")
    totals = summary.totals()
    lines.append(
        f"{plural(totals[Severity.ERROR], 'error')}, "
        f"{plural(totals[Severity.WARNING], 'warning')}, {plural(totals[Severity.INFO], 'note')}"
    )
    return "\n".join(lines), summary.clean


def findings_json(findings: Iterable[Finding]) -> dict[str, object]:
    """Every finding, and the counts by kind and by severity, as JSON-ready data.

    >>> from convsplit.inspect.findings import Finding
    >>> data = findings_json([Finding("duplicate", Severity.WARNING, "a.jsonl", 2, "same")])
    >>> data["clean"], data["totals"]
    (False, {'error': 0, 'warning': 1, 'info': 0})
    >>> data["kinds"]
    [{'severity': 'warning', 'code': 'duplicate', 'count': 1}]
    """
    every = list(findings)
    summary = FindingSummary(every, max_listed=0)
    return {
        "clean": summary.clean,
        "totals": {severity.value: n for severity, n in summary.totals().items()},
        "kinds": [
            {"severity": severity.value, "code": code, "count": n}
            for (severity, code), n in summary.counts.items()
        ],
        "findings": [{**asdict(f), "severity": f.severity.value} for f in every],
    }


def _distribution(d: Distribution) -> str:
    return (
        f"min {d.min:,}, p5 {number(d.p5)}, median {number(d.median)}, "
        f"p95 {number(d.p95)}, max {d.max:,}"
    )
