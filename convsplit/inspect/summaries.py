"""Plain-text summaries for people: token reports side by side, findings grouped by kind.

What ``convsplit stats`` and ``convsplit validate`` print; kept apart from the CLI so a
notebook or a pipeline's log can print the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from convsplit.inspect.findings import FINDING_CODES, Finding, Severity, group_findings
from convsplit.inspect.labels import number, plural
from convsplit.inspect.stats import Distribution, TokenReport
from convsplit.terminal import visible


def format_reports(
    reports: Sequence[TokenReport], *, price: float | None = None, rejected: int = 0
) -> str:
    """The token distribution, then one row per budget: what a split there produces.

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
    head = f"conversations: {first.conversations:,}"
    if rejected:
        head += f" ({rejected:,} records rejected)"
    roles = ", ".join(
        f"{role} median {number(d.median)} ({d.count:,})" for role, d in first.role_tokens.items()
    )
    lines = [
        head,
        f"tokens per conversation: {_distribution(first.conversation_tokens)}",
        f"tokens per message: {roles or '-'}",
        "",
    ]
    columns = ["max_tokens", "samples", "tokens/epoch", "trained/epoch", "amplification",
               "turns skipped", "history kept"]  # fmt: skip
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


def format_findings(findings: Iterable[Finding]) -> tuple[str, bool]:
    """Findings grouped by kind, errors first, each with file:line; and whether it is clean.

    Clean means no errors and no warnings (notes are only informative).
    """
    groups = group_findings(findings)
    if not groups:
        return "no problems found", True
    lines: list[str] = []
    totals = dict.fromkeys(Severity, 0)
    for (severity, code), group in groups.items():
        totals[severity] += len(group)
        meaning = FINDING_CODES[code][1] if code in FINDING_CODES else code
        lines.append(f"{severity.value} {code}: {meaning} ({len(group):,})")
        for finding in group:
            where = f"{finding.path}:{finding.lineno}"
            if finding.message_index is not None:
                where += f" message {finding.message_index}"
            lines.append(visible(f"  {where}: {finding.message}"))
        lines.append("")
    lines.append(
        f"{plural(totals[Severity.ERROR], 'error')}, "
        f"{plural(totals[Severity.WARNING], 'warning')}, {plural(totals[Severity.INFO], 'note')}"
    )
    clean = not totals[Severity.ERROR] and not totals[Severity.WARNING]
    return "\n".join(lines), clean


def _distribution(d: Distribution) -> str:
    return (
        f"min {d.min:,}, p5 {number(d.p5)}, median {number(d.median)}, "
        f"p95 {number(d.p95)}, max {d.max:,}"
    )
