"""The report's window sweep: what a split at each ``max_tokens`` produces, as charts, a
table and a CSV file to download.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from urllib.parse import quote

from convsplit.inspect._html import e, table
from convsplit.inspect.charts import Series, line_chart
from convsplit.inspect.labels import percent, share, window_label
from convsplit.inspect.report_collect import ReportData
from convsplit.inspect.stats import TokenReport


def sweep_section(data: ReportData) -> str:
    """Charts and a table of what a split at each window produces, and a CSV of them."""
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
            [Series("tokens per epoch", [r.tokens_per_epoch for r in reports])],
            title="Tokens per epoch (what one epoch reads)",
            width=560,
        ),
        line_chart(  # its own axis: beside tokens per epoch, its line lies flat
            xs,
            [Series("trained per epoch", [r.trained_tokens_per_epoch for r in reports])],
            title="Trained tokens per epoch (targets)",
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
                e(", ".join(f"{n:,} {reason}" for reason, n in r.skipped.items())) or "-",
            ]
        )
    header = ["max_tokens", "samples", "tokens/epoch", "trained/epoch", "amplification",
              "turns skipped", "history kept, mean", "history kept, p5",
              "conversations over budget", "skipped, by reason"]  # fmt: skip
    numbers = table(
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
        f'<div class="grid">{grid}</div><div class="scroll">{numbers}</div>'
        f"{_sweep_download(reports)}</section>"
    )


#: The columns of the sweep's CSV, one row per window; shares are 0 to 1.
SWEEP_CSV_COLUMNS = ("max_tokens", "samples", "tokens_per_epoch", "trained_tokens_per_epoch",
                     "amplification", "assistant_turns", "turns_skipped", "history_kept_mean",
                     "history_kept_p5", "conversations_over_budget")  # fmt: skip


def sweep_csv(reports: Sequence[TokenReport]) -> str:
    """The sweep's numbers as CSV: exact counts, a column per skip reason (``skipped_...``).

    >>> from convsplit import Budget, Conversation, Message, SplitSpec
    >>> from convsplit.inspect.stats import token_reports
    >>> conv = Conversation(messages=(Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello")))
    >>> print(sweep_csv(token_reports([conv], SplitSpec(), budgets=[Budget(8), Budget(64)])))
    max_tokens,samples,tokens_per_epoch,trained_tokens_per_epoch,amplification,\
assistant_turns,turns_skipped,history_kept_mean,history_kept_p5,conversations_over_budget,\
skipped_target_too_long
    8,0,0,0,0.0,1,1,,,1,1
    64,1,13,5,1.0,1,0,1.0,1.0,0,0
    <BLANKLINE>
    """
    reasons = sorted({reason for r in reports for reason in r.skipped})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*SWEEP_CSV_COLUMNS, *(f"skipped_{reason}" for reason in reasons)])
    for r in reports:
        kept = r.history_kept
        writer.writerow(
            [
                r.budget,
                r.samples,
                r.tokens_per_epoch,
                r.trained_tokens_per_epoch,
                "" if r.amplification is None else round(r.amplification, 6),
                r.turns,
                _skipped(r),
                round(kept.mean / 1000, 6) if kept.count else "",
                round(kept.p5 / 1000, 6) if kept.count else "",
                r.conversations_over_budget,
                *(r.skipped.get(reason, 0) for reason in reasons),
            ]
        )
    return out.getvalue()


def _sweep_download(reports: Sequence[TokenReport]) -> str:
    """The sweep as a CSV file to save: a ``data:`` link, which needs no script and loads
    nothing (the page's Content-Security-Policy limits fetches, not a link followed or
    saved)."""
    url = "data:text/csv;charset=utf-8," + quote(sweep_csv(reports), safe="")
    return (
        f'<p class="muted"><a href="{e(url)}" download="convsplit-sweep.csv" '
        'id="sweep-csv">Download these numbers as CSV</a> (one row per max_tokens).</p>'
    )


def _skipped(report: TokenReport) -> int:
    return sum(report.skipped.values())


def _kept(thousandths: float, report: TokenReport) -> float | None:
    return thousandths / 1000 if report.history_kept.count else None
