"""A one-line progress display on stderr, shown only when stderr is a terminal.

Every long command draws the same line: records and their rate, tokens per second where
the command counts them, and, where the size of the inputs is known up front (files, not
standard input; a gzip file by the size it says it holds), percent done and the time
left. Piped or redirected, it draws nothing, so logs hold only the summary. It uses no
colour, only a carriage return and "erase line", and none at all on a ``TERM=dumb``
terminal.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from typing import IO

from convsplit.run.report import Report


def input_size(paths: Iterable[str]) -> int | None:
    """The bytes a run will read from ``paths``, or None where that is not known in advance
    (standard input, a name that cannot be measured).

    A ``.gz`` file counts what it holds, as read: gzip records that size (modulo 4 GiB) in
    its last four bytes; a file where that record cannot be right (a size below the
    compressed one, which multi-gigabyte files wrap to) counts four times its compressed
    size, a typical ratio for JSON.

    >>> input_size(["-"]) is None
    True
    """
    total = 0
    for path in paths:
        if path == "-":
            return None
        try:
            size = os.path.getsize(path)
            total += _gzip_content_size(path, size) if path.endswith(".gz") else size
        except OSError:
            return None
    return total or None


def _gzip_content_size(path: str, size: int) -> int:
    with open(path, "rb") as file:
        if size < 18 or file.read(2) != b"\x1f\x8b":  # not gzip after all: read as it is
            return size
        file.seek(-4, os.SEEK_END)
        recorded = int.from_bytes(file.read(4), "little")
    return recorded if recorded >= size else 4 * size


class Progress:
    """Records/s, tokens/s and, where the input size is known, percent done and ETA.

    Call it with a run's :class:`~convsplit.run.report.Report` (``split``), or
    :meth:`advance` it record by record (``stats``, ``validate``, ``report``).
    """

    def __init__(self, total_bytes: int | None, *, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.total_bytes = total_bytes
        self._last = 0.0
        self._started = time.monotonic()
        self._records = 0
        self._bytes = 0

    def __call__(self, report: Report) -> None:
        self._draw(report.records, report.input_bytes, report.seconds, report.sample_tokens)

    def advance(self, input_bytes: int) -> None:
        """One more record read, of ``input_bytes`` bytes."""
        self._records += 1
        self._bytes += input_bytes
        if self.enabled:
            self._draw(self._records, self._bytes, time.monotonic() - self._started, None)

    def _draw(self, records: int, input_bytes: int, seconds: float, tokens: int | None) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.2:
            return
        self._last = now
        seconds = max(seconds, 1e-9)
        line = f"{records:,} records ({records / seconds:,.0f}/s)"
        if tokens is not None:
            line += f", {tokens / seconds:,.0f} tokens/s"
        if self.total_bytes:
            done = min(input_bytes / self.total_bytes, 1.0)
            eta = seconds * (1 - done) / done if done > 0 else 0.0
            line = f"{done:6.1%} {line}, ETA {eta:,.0f}s"
        self.stream.write(f"\r\x1b[K{line}")
        self.stream.flush()

    def close(self) -> None:
        """Clear the line so the summary starts clean."""
        if self.enabled and self._last:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
