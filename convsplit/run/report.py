"""The accounting of a run, and what it keeps of a record it could not read."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from convsplit.errors import OptionHint
from convsplit.samples import Sample, SplitResult

FIRST_REJECTS = 5  # distinct reasons a report keeps an example of


@dataclass(frozen=True)
class Reject:
    """A record that could not be read: where it is, why, and its exact bytes."""

    path: str
    line: int | None
    reason: str
    field: str | None
    record: bytes
    hints: tuple[OptionHint, ...] = ()  # the remedies its reason words

    def where(self) -> dict[str, Any]:
        """Where and why, without the record: for reports and summaries."""
        return {"path": self.path, "line": self.line, "reason": self.reason}

    def as_dict(self) -> dict[str, Any]:
        """The rejects file's entry: where, why, and the record's exact bytes, as text where
        they are UTF-8, else base64 (``record_base64``), so that nothing is altered."""
        entry: dict[str, Any] = {**self.where(), "field": self.field}
        try:
            entry["record"] = self.record.decode("utf-8")
        except UnicodeDecodeError:
            entry["record_base64"] = base64.b64encode(self.record).decode("ascii")
        return entry

    def json_line(self) -> bytes:
        """The entry as one line of the rejects file."""
        return orjson.dumps(self.as_dict()) + b"\n"


@dataclass
class Report:
    """The accounting of a run: records in = split + rejected; turns in = targeted + skipped."""

    files: list[str] = field(default_factory=list)
    records: int = 0
    conversations: int = 0
    rejected: int = 0
    assistant_turns: int = 0
    without_turns: int = 0
    """Conversations read whole that hold no assistant turn: nothing of them to train."""
    targeted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    sample_tokens: int = 0
    training_tokens: int = 0
    input_bytes: int = 0
    seconds: float = 0.0
    first_rejects: list[Reject] = field(default_factory=list)
    """The first reject of each of the first few reasons."""

    def add(self, other: Report) -> None:
        """Fold another report's counts into this one."""
        for reject in other.first_rejects:
            self.note_reject(reject)
        self.records += other.records
        self.conversations += other.conversations
        self.rejected += other.rejected
        self.assistant_turns += other.assistant_turns
        self.without_turns += other.without_turns
        self.targeted += other.targeted
        for reason, n in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + n
        self.samples += other.samples
        self.sample_tokens += other.sample_tokens
        self.training_tokens += other.training_tokens
        self.input_bytes += other.input_bytes

    def reject(self, reject: Reject) -> None:
        """Account for one record that could not be read; keep it if it is the first of
        one of the first few reasons."""
        self.records += 1
        self.rejected += 1
        self.note_reject(reject)

    def note_reject(self, reject: Reject) -> None:
        """Keep ``reject`` if it is the first of one of the first few reasons."""
        if len(self.first_rejects) < FIRST_REJECTS and all(
            kept.reason != reject.reason for kept in self.first_rejects
        ):
            self.first_rejects.append(reject)

    def count(self, result: SplitResult) -> None:
        """Account for one split conversation."""
        self.records += 1
        self.conversations += 1
        self.assistant_turns += len(result.outcomes)
        self.without_turns += not result.outcomes
        for outcome in result.outcomes:
            if outcome.reason is None:
                self.targeted += 1
            else:
                key = outcome.reason.value
                self.skipped[key] = self.skipped.get(key, 0) + 1
        self.count_samples(result.samples)

    def count_samples(self, samples: Sequence[Sample]) -> None:
        """Account for samples written (a conversation's, or a part of them)."""
        self.samples += len(samples)
        for sample in samples:
            self.sample_tokens += sample.total_tokens
            self.training_tokens += sample.target_tokens

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the first rejects without their records)."""
        data = asdict(self)
        data["skipped"] = dict(sorted(self.skipped.items()))
        data["first_rejects"] = [r.where() for r in self.first_rejects]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """A report back from :meth:`as_dict`."""
        first = [
            Reject(r["path"], r["line"], r["reason"], None, b"") for r in data["first_rejects"]
        ]
        return cls(**{**data, "first_rejects": first})

    def to_json(self) -> str:
        """The report as pretty JSON (what ``--report FILE`` writes)."""
        data = self.as_dict()
        data["seconds"] = round(self.seconds, 3)
        return json.dumps(data, indent=2) + "\n"

    def summary(self, *, unit: str = "conversation") -> str:
        """A few lines for people, as printed on stderr at the end of a run. ``unit``
        names what a record is: a ``pair`` (or ``judged answer``) for preference data,
        each one written row (its tokens: the prompt with the longer answer) or skipped."""
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{n:,} {r}" for r, n in sorted(self.skipped.items()))
        skips = f"{skipped:,} skipped{': ' + reasons if reasons else ''}"
        head = (
            f"{unit}s: {self.conversations:,} of {self.records:,} "
            f"{'record' if self.records == 1 else 'records'} "
            f"({self.rejected:,} rejected)"
        )
        if unit != "conversation":
            answer = "the longer answer" if unit == "pair" else "its answer"
            return "\n".join([
                head,
                f"{unit}s written: {self.targeted:,} ({skips})",
                f"tokens: {self.sample_tokens:,} (each prompt with {answer}), "
                f"{self.training_tokens:,} of them in answers",
            ])  # fmt: skip
        lines = [head]
        if self.without_turns:
            some = f"{self.without_turns:,} of them hold" if self.without_turns > 1 else "1 holds"
            lines.append(
                f"  {some} no assistant turn: nothing to train (convsplit validate lists them)"
            )
        lines += [
            f"assistant turns: {self.assistant_turns:,} ({self.targeted:,} trained, {skips})",
            f"samples: {self.samples:,} ({self.sample_tokens:,} tokens, "
            f"{self.training_tokens:,} trained)",
        ]
        return "\n".join(lines)
