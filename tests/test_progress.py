"""The progress line: on stderr when it is a terminal, absent when it is not."""

from __future__ import annotations

import gzip
import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from convsplit.run.progress import Progress, input_size
from convsplit.run.report import Report
from tests.test_cli import EXAMPLES, run


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


def _on_a_terminal(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``convsplit ARGS`` with stderr on a pseudo-terminal; its exit status and screen."""
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "convsplit", *args],
            stderr=terminal, stdout=subprocess.DEVNULL, check=False, timeout=120,
            env={**os.environ, "TERM": "xterm", **(env or {})},
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
    return done.returncode, screen.decode()


def test_the_cli_draws_progress_on_a_real_terminal(tmp_path: Path) -> None:
    status, text = _on_a_terminal("split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl"))
    assert status == 0
    assert "records (" in text and "tokens/s" in text and "ETA" in text
    assert "\r\x1b[Kconversations: 4 of 4 records" in text  # the line is cleared first
    assert "samples: 14 (2,443 tokens, 489 trained)\r\nnote: to train exactly" in text


def test_a_folder_input_keeps_its_percentage_and_eta(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(3):
        (folder / f"{k}.jsonl").write_bytes(EXAMPLES.read_bytes())
    with gzip.open(folder / "3.jsonl.gz", "wb") as packed:
        packed.write(EXAMPLES.read_bytes())
    status, text = _on_a_terminal("split", str(folder), "-o", str(tmp_path / "o.jsonl"))
    assert status == 0
    drawn = re.findall(r"\r\x1b\[K *(\d+\.\d)% [\d,]+ records \(", text)
    assert drawn, text
    assert all(0 <= float(p) <= 100 for p in drawn)
    assert "ETA" in text


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["stats"], id="stats"),
        pytest.param(["validate"], id="validate"),
        pytest.param(["report", "-o", "{out}"], id="report"),
    ],
)
def test_every_long_command_draws_one_progress_line(tmp_path: Path, command: list[str]) -> None:
    args = [a.replace("{out}", str(tmp_path / "r.html")) for a in command]
    status, text = _on_a_terminal(args[0], str(EXAMPLES), *args[1:])
    assert status in (0, 3)
    assert re.search(r"\r\x1b\[K *\d+\.\d% \d records \([\d,]+/s\), ETA \d+s\r\x1b\[K", text), text
    assert "tokens/s" not in text  # these commands do not split into samples
    assert text.count("\r\x1b[K") >= 2  # drawn, then cleared: one line, rewritten


def test_the_line_is_absent_when_not_a_terminal_or_on_a_dumb_one(tmp_path: Path) -> None:
    piped = run("stats", str(EXAMPLES))
    assert b"\x1b" not in piped.stderr and b"\r" not in piped.stderr
    status, text = _on_a_terminal("validate", str(EXAMPLES), env={"TERM": "dumb"})
    assert (status, "\x1b" in text, "records (" in text) == (3, False, False)


def test_input_size_counts_what_a_gzip_file_holds(tmp_path: Path) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(EXAMPLES.read_bytes())
    packed = tmp_path / "b.jsonl.gz"
    with gzip.open(packed, "wb") as out:
        out.write(EXAMPLES.read_bytes() * 3)
    size = len(EXAMPLES.read_bytes())
    assert input_size([str(plain), str(packed)]) == size * 4
    assert input_size([str(plain), "-"]) is None
    assert input_size([str(tmp_path / "missing.jsonl")]) is None
