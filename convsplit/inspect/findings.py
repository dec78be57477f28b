"""What validation finds: a :class:`Finding`, its :class:`Severity` and the codes it may carry.

The checks live in :mod:`convsplit.inspect.validation`; the text summaries and the HTML
report read findings only, so they need nothing but this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from convsplit.errors import OptionHint


class Severity(str, Enum):
    """How bad a finding is."""

    ERROR = "error"
    """The record cannot be trained as it is (a trainer or upload would reject it)."""
    WARNING = "warning"
    """It will train, but probably not the way you meant."""
    INFO = "info"
    """Worth knowing; often intended."""


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}

#: Every finding code, its severity and what it means.
FINDING_CODES: Mapping[str, tuple[Severity, str]] = {
    "invalid_json": (Severity.ERROR, "the record is not valid JSON"),
    "not_an_object": (Severity.ERROR, "the record is not a JSON object"),
    "unknown_format": (Severity.ERROR, "the record is in no format convsplit reads"),
    "preference_data": (
        Severity.ERROR,
        "preference data (chosen and rejected answers, or a KTO label): not conversations to train",
    ),
    "missing_messages": (Severity.ERROR, "no (or an empty) list of messages"),
    "message_not_an_object": (Severity.ERROR, "a message is not a JSON object"),
    "missing_role": (Severity.ERROR, "a message has no role"),
    "unknown_role": (Severity.ERROR, "a message's role is not one the format knows"),
    "invalid_record": (Severity.ERROR, "the record does not parse (wrong field type...)"),
    "missing_content": (Severity.ERROR, "a message has no content"),
    "empty_content": (Severity.ERROR, "a message's content is empty or blank"),
    "empty_tool_result": (Severity.WARNING, "a tool result has no content"),
    "no_assistant_message": (Severity.ERROR, "nothing to train: no assistant message"),
    "orphan_tool_result": (Severity.ERROR, "a tool result answers no earlier tool call"),
    "consecutive_same_role": (
        Severity.ERROR,
        "two messages of one side in a row, which the output format forbids",
    ),
    "unknown_key": (Severity.WARNING, "a field the format does not define (dropped on write)"),
    "unhonoured_flag": (
        Severity.WARNING,
        "a training flag (axolotl's train, weight) read but not honoured as written",
    ),
    "no_user_message": (Severity.WARNING, "no user message: nothing prompts the assistant"),
    "assistant_before_user": (Severity.WARNING, "an assistant message before any user one"),
    "unanswered_tool_call": (Severity.WARNING, "a tool call with no result after it"),
    "duplicate": (Severity.WARNING, "the same messages as an earlier record"),
    "special_token": (Severity.WARNING, "text containing a chat template's control marker"),
    "target_too_long": (Severity.WARNING, "an assistant turn too long for the budget alone"),
    "near_duplicate": (Severity.INFO, "same first user and assistant message as earlier"),
    "no_system_message": (Severity.INFO, "no system message"),
    "over_budget": (Severity.INFO, "the whole conversation exceeds the budget (it is split)"),
}


@dataclass(frozen=True)
class Finding:
    """One problem in one record.

    ``message_index`` counts the messages of the record as written in the file (for
    ShareGPT, the turns of ``conversations``), except for checks on the parsed
    conversation, where it counts its messages. ``related_lineno`` points at the earlier
    record a duplicate repeats. ``hints`` are the option settings ``message`` suggests, each
    worded there as its ``str()`` (``output_format='preference'``), so that the command line
    can word them as its flags (``--to preference``).
    """

    code: str
    severity: Severity
    path: str
    lineno: int
    message: str
    message_index: int | None = None
    field: str | None = None
    related_lineno: int | None = None
    hints: tuple[OptionHint, ...] = ()

    def __str__(self) -> str:
        return (
            f"{self.path} line {self.lineno}: {self.severity.value}: {self.message} [{self.code}]"
        )


def severity_of(code: str) -> Severity:
    """The severity a finding ``code`` has unless its check says otherwise.

    >>> severity_of("duplicate"), severity_of("no_system_message")
    (<Severity.WARNING: 'warning'>, <Severity.INFO: 'info'>)
    """
    return FINDING_CODES[code][0] if code in FINDING_CODES else Severity.WARNING


def group_order(group: tuple[Severity, str]) -> tuple[int, str]:
    """Sort key of a (severity, code) group: errors first, then warnings, then notes; by code.

    >>> sorted([(Severity.INFO, "a"), (Severity.ERROR, "b")], key=group_order)
    [(<Severity.ERROR: 'error'>, 'b'), (<Severity.INFO: 'info'>, 'a')]
    """
    return _SEVERITY_RANK[group[0]], group[1]


def group_findings(findings: Iterable[Finding]) -> dict[tuple[Severity, str], list[Finding]]:
    """The findings of each (severity, code), in the order found; most severe groups first.

    A code can come at two severities (a field the format does not define is a note at the
    record's top level, a warning inside a message), so each is its own group.

    >>> f = Finding("duplicate", Severity.WARNING, "a.jsonl", 3, "same as line 1")
    >>> g = Finding("no_system_message", Severity.INFO, "a.jsonl", 3, "no system message")
    >>> {code: [x.lineno for x in group] for (_, code), group in group_findings([g, f]).items()}
    {'duplicate': [3], 'no_system_message': [3]}
    """
    groups: dict[tuple[Severity, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.severity, finding.code), []).append(finding)
    return dict(sorted(groups.items(), key=lambda item: group_order(item[0])))


class RecordFindings:
    """The findings of one record, in the order they were found."""

    def __init__(self, path: str, lineno: int) -> None:
        self.path = path
        self.lineno = lineno
        self.items: list[Finding] = []

    def add(
        self,
        code: str,
        message: str,
        *,
        index: int | None = None,
        field: str | None = None,
        related: int | None = None,
        severity: Severity | None = None,
        hints: Iterable[OptionHint] = (),
    ) -> None:
        self.items.append(
            Finding(
                code=code,
                severity=severity or severity_of(code),
                path=self.path,
                lineno=self.lineno,
                message=message,
                message_index=index,
                field=field,
                related_lineno=related,
                hints=tuple(hints),
            )
        )
