"""The HTML report drawn: one self-contained page from a :class:`ReportData`.

``convsplit stats`` and ``convsplit validate`` answer in text; a person choosing a context
window reads a curve faster than a table, and a person fixing data wants to click from a
finding to the record. :func:`render_report` draws what
:func:`~convsplit.inspect.report_collect.collect_report` gathered as one page: inline SVG
charts from :mod:`convsplit.inspect.charts`, the stylesheet ``report.css`` (shipped with the
package) inlined, no script, and a Content-Security-Policy that forbids every network load,
so it opens from a file, offline, and hostile text in the data stays text.

>>> import io
>>> from convsplit import Budget
>>> from convsplit.formats import read_records
>>> from convsplit.inspect.report_collect import collect_report
>>> data = io.BytesIO(b'{"messages": [{"role": "user", "content": "Hi"},'
...                   b' {"role": "assistant", "content": "Hello"}]}\\n')
>>> report = collect_report(read_records(data, name="chats.jsonl"), budgets=[Budget(512)])
>>> page = render_report(report, title="chats")
>>> page.startswith("<!DOCTYPE html>"), "<script" in page
(True, False)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from importlib.resources import files

from convsplit import __version__
from convsplit.inspect._html import e, table
from convsplit.inspect.charts import Spread, histogram, share_bar, spread_chart
from convsplit.inspect.findings import Severity
from convsplit.inspect.labels import (
    number,
    plural,
    plural_word,
    share,
    short,
    window_label,
)
from convsplit.inspect.report_collect import ReportData
from convsplit.inspect.report_findings import SEVERITY_WORDS, findings_section, records_section
from convsplit.inspect.report_sweep import sweep_section
from convsplit.inspect.stats import Distribution, TokenReport
from convsplit.inspect.svg import ROLE_COLORS
from convsplit.run.output import AtomicOutput

#: Content-Security-Policy of the page: nothing may load, run, submit or navigate away.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)


@cache
def stylesheet() -> str:
    """The page's CSS, ``report.css`` shipped beside this module, inlined in every page."""
    return files("convsplit.inspect").joinpath("report.css").read_text(encoding="utf-8")


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
    sections = [
        _summary(data),
        _tokens_section(data),
        sweep_section(data),
        findings_section(data),
        records_section(data),
    ]
    settings = " · ".join(f"{name} {e(value)}" for name, value in data.settings.items())
    files = ", ".join(f"<code>{e(path)}</code>" for path in data.files) or "no input"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="convsplit {e(__version__)}">
<title>{e(title)}</title>
<style>
{stylesheet()}</style>
</head>
<body>
<header>
<h1>{e(title)}</h1>
<p class="muted">{files}<br>{settings}</p>
<nav><a href="#summary">Summary</a><a href="#tokens">Tokens</a><a href="#sweep">Window sweep</a>\
<a href="#findings">Findings</a><a href="#records">Records</a></nav>
</header>
<main>
{"".join(sections)}
</main>
<footer class="muted">Made by convsplit {e(__version__)}. This page loads nothing from the
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
        ("tokens, median conversation", number(first.conversation_tokens.median) if first else "0"),
    ]
    html = "".join(
        f'<div class="card"><div class="value">{value}</div><div class="label">{label}</div></div>'
        for label, value in cards
    )
    badges = "".join(
        f'<a class="card {severity.value}" href="#findings"><div class="value">{totals[severity]:,}'
        f'</div><div class="label">{plural_word(totals[severity], SEVERITY_WORDS[severity])}'
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
            f"Even at {window_label(worst.budget)} tokens, {plural(lost, 'turn')} "
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
            + ", ".join(f"{plural(n, 'turn')} {e(r)}" for r, n in other.items())
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
    numbers = table(
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
        f'<figure>{chart}{shares}</figure><div class="side">{numbers}{roles}</div>'
        "</div></section>"
    )


def _distribution_row(label: str, d: Distribution) -> list[str]:
    return [
        e(label),
        f"{d.count:,}",
        f"{d.total:,}",
        f"{d.min:,}",
        number(d.p5),
        number(d.median),
        number(d.p95),
        f"{d.max:,}",
        number(d.mean),
    ]
