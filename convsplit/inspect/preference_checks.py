"""Validating preference data for a preference output (``validate --to preference`` or
``--to kto``): each record is read as that output reads it, so what ``split`` would reject
is an ``invalid_record`` error naming the field, and what it would skip is reported with its
reason (an answer that no prompt can hold within ``--max-tokens``: ``target_too_long``).

Records whose text is not JSON convsplit reads (invalid, nested too deep, too big) are
left to the ordinary checks, which report them the same for every output.
"""

from __future__ import annotations

from convsplit.core.preference import prepare_judged
from convsplit.errors import InvalidConversationError
from convsplit.formats import Record, parse_json
from convsplit.formats.preference import PreferenceKind
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
        found.add("invalid_record", refused.reason, field=refused.field)
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
