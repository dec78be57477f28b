"""Checks on a record as written, before it is read as a conversation: JSON, an object, a
list of messages, known roles and keys, in the shape of the format it was detected as (each
format object's own ``check``, :class:`~convsplit.formats.Format`).

``message_index`` here counts the messages as written (for ShareGPT, the turns of
``conversations``).
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from convsplit.errors import InvalidConversationError
from convsplit.formats import Record, detect_format, get_format, rename_fields
from convsplit.formats.json_text import json_type
from convsplit.inspect.findings import RecordFindings, Severity


def check_written(
    record: Record,
    role_map: Mapping[str, str],
    found: RecordFindings,
    fields: Mapping[str, str] | None = None,
) -> None:
    """Add the findings of ``record`` as written (its fields renamed by ``fields``)."""
    error = record.error
    try:
        value = orjson.loads(record.raw)
    except orjson.JSONDecodeError:
        found.add("invalid_json", _reason(error) or "the record is not valid JSON")
        return
    if isinstance(value, list):  # a bare list of messages reads as OpenAI's messages
        value = {"messages": value}
    if not isinstance(value, dict):
        found.add("not_an_object", f"the record is {json_type(value)}, not a JSON object")
        return
    try:
        value = rename_fields(value, fields or {})
        kind = detect_format(value, role_map=role_map)
    except InvalidConversationError as detect_error:
        found.add("unknown_format", _reason(detect_error), hints=detect_error.hints)
        return
    check = get_format(kind).check
    for issue in check(value, role_map) if check is not None and isinstance(value, dict) else ():
        severity = None if issue.severity is None else Severity(issue.severity)
        found.add(
            issue.code,
            issue.message,
            index=issue.index,
            field=issue.field,
            severity=severity,
            hints=issue.hints,
        )
    if error is not None and not any(f.severity is Severity.ERROR for f in found.items):
        found.add("invalid_record", _reason(error), field=error.field, hints=error.hints)


def _reason(error: InvalidConversationError | None) -> str:
    return error.reason if error is not None else ""
