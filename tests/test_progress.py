"""The progress line: on stderr when it is a terminal, absent when it is not."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

from convsplit.run.progress import Progress
from convsplit.run.report import Report
from tests.test_cli import EXAMPLES


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_rates_and_eta_on_a_terminal() -> None:
    screen = _Terminal()
    progress = Progress(1000, stream=screen)
    progress(Report(records=50, input_bytes=250, sample_tokens=10_000, seconds=2.0))
    assert screen.getvalue() == "\r\x1b[K 25.0% 50 records (25/s), 5,000 tokens/s, ETA 6s"
    progress.close()
    assert screen.getvalue().endswith("\r\x1b[K")


def test_progress_is_silent_when_not_a_terminal() -> None:
    piped = io.StringIO()
    progress = Progress(1000, stream=piped)
    progress(Report(records=50, input_bytes=250, seconds=2.0))
    progress.close()
    assert piped.getvalue() == ""


def test_the_cli_draws_progress_on_a_real_terminal(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "convsplit", "split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl")],
            stderr=terminal, stdout=subprocess.DEVNULL, check=False, timeout=120,
        )  # fmt: skip
        os.close(terminal)
        terminal = -1
        screen = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)
    assert done.returncode == 0
    text = screen.decode()
    assert "records (" in text and "tokens/s" in text and "ETA" in text
    assert "\r\x1b[Kconversations: 4 of 4 records" in text  # the line is cleared first
    assert "samples: 14 (2,443 tokens, 489 trained)\r\nnote: to train exactly" in text
