"""A one-line progress display on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import IO

from convsplit.run.report import Report


class Progress:
    """Records/s, tokens/s and, where the input size is known, percent done and ETA."""

    def __init__(self, total_bytes: int | None, *, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.total_bytes = total_bytes
        self._last = 0.0

    def __call__(self, report: Report) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.2:
            return
        self._last = now
        seconds = max(report.seconds, 1e-9)
        line = (
            f"{report.records:,} records ({report.records / seconds:,.0f}/s), "
            f"{report.sample_tokens / seconds:,.0f} tokens/s"
        )
        if self.total_bytes:
            done = min(report.input_bytes / self.total_bytes, 1.0)
            eta = seconds * (1 - done) / done if done > 0 else 0.0
            line = f"{done:6.1%} {line}, ETA {eta:,.0f}s"
        self.stream.write(f"\r\x1b[K{line}")
        self.stream.flush()

    def close(self) -> None:
        """Clear the line so the summary starts clean."""
        if self.enabled and self._last:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
