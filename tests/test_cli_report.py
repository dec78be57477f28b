"""``convsplit report``: one HTML file, and one line on stderr saying what it found."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import EXAMPLES, run


def test_report_writes_the_page_and_one_line(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = run("report", str(EXAMPLES), "-o", str(out), "--title", "Examples")
    assert (done.returncode, done.stdout, done.stderr.decode()) == (
        0,
        b"",
        f"{out}: 4 conversations (0 records rejected), 15 assistant turns; "
        "0 errors, 1 warning, 5 notes\n",
    )
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Examples</title>" in page
    assert page.count('<tr><td class="num">') == 8, "the default sweep: 512 to 128k"


def test_report_to_stdout_with_chosen_windows() -> None:
    done = run("report", str(EXAMPLES), "-o", "-", "--max-tokens", "60", "--max-tokens", "150")
    assert done.returncode == 0
    assert done.stdout.startswith(b"<!DOCTYPE html>")
    assert b'<tr><td class="num">60</td>' in done.stdout
    assert b'<tr><td class="num">150</td>' in done.stdout
