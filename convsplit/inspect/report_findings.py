"""The report's findings: a table of kinds, each kind's first findings linked to their
records, and the records themselves.

Every text from the data passes through :func:`~convsplit.inspect._html.e`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from convsplit.inspect._html import e, table
from convsplit.inspect.findings import FINDING_CODES, Finding, Severity
from convsplit.inspect.labels import plural
from convsplit.inspect.report_collect import ReportData, record_anchor
from convsplit.inspect.report_records import Gap, ShownMessage

#: How the page names each severity.
SEVERITY_WORDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def findings_section(data: ReportData) -> str:
    if not data.finding_counts:
        return (
            '<section id="findings"><h2>Findings</h2><p class="ok">No problems found.</p></section>'
        )
    rows = []
    for (severity, code), n in data.finding_counts.items():
        meaning = FINDING_CODES[code][1] if code in FINDING_CODES else ""
        rows.append(
            [
                f'<span class="badge {severity.value}">{SEVERITY_WORDS[severity]}</span>',
                f'<a href="#{group_anchor(severity, code)}"><code>{e(code)}</code></a>',
                e(meaning),
                f"{n:,}",
            ]
        )
    overview = table(
        ["severity", "code", "meaning", "findings"],
        rows,
        caption="Findings by kind",
        number_from=3,
        table_id="findings-table",
    )
    names = display_names(data.files)
    index = {path: k for k, path in enumerate(data.files)}
    groups = [
        _group(data, group, listed, names=names, index=index)
        for group, listed in data.findings.items()
    ]
    return (
        f'<section id="findings"><h2>Findings</h2>{overview}'
        '<p class="muted">Notes are folded; click a kind to open it, a record to see it '
        "(errors and warnings show theirs).</p>"
        f"{''.join(groups)}</section>"
    )


def _group(
    data: ReportData,
    group: tuple[Severity, str],
    listed: Sequence[Finding],
    *,
    names: dict[str, str],
    index: dict[str, int],
) -> str:
    """One kind of finding, folded under its name: its first findings, linked to records
    shown; the message column only where some finding names a message."""
    severity, code = group
    total = data.finding_counts[group]
    indexed = any(finding.message_index is not None for finding in listed)
    items = []
    for finding in listed:
        anchor = record_anchor(index[finding.path], finding.lineno)
        where = f"{names[finding.path]}:{finding.lineno}"
        link = (
            f'<a href="#{anchor}" title="{e(finding.path)}">{e(where)}</a>'
            if anchor in data.shown
            else e(where)
        )
        at = "" if finding.message_index is None else f"{finding.message_index}"
        column = f'<td class="num">{at}</td>' if indexed else ""
        items.append(f"<tr><td>{link}</td>{column}<td>{e(finding.message)}</td></tr>")
    more = (
        f'<p class="muted">{total - len(listed):,} more not listed here; '
        "<code>convsplit validate</code> prints them all.</p>"
        if total > len(listed)
        else ""
    )
    meaning = FINDING_CODES[code][1] if code in FINDING_CODES else ""
    heading = '<th class="num">message</th>' if indexed else ""
    return (
        f'<details class="group" id="{group_anchor(severity, code)}"'
        f"{'' if severity is Severity.INFO else ' open'}><summary>"
        f'<span class="badge {severity.value}">{SEVERITY_WORDS[severity]}</span> '
        f'<code>{e(code)}</code> <span class="muted">{e(meaning)} ({total:,})</span>'
        f'</summary><table class="findings"><thead><tr><th>record</th>{heading}'
        f"<th>finding</th></tr></thead><tbody>{''.join(items)}</tbody></table>"
        f"{more}</details>"
    )


def display_names(paths: Sequence[str]) -> dict[str, str]:
    """Each input's file name where those are unique (the header lists the full paths)."""
    names = {path: os.path.basename(path) or path for path in paths}
    if len(set(names.values())) < len(names):
        return {path: path for path in paths}
    return names


def group_anchor(severity: Severity, code: str) -> str:
    return f"findings-{severity.value}-{re.sub(r'[^a-z0-9_]', '-', code.lower())}"


def records_section(data: ReportData) -> str:
    if not data.shown:
        return ""
    parts = [
        '<section id="records"><h2>Records</h2><p class="muted">The records the errors and '
        "warnings above are about; long messages and long conversations are cut.</p>"
    ]
    for shown in data.shown.values():
        title = f"{shown.path}:{shown.lineno}"
        if shown.conversation_id is not None:
            title += f" \u00b7 id {shown.conversation_id}"
        notes = "".join(
            f'<li><span class="badge {f.severity.value}">{SEVERITY_WORDS[f.severity]}</span> '
            f'<a href="#{group_anchor(f.severity, f.code)}"><code>{e(f.code)}</code></a>: '
            f"{e(f.message)}</li>"
            for f in shown.findings
        )
        if shown.raw is not None:
            cut = f"\n[... {shown.raw_cut:,} more characters]" if shown.raw_cut else ""
            body = f'<pre class="raw">{e(shown.raw)}{cut}</pre>'
        else:
            body = f'<div class="messages">{"".join(map(_row, shown.rows))}</div>'
        parts.append(
            f'<article class="record" id="{shown.anchor}"><h3>{e(title)}</h3>'
            f'<ul class="notes">{notes}</ul>{body}</article>'
        )
    parts.append("</section>")
    return "".join(parts)


def _row(row: ShownMessage | Gap) -> str:
    if isinstance(row, Gap):
        return (
            f'<div class="gap">\u2026 {plural(row.messages, "message")}, '
            f"{plural(row.tokens, 'token')} not shown \u2026</div>"
        )
    cut = f'<span class="cut"> [\u2026 {row.cut:,} more characters]</span>' if row.cut else ""
    flagged = " flagged" if row.flagged else ""
    return (
        f'<div class="message{flagged}"><div class="meta"><span class="role role-{e(row.role)}">'
        f'{e(row.role)}</span><span class="muted">#{row.index} \u00b7 {row.tokens:,} tok</span>'
        f'</div><div class="text">{e(row.text)}{cut}</div></div>'
    )
