"""The Dask engine's progress: finished partitions, plus where each running one has got.

A running task logs its counts every second or so as an event of the run's topic on the
scheduler (:func:`~._dask_tasks.progress_sender`); while the client waits, it reads them
(every half second at most) and shows the finished parts' totals plus each running part's
latest counts. So the line moves within a partition, not only when one ends, for the
price of one small message per task per second.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from convsplit.integrations._dask_tasks import PartResult, counts
from convsplit.run.report import Report

#: Seconds between the client's reads of the running tasks' events.
POLL_SECONDS = 0.5


def new_topic() -> str:
    """A topic of its own for one run's progress events."""
    return f"convsplit-progress-{uuid.uuid4().hex}"


class RunningProgress:
    """Calls ``progress`` with the run's report so far: finished parts plus running ones."""

    def __init__(
        self, progress: Callable[[Report], None], client: Any, topic: str, started: float
    ) -> None:
        self.progress = progress
        self.client = client
        self.topic = topic
        self.started = started
        self.finished = Report()
        self.done_parts: set[str] = set()
        self.running: dict[str, Mapping[str, int]] = {}
        self._last = 0.0

    def part_done(self, result: PartResult) -> None:
        """A part has finished: its report replaces its last sent counts."""
        self.finished.add(result.report)
        self.done_parts.add(result.part)
        self.running.pop(result.part, None)
        self._show()

    def poll(self) -> None:
        """Read the running parts' latest counts (at most every :data:`POLL_SECONDS`)."""
        now = time.monotonic()
        if now - self._last < POLL_SECONDS:
            return
        self._last = now
        self.take(message for _, message in self.client.get_events(self.topic))
        self._show()

    def take(self, messages: Iterable[Mapping[str, Any]]) -> None:
        """Keep each running part's latest counts from its events, in the order sent."""
        for message in messages:
            part = str(message.get("part", ""))
            if part not in self.done_parts:
                self.running[part] = message

    def report(self) -> Report:
        """The run so far, as one report.

        >>> running = RunningProgress(print, None, "t", 0.0)
        >>> running.take([{"part": "part-00001.jsonl", "records": 7, "input_bytes": 700,
        ...                "sample_tokens": 90}])
        >>> running.report().records, running.report().input_bytes
        (7, 700)
        """
        total = Report()
        total.add(self.finished)
        for sent in self.running.values():
            for key in counts(total):
                setattr(total, key, getattr(total, key) + int(sent.get(key, 0)))
        total.seconds = time.perf_counter() - self.started
        return total

    def _show(self) -> None:
        self.progress(self.report())
