"""The HTML report: its tables, links and escaping read from the markup, then the page as a
person sees it, in headless Chromium driven over the DevTools protocol.

The browser tests start Chromium with ``--remote-debugging-pipe`` and speak the protocol's
NUL-separated JSON on file descriptors 3 and 4: no port, no websocket, no extra package.
They skip, saying what to install, where Chromium is absent.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import select
import shutil
import struct
import subprocess
import time
import weakref
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from convsplit import Budget, SplitSpec
from convsplit.errors import OutputError
from convsplit.formats import Record, read_records
from convsplit.inspect.charts import Series, line_chart
from convsplit.inspect.findings import Severity
from convsplit.inspect.labels import share
from convsplit.inspect.report_collect import DEFAULT_WINDOWS, collect_report, record_anchor
from convsplit.inspect.report_records import Gap, ShownMessage
from convsplit.inspect.report_render import CONTENT_SECURITY_POLICY, render_report, write_report
from convsplit.inspect.stats import message_costs, token_reports
from convsplit.inspect.validation import validate_records
from convsplit.tokens.chat_formats import get_chat_format
from convsplit.tokens.counters import get_counter
from tests.test_cli import EXAMPLES

HOSTILE = '</div><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def _records(*paths: Path) -> Iterator[Record]:
    for path in paths:
        yield from read_records(str(path))


def _jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _chat(*pairs: tuple[str, str]) -> dict[str, object]:
    return {"messages": [{"role": role, "content": text} for role, text in pairs]}


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """A file with one record of each kind of trouble, hostile text included."""
    return _jsonl(
        tmp_path / "messy.jsonl",
        _chat(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello!")),
        _chat(("user", HOSTILE), ("assistant", "I will not run that.")),
        42,
        _chat(("user", "Only a question?")),
        _chat(("user", "x " * 3000), ("assistant", "A long question deserves a short answer.")),
        _chat(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello!")),
        {"messages": [{"role": "user", "content": "Hi"}, {"role": HOSTILE, "content": "?"}]},
    )


# -- the markup -------------------------------------------------------------------------------


class _Page(HTMLParser):
    """The parts of a page the tests look at: tags, ids, links, text and tables by id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.text: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "a":
            self.links.append(str(attributes.get("href")))
        if tag == "table":
            self._table = attributes.get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table is not None and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if not self._in_style:
            self.text.append(data)


def test_sweep_table_holds_the_numbers_of_token_reports() -> None:
    data = collect_report(_records(EXAMPLES), SplitSpec())
    page = _Page(render_report(data))
    conversations = [r.conversation for r in _records(EXAMPLES) if r.conversation is not None]
    expected = token_reports(
        conversations, SplitSpec(), budgets=[Budget(n) for n in DEFAULT_WINDOWS]
    )
    assert data.reports == expected
    header, *rows = page.tables["sweep-table"]
    assert header == ["max_tokens", "samples", "tokens/epoch", "trained/epoch", "amplification",
                      "turns skipped", "history kept, mean", "history kept, p5",
                      "conversations over budget", "skipped, by reason"]  # fmt: skip
    assert [row[0] for row in rows] == ["512", "1k", "2k", "4k", "8k", "16k", "32k", "128k"]
    for row, report in zip(rows, expected, strict=True):
        skipped = sum(report.skipped.values())
        assert row[1:] == [
            f"{report.samples:,}",
            f"{report.tokens_per_epoch:,}",
            f"{report.trained_tokens_per_epoch:,}",
            f"{report.amplification:.2f}x",
            f"{skipped:,} ({share(skipped / report.turns)})",
            share(report.history_kept.mean / 1000),
            share(report.history_kept.p5 / 1000),
            f"{report.conversations_over_budget:,}",
            ", ".join(f"{n:,} {reason}" for reason, n in report.skipped.items()),
        ]


def test_sweep_table_as_printed() -> None:
    data = collect_report(
        _records(EXAMPLES), SplitSpec(), budgets=[Budget(300), Budget(60), Budget(150)]
    )
    assert _Page(render_report(data)).tables["sweep-table"][1:] == [
        ["60", "5", "251", "132", "1.10x", "10 (66.7%)", "16.3%", "7.4%", "3",
         "1 no_user_before, 9 target_too_long"],
        ["150", "12", "1,247", "430", "2.50x", "3 (20.0%)", "56.5%", "7.4%", "3",
         "1 no_user_before, 2 target_too_long"],
        ["300", "14", "2,443", "489", "2.89x", "1 (6.7%)", "95.8%", "79.3%", "0",
         "1 no_user_before"],
    ]  # fmt: skip


def test_summary_says_where_length_stops_costing_turns() -> None:
    data = collect_report(
        _records(EXAMPLES), SplitSpec(), budgets=[Budget(60), Budget(150), Budget(300)]
    )
    page = render_report(data)
    start = page.index('<p class="glance">')
    glance = page[start : page.index("</p>", start)]
    assert "".join(_Page(glance).text) == (
        "From 300 tokens, no turn is skipped for length (14 samples, 2,443 tokens per epoch). "
        "At 300, samples keep 95.8% of their history on average. Tokens per epoch grow from "
        "251 at 60 to 2.4k at 300: 2.9x what training each conversation once would read. "
        "Skipped at every window for other reasons: 1 turn no_user_before."
    )


def test_token_table_holds_the_distributions() -> None:
    data = collect_report(_records(EXAMPLES), SplitSpec(), budgets=[Budget(4096)])
    page = _Page(render_report(data))
    (table,) = [rows for rows in page.tables.values() if rows[0][:3] == ["", "count", "total"]]
    assert table[1] == ["conversation", "4", "846", "49", "75.4", "254", "288.1", "289", "211.5"]
    assert [row[0] for row in table[2:]] == ["assistant", "system", "tool", "user"]
    report = data.reports[0]
    assert [int(row[1]) for row in table[2:]] == [d.count for d in report.role_tokens.values()]
    assert sum(data.conversation_histogram.values()) == report.conversations == 4


def test_every_finding_links_to_a_section_showing_its_record(messy: Path) -> None:
    data = collect_report(
        _records(messy), SplitSpec(), budgets=[Budget(1024)], check_budget=Budget(1024)
    )
    page = _Page(render_report(data, title="messy"))
    findings = list(
        validate_records(_records(messy), SplitSpec(budget=Budget(1024)), check_tokens=True)
    )
    assert sum(data.finding_counts.values()) == len(findings)
    internal = [link for link in page.links if link.startswith("#")]
    assert internal, "the page has links"
    assert {link[1:] for link in internal} <= page.ids, "every link lands on an element"
    shown = {f.lineno for f in findings if f.severity is not Severity.INFO}
    for finding in findings:  # errors and warnings show their records; notes link to them
        linked = f"#{record_anchor(0, finding.lineno)}" in page.links
        assert linked == (finding.lineno in shown), finding
    # the record section shows the record: the duplicate's messages, the raw text of 42 ...
    html = render_report(data)
    section = html[html.index('id="record-0-6"') :]
    assert "Be brief." in section[: section.index("</article>")]
    raw = html[html.index('id="record-0-3"') :]
    assert '<pre class="raw">42' in raw
    # ... and a long message cut, saying how much was left out
    long = html[html.index('id="record-0-5"') :]
    assert "[\u2026 5,400 more characters]" in long[: long.index("</article>")]
    assert data.summary() == (
        "5 conversations (2 records rejected), 4 assistant turns; 3 errors, 2 warnings, 4 notes"
    )


def test_hostile_text_stays_text(tmp_path: Path, messy: Path) -> None:
    odd = tmp_path / '<b onclick="x">&.jsonl'
    shutil.copy(messy, odd)
    html = render_report(
        collect_report(_records(odd), SplitSpec(), budgets=[Budget(512)]), title=HOSTILE
    )
    page = _Page(html)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "img", "iframe", "object", "embed"}
    assert not [name for _, attrs in page.tags for name in attrs if name.startswith("on")]
    text = "".join(page.text)
    assert HOSTILE in text, "the hostile message is shown, as text"
    assert f"message 1 has role {HOSTILE!r}" in text, "so is a finding quoting it"
    assert str(odd) in text


def test_page_refers_to_nothing_outside_itself(messy: Path) -> None:
    html = render_report(
        collect_report(_records(messy), SplitSpec(), budgets=[Budget(512), Budget(4096)])
    )
    page = _Page(html)
    downloads = []
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        href = attrs.get("href")
        if href is not None and href.startswith("data:"):
            downloads.append(href)
            continue
        assert href is None or href.startswith("#"), href
    assert [href.partition(",")[0] for href in downloads] == ["data:text/csv;charset=utf-8"]
    assert "url(" not in html and "@import" not in html
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert csp == [CONTENT_SECURITY_POLICY]
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY


def test_long_lists_are_cut_but_counted(tmp_path: Path) -> None:
    many = _jsonl(tmp_path / "many.jsonl", *[_chat(("user", f"q{k}")) for k in range(7)])
    data = collect_report(_records(many), SplitSpec(), budgets=[Budget(512)], max_listed=2)
    assert data.finding_counts[next(iter(data.finding_counts))] == 7
    assert all(len(listed) <= 2 for listed in data.findings.values())
    assert len(data.shown) == 2
    assert "5 more not listed here" in render_report(data)


def test_a_long_record_shows_its_ends_and_what_is_flagged(tmp_path: Path) -> None:
    turns = [("user", f"question {k}") for k in range(15)]
    pairs = [m for k, user in enumerate(turns) for m in (user, ("assistant", f"answer {k}"))]
    pairs[17] = ("assistant", "  ")
    path = _jsonl(tmp_path / "long.jsonl", _chat(*pairs))
    data = collect_report(_records(path), SplitSpec(), budgets=[Budget(512)])
    (shown,) = data.shown.values()
    kinds = [
        row.index if isinstance(row, ShownMessage) else f"gap {row.messages}" for row in shown.rows
    ]
    assert kinds == [0, 1, 2, "gap 13", 16, 17, 18, "gap 9", 28, 29]
    assert [row.flagged for row in shown.rows if isinstance(row, ShownMessage)] == [
        False, False, False, False, True, False, False, False
    ]  # fmt: skip
    gaps = [row for row in shown.rows if isinstance(row, Gap)]
    (conversation,) = [r.conversation for r in _records(path)]
    assert conversation is not None
    costs = [c for _, c in message_costs(conversation, get_counter(), get_chat_format("openai"))]
    assert [g.tokens for g in gaps] == [sum(costs[3:16]), sum(costs[19:28])] == [91, 63]
    assert "\u2026 13 messages, 91 tokens not shown \u2026" in render_report(data)


def test_records_stream_through(tmp_path: Path) -> None:
    """Only the record being read (and the one a finding is about) is alive at a time."""
    path = _jsonl(
        tmp_path / "many.jsonl", *[_chat(("user", f"q{k}"), ("assistant", "a")) for k in range(40)]
    )
    alive: list[weakref.ref[Record]] = []
    most = 0

    def records() -> Iterator[Record]:
        nonlocal most
        for record in read_records(str(path)):
            most = max(most, sum(ref() is not None for ref in alive))
            alive.append(weakref.ref(record))
            yield record

    data = collect_report(records(), SplitSpec(), budgets=[Budget(64), Budget(512)], max_listed=1)
    assert data.reports[0].conversations == 40
    assert most <= 2


def test_no_records_still_make_a_page() -> None:
    html = render_report(
        collect_report(read_records(io.BytesIO(b""), name="empty.jsonl"), SplitSpec())
    )
    assert "No problems found." in html and "no data" in html
    with pytest.raises(ValueError, match="no budgets"):
        collect_report([], SplitSpec(), budgets=[])


def test_write_report_replaces_the_file_whole(tmp_path: Path) -> None:
    data = collect_report(_records(EXAMPLES), SplitSpec(), budgets=[Budget(512)])
    target = tmp_path / "report.html"
    target.write_text("old")
    write_report(target, data, title="examples")
    assert target.read_text(encoding="utf-8") == render_report(data, title="examples")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    with pytest.raises(OutputError, match="missing"):
        write_report(tmp_path / "missing" / "report.html", data, title="examples")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_real_data_report_agrees_with_stats_and_validate(shared_data: Path) -> None:
    files = sorted(shared_data.glob("*.json*"))
    data = collect_report(_records(*files), SplitSpec(), budgets=[Budget(512), Budget(4096)])
    conversations = [r.conversation for r in _records(*files) if r.conversation is not None]
    assert data.reports == token_reports(
        conversations, SplitSpec(), budgets=[Budget(512), Budget(4096)]
    )
    findings = list(validate_records(_records(*files)))
    assert sum(data.finding_counts.values()) == len(findings)
    page = _Page(render_report(data))
    assert {link[1:] for link in page.links if link.startswith("#")} <= page.ids


# -- what issue 21 found in the pictures ------------------------------------------------------


def _chart(html: str, label: str) -> str:
    """The ``<svg>`` of the chart titled ``label``."""
    start = html.index(f'aria-label="{label}"')
    return html[html.rindex("<svg", 0, start) : html.index("</svg>", start)]


def _tips(svg: str) -> list[str]:
    return re.findall(r"<title>([^<]*)</title>", svg)


def _point_labels(svg: str) -> list[str]:
    return re.findall(r'font-size="9" fill="#1f2328" text-anchor="middle">([^<]*)</text>', svg)


def test_notes_list_their_records_without_showing_them(tmp_path: Path) -> None:
    """Notes (no system message...) are on most records of a real file: showing each one's
    record made the page tens of thousands of pixels tall. Errors and warnings still show
    theirs, with any note about the same record."""
    long_text = "word " * 400
    path = _jsonl(
        tmp_path / "notes.jsonl",
        *[_chat(("user", f"q{k} {long_text}"), ("assistant", f"a{k}")) for k in range(20)],
        _chat(("user", "Only a question?")),
    )
    data = collect_report(_records(path), SplitSpec(), budgets=[Budget(4096)])
    assert data.finding_counts == {
        (Severity.ERROR, "no_assistant_message"): 1,
        (Severity.INFO, "no_system_message"): 21,
    }
    assert list(data.shown) == [record_anchor(0, 21)]
    assert [f.code for f in data.shown[record_anchor(0, 21)].findings] == [
        "no_assistant_message",
        "no_system_message",
    ]
    html = render_report(data)
    page = _Page(html)
    group = html[html.index('id="findings-info-no_system_message"') :]
    group = group[: group.index("</details>")]
    assert group.count("<tr><td>") == 21
    assert group.count("<a href=") == 1, "only the note on the shown record links to it"
    assert f'href="#{record_anchor(0, 21)}"' in group
    assert "q3" not in "".join(page.text), "no note's record is printed"
    assert len(html) < 30_000


def test_each_sweep_point_is_labelled_with_its_own_value() -> None:
    svg = line_chart(
        [512, 1024, 2048, 4096, 8192],
        [Series("samples", [1988, 2057, 2073, 2076, 2076])],
        title="Samples",
    )
    assert _point_labels(svg) == ["1,988", "2,057", "2,073", "2,076", "2,076"]
    apart = line_chart([512, 1024], [Series("samples", [297_828, 466_401])], title="Samples")
    assert _point_labels(apart) == ["297.8k", "466.4k"], "brief where brief tells them apart"


def test_sweep_point_labels_on_the_real_files(shared_data: Path) -> None:
    data = collect_report(_records(*sorted(shared_data.glob("*.json*"))), SplitSpec())
    labels = _point_labels(_chart(render_report(data), "Samples"))
    samples = [r.samples for r in data.reports]
    assert len(set(samples)) > 2
    assert len(labels) == len(samples)
    assert len(set(labels)) == len(set(samples)), labels


def test_trained_tokens_have_their_own_chart() -> None:
    data = collect_report(
        _records(EXAMPLES), SplitSpec(), budgets=[Budget(60), Budget(150), Budget(300)]
    )
    html = render_report(data)
    per_epoch = _chart(html, "Tokens per epoch (what one epoch reads)")
    trained = _chart(html, "Trained tokens per epoch (targets)")
    assert _tips(trained) == [
        f"trained per epoch at {r.budget}: {r.trained_tokens_per_epoch:,}" for r in data.reports
    ]
    assert all(tip.startswith("tokens per epoch at ") for tip in _tips(per_epoch))
    # its axis is its own: the top tick is near its largest value, not tokens per epoch's
    ticks = re.findall(r'text-anchor="end">([^<]*)</text>', trained)
    top = max(r.trained_tokens_per_epoch for r in data.reports)
    assert top <= float(ticks[-1]) < 2 * top


def test_tooltips_count_in_the_singular_and_plural(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "one.jsonl",
        _chat(("user", "Hi"), ("assistant", "Hello")),
        _chat(("user", "x " * 500), ("assistant", "A long question.")),
    )
    html = render_report(collect_report(_records(path), SplitSpec(), budgets=[Budget(4096)]))
    tips = _tips(_chart(html, "Tokens per conversation (whole, as one sample)"))
    assert tips and all(tip.endswith(": 1 conversation") for tip in tips), tips
    assert not re.search(r"\b1 (conversations|tokens|messages|turns)\b", html)


def test_finding_tables_leave_out_an_empty_message_column(messy: Path) -> None:
    html = render_report(collect_report(_records(messy), SplitSpec(), budgets=[Budget(512)]))

    def header(group: str) -> list[str]:
        part = html[html.index(f'id="{group}"') :]
        part = part[: part.index("</details>")]
        return next(iter(_Page(part).tables.values()))[0]

    assert header("findings-warning-duplicate") == ["record", "finding"]
    assert header("findings-error-unknown_role") == ["record", "message", "finding"]


def test_sweep_numbers_download_as_csv_from_the_page() -> None:
    data = collect_report(
        _records(EXAMPLES), SplitSpec(), budgets=[Budget(300), Budget(60), Budget(150)]
    )
    page = _Page(render_report(data))
    (link,) = [attrs for tag, attrs in page.tags if tag == "a" and attrs.get("id") == "sweep-csv"]
    assert link["download"] == "convsplit-sweep.csv"
    kind, _, body = str(link["href"]).partition(",")
    assert kind == "data:text/csv;charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(unquote(body))))
    assert [row["max_tokens"] for row in rows] == ["60", "150", "300"]
    for row, report in zip(rows, data.reports, strict=True):
        assert int(row["samples"]) == report.samples
        assert int(row["tokens_per_epoch"]) == report.tokens_per_epoch
        assert int(row["trained_tokens_per_epoch"]) == report.trained_tokens_per_epoch
        assert int(row["turns_skipped"]) == sum(report.skipped.values())
        assert int(row["assistant_turns"]) == report.turns
        assert float(row["history_kept_mean"]) == round(report.history_kept.mean / 1000, 6)
        assert int(row["skipped_target_too_long"]) == report.skipped.get("target_too_long", 0)
        assert float(row["amplification"]) == round(report.amplification or 0, 6)
    assert rows[0]["amplification"] == "1.09607"
    # a link followed or saved is not a fetch: the policy still forbids every load
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none';")


# -- in a browser -----------------------------------------------------------------------------


def _chromium_path() -> str | None:
    return (
        os.environ.get("CONVSPLIT_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )


#: Headless, no sandbox (tests may run as root in a container), and nothing in the
#: background that could reach the network on its own.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                  "--hide-scrollbars", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-default-apps", "--mute-audio")  # fmt: skip


class Chromium:
    """Headless Chromium and one page, driven over the DevTools protocol on a pipe.

    Every event of the page is kept in ``events`` (method, params), so a test can look at
    the requests it made and the errors it logged.
    """

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser, self._in = os.pipe()
        self._out, from_browser = os.pipe()

        def descriptors() -> None:  # Chromium reads commands on fd 3, answers on fd 4
            low, high = os.dup(to_browser), os.dup(from_browser)
            os.dup2(low, 3)
            os.dup2(high, 4)

        self.log = profile / "stderr.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                preexec_fn=descriptors,  # noqa: PLW1509 - single-threaded test set-up
                close_fds=False,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next = 0
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.session = ""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one command (to the page once attached) and return its result."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        try:
            os.write(self._in, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            status = self.process.wait(timeout=10)
            raise RuntimeError(f"Chromium exited with status {status}{self._stderr()}") from None
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply["result"])

    def wait_for(self, method: str, since: int) -> None:
        """Wait for an event named ``method`` after the first ``since`` events."""
        while not any(name == method for name, _ in self.events[since:]):
            self._read()

    def _read(self, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer within 30 s{self._stderr()}")
            chunk = os.read(self._out, 1 << 20)
            if not chunk:
                status = self.process.wait(timeout=10)
                raise RuntimeError(f"Chromium exited with status {status}{self._stderr()}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        if "method" in message and message.get("sessionId") == self.session:
            self.events.append((message["method"], message.get("params", {})))
        return message

    def _stderr(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines()[-5:]
        return "; its last words:\n" + "\n".join(lines) if lines else ""

    def open(self, url: str, *, width: int = 1280, height: int = 2000) -> int:
        """Load ``url`` in a ``width`` x ``height`` window; returns where its events start."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        start = len(self.events)
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired", start)
        return start

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (tests only: the page has none)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, height: int, top: float = 0) -> None:
        """A PNG of ``height`` pixels of the page from ``top``, at the window's width."""
        width = self.evaluate("document.documentElement.clientWidth")
        clip = {"x": 0, "y": top, "width": width, "height": height, "scale": 1}
        shot = self.call(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.session = ""
            self.call("Browser.close")
        except (RuntimeError, OSError, TimeoutError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._in)
        os.close(self._out)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    executable = _chromium_path()
    if executable is None:
        pytest.skip(
            "Chromium not found: install it (Debian: apt-get install -y chromium) or set "
            "CONVSPLIT_CHROMIUM to its path to run the browser tests"
        )
    chromium = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "a PNG file"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


CHART_BOXES = """[...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll('.mark')].map(m => m.getBBox())
    .filter(b => b.width > 0 && b.height > 0).length;
  return {label: svg.getAttribute('aria-label'), width: box.width, height: box.height,
          wanted: [+svg.getAttribute('width'), +svg.getAttribute('height')], marks};
})"""


def _report_file(tmp_path: Path, *inputs: Path, name: str = "report.html") -> Path:
    target = tmp_path / name
    write_report(target, collect_report(_records(*inputs), SplitSpec()), title="convsplit report")
    return target


def test_charts_render_at_their_size(browser: Chromium, tmp_path: Path) -> None:
    report = _report_file(tmp_path, EXAMPLES)
    browser.open(report.as_uri())
    charts = browser.evaluate(CHART_BOXES)
    assert [c["label"] for c in charts] == [
        "Tokens per conversation (whole, as one sample)",
        "Where the tokens are: share of all message tokens, by role",
        "Tokens per message, by role (p5 to p95, median)",
        "Samples",
        "Tokens per epoch (what one epoch reads)",
        "Trained tokens per epoch (targets)",
        "Turns skipped (share of assistant turns)",
        "History kept per sample (share of earlier tokens)",
    ]
    for chart in charts:
        assert [chart["width"], chart["height"]] == chart["wanted"], chart["label"]
        assert chart["marks"] > 0, f"{chart['label']}: nothing drawn"
    sweep = {c["label"]: c["marks"] for c in charts}
    assert sweep["Samples"] == len(DEFAULT_WINDOWS)
    assert sweep["Tokens per epoch (what one epoch reads)"] == len(DEFAULT_WINDOWS)
    assert sweep["Trained tokens per epoch (targets)"] == len(DEFAULT_WINDOWS)
    shot = tmp_path / "report.png"
    browser.screenshot(shot, height=2000)
    assert _png_size(shot) == (1280, 2000)
    assert shot.stat().st_size > 50_000, "a screenshot with something on it"


def test_real_data_report_renders(browser: Chromium, tmp_path: Path, shared_data: Path) -> None:
    report = _report_file(tmp_path, *sorted(shared_data.glob("*.json*")))
    browser.open(report.as_uri())
    for chart in browser.evaluate(CHART_BOXES):
        assert [chart["width"], chart["height"]] == chart["wanted"], chart["label"]
        assert chart["marks"] > 0, f"{chart['label']}: nothing drawn"
    browser.screenshot(tmp_path / "real.png", height=2600)


def _requests(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [p["request"]["url"] for name, p in events if name == "Network.requestWillBeSent"]


def _logged(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [
        str(p.get("entry", {}).get("text", p))
        for name, p in events
        if name in ("Log.entryAdded", "Runtime.exceptionThrown", "Runtime.consoleAPICalled")
    ]


def test_page_makes_no_network_request(browser: Chromium, tmp_path: Path, messy: Path) -> None:
    report = _report_file(tmp_path, messy)
    start = browser.open(report.as_uri())
    assert _requests(browser.events[start:]) == [report.as_uri()], "the document, nothing else"
    assert _logged(browser.events[start:]) == [], "no policy violation, no error"


def test_the_recorder_sees_what_the_policy_blocks(browser: Chromium, tmp_path: Path) -> None:
    """The check above would pass vacuously if blocked loads went unrecorded: they do not."""
    canary = tmp_path / "canary.html"
    canary.write_text(
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<img src="http://127.0.0.1:9/probe.png"><script>window.ran = 1</script>',
        encoding="utf-8",
    )
    start = browser.open(canary.as_uri())
    assert "http://127.0.0.1:9/probe.png" in _requests(browser.events[start:])
    logged = " ".join(_logged(browser.events[start:]))
    assert "Content Security Policy" in logged and "inline script" in logged
    assert browser.evaluate("window.ran === undefined")


def test_hostile_text_does_not_run(browser: Chromium, tmp_path: Path, messy: Path) -> None:
    browser.open(_report_file(tmp_path, messy).as_uri())
    assert browser.evaluate("window.__pwned === undefined")
    assert browser.evaluate("document.querySelectorAll('script, img, iframe').length") == 0
    # Line 7's hostile role is an error, so its record is shown (line 2's only has notes).
    shown = browser.evaluate(f"document.getElementById('{record_anchor(0, 7)}').textContent")
    assert HOSTILE in shown


def test_a_finding_link_takes_you_to_its_record(
    browser: Chromium, tmp_path: Path, messy: Path
) -> None:
    browser.open(_report_file(tmp_path, messy).as_uri(), height=900)
    link = "#findings table.findings a"
    anchor = browser.evaluate(f"document.querySelector('{link}').getAttribute('href')")
    browser.evaluate(f"document.querySelector('{link}').click()")
    assert browser.evaluate("location.hash") == anchor
    top = browser.evaluate(f"document.querySelector('{anchor}').getBoundingClientRect().top")
    at_end = browser.evaluate("scrollY + innerHeight >= document.documentElement.scrollHeight - 1")
    assert browser.evaluate("scrollY") > 0
    assert 0 <= top < 20 or (at_end and top < 900), "the record is at the top of the window"
    assert browser.evaluate(f"document.querySelector('{anchor}').matches(':target')")
    browser.screenshot(tmp_path / "record.png", height=900, top=browser.evaluate("scrollY"))
