"""Preference data where ``validate`` and ``stats`` meet it.

For a preference output (``validate --to preference`` or ``--to kto``) each record is read
as that output reads it, so what ``split`` would reject is an ``invalid_record`` error naming
the field, and what it would skip is reported with its reason (an answer that no prompt can
hold within ``--max-tokens``: ``target_too_long``). For an SFT output, a record that
``split`` refuses as preference data is a ``preference_data`` error naming the output that
writes it, as ``split`` words it, never a record of no known format; and
:class:`RejectReasons` counts why ``stats`` rejected records, preference data by kind.

Records whose text is not JSON convsplit reads (invalid, nested too deep, too big) are
left to the ordinary checks, which report them the same for every output.
"""

from __future__ import annotations

from collections.abc import Mapping

from convsplit.core.preference import prepare_judged
from convsplit.errors import InvalidConversationError, OptionHint
from convsplit.formats import Record, parse_json, rename_fields
from convsplit.formats.preference import PREFERENCE_DATA, PreferenceKind, preference_kind
from convsplit.inspect.findings import Finding, RecordFindings
from convsplit.samples import SkipReason
from convsplit.spec import SplitSpec

#: The finding of each reason an answer is skipped, and whether it is reported only when
#: the budget is checked.
_SKIPS: dict[SkipReason, tuple[str, bool]] = {
    SkipReason.EMPTY_TARGET: ("empty_content", False),
    SkipReason.NO_USER_BEFORE: ("no_user_message", False),
    SkipReason.TARGET_TOO_LONG: ("target_too_long", True),
    SkipReason.TOO_LITTLE_CONTEXT: ("target_too_long", True),
}


def check_judged(
    record: Record, spec: SplitSpec, kind: PreferenceKind, *, check_tokens: bool
) -> list[Finding] | None:
    """The findings of ``record`` read as preference data of ``kind``; None for a record
    whose text is not JSON convsplit reads (the ordinary checks report it).

    >>> import io
    >>> from convsplit.formats import read_records
    >>> data = io.BytesIO(b'{"prompt": "Hi", "chosen": "Hello"}\\n')
    >>> (record,) = read_records(data, name="d.jsonl")
    >>> spec = SplitSpec(output_format="preference")
    >>> for finding in check_judged(record, spec, "pairwise", check_tokens=False):
    ...     print(finding)
    d.jsonl line 1: error: field 'rejected' is missing: a preference record needs both \
'chosen' and 'rejected' [invalid_record]
    """
    try:
        value = parse_json(record.raw)
    except ValueError:  # orjson's JSONDecodeError, the depth limit's too
        return None
    found = RecordFindings(record.path, record.lineno)
    try:
        result = prepare_judged(value, spec, kind=kind).split()
    except InvalidConversationError as refused:
        found.add("invalid_record", refused.reason, field=refused.field, hints=refused.hints)
        return found.items
    for outcome in result.skipped:
        if outcome.reason is None:
            continue
        code, needs_budget = _SKIPS.get(outcome.reason, ("target_too_long", True))
        if check_tokens or not needs_budget:
            found.add(
                code,
                f"the answer is never written: {outcome.reason.value} (max_tokens "
                f"{spec.budget.max_tokens})",
            )
    return found.items


def preference_finding(
    record: Record, fields: Mapping[str, str] | None = None
) -> list[Finding] | None:
    """For an SFT output: the finding of ``record`` if it is preference data, as ``split``
    rejects it; None for any other record (the ordinary checks report it).

    ``preference_data`` for a record ``split`` refuses as preference data, its remedy the
    output that writes it; ``invalid_record`` naming the field for one that would not read
    as preference data either (a pair with no ``rejected``), told by ``split``'s own test
    (:func:`~convsplit.formats.preference.preference_kind`) on the record as read with
    ``fields``.

    >>> import io
    >>> from convsplit.formats import read_records
    >>> data = io.BytesIO(b'{"prompt": "2+2?", "chosen": "4", "rejected": "5"}\\n'
    ...                   b'{"prompt": "Hi", "chosen": "Hello"}\\n')
    >>> for record in read_records(data, name="d.jsonl"):
    ...     (finding,) = preference_finding(record) or ()
    ...     print(f"{finding.code}: {finding.message.split(':')[0]}")
    preference_data: a preference record (chosen and rejected answers) is not SFT data
    invalid_record: field 'rejected' is missing
    """
    error = record.error
    if error is None:
        return None
    code = "preference_data"
    if refused_for(error) is None:
        try:
            value = parse_json(record.raw)
            if fields:
                value = rename_fields(value, fields)
        except ValueError:  # not JSON convsplit reads; InvalidConversationError: fields
            return None
        if preference_kind(value) is None:
            return None
        code = "invalid_record"
    found = RecordFindings(record.path, record.lineno)
    message = error.reason.removeprefix(f"{PREFERENCE_DATA}: ")
    found.add(code, message, field=error.field, hints=error.hints)
    return found.items


def refused_for(error: InvalidConversationError | None) -> str | None:
    """The preference output (``preference`` or ``kto``) that writes a record ``split``
    refused with ``error`` as preference data (its reason ``preference_data``, its remedy
    that output); None for any other error.

    >>> from convsplit.formats.preference import preference_data_error
    >>> refused_for(preference_data_error("unpaired")), refused_for(None)
    ('kto', None)
    """
    if error is None or not error.reason.startswith(f"{PREFERENCE_DATA}:"):
        return None
    outputs = (h.values for h in error.hints if h.option == "output_format")
    return next((values[0] for values in outputs if len(values) == 1), None)


#: How a line of :meth:`RejectReasons.lines` names each preference output's records.
_NOUNS = {"preference": "preference data", "kto": "KTO data (judged answers)"}


class RejectReasons:
    """Why records were rejected, counted by kind: preference data by the output that
    writes it, and the rest, with the first one's reason.

    >>> import io
    >>> from convsplit.formats import read_records
    >>> data = io.BytesIO(b'{"prompt": "2+2?", "chosen": "4", "rejected": "5"}\\n"Hi"\\n')
    >>> reasons = RejectReasons()
    >>> for record in read_records(data, name="d.jsonl"):
    ...     reasons.add(record, record.error)
    >>> for text, hints in reasons.lines():
    ...     print(text)
    1 is preference data: split it with output_format='preference'
    1 cannot be read: d.jsonl line 2: expected a JSON object (a conversation); got a string
    """

    def __init__(self) -> None:
        self.preference: dict[str, int] = {}
        self.other = 0
        self.first_other: InvalidConversationError | None = None

    def add(self, record: Record, error: InvalidConversationError | None) -> None:
        """Count one rejected record, refused with ``error`` (None: no reason known)."""
        output = refused_for(error)
        if output is not None:
            self.preference[output] = self.preference.get(output, 0) + 1
            return
        self.other += 1
        if self.first_other is None:
            reason = "no reason given" if error is None else error.reason
            hints = () if error is None else error.hints
            self.first_other = InvalidConversationError(
                reason, path=record.path, lineno=record.lineno, hints=hints
            )

    def lines(self) -> list[tuple[str, tuple[OptionHint, ...]]]:
        """A line per kind, most first, with the option settings it words (its hints)."""
        found: list[tuple[int, str, tuple[OptionHint, ...]]] = []
        for output, n in self.preference.items():
            hint = OptionHint("output_format", (output,))
            verb, them = ("is", "it") if n == 1 else ("are", "them")
            found.append(
                (n, f"{n:,} {verb} {_NOUNS.get(output, output)}: split {them} with {hint}", (hint,))
            )
        first = self.first_other
        if self.other and first is not None:
            what = (
                "1 cannot be read"
                if self.other == 1
                else f"{self.other:,} cannot be read; the first"
            )
            found.append((self.other, f"{what}: {first}", first.hints))
        found.sort(key=lambda item: -item[0])
        return [(text, hints) for _, text, hints in found]
