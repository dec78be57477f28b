"""Checks on a record as written, before it is read as a conversation: JSON, an object, a
list of messages, known roles and keys, in the shape of the format it was detected as.

``message_index`` here counts the messages as written (for ShareGPT, the turns of
``conversations``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from convsplit.errors import InvalidConversationError
from convsplit.formats import Record
from convsplit.formats.detect import detect_format
from convsplit.formats.json_text import json_type
from convsplit.formats.openai import OPENAI_MESSAGE_KEYS, OPENAI_RECORD_KEYS
from convsplit.formats.sharegpt import DEFAULT_ROLES, RECORD_KEYS, TURN_KEYS
from convsplit.inspect.findings import RecordFindings, Severity
from convsplit.messages import ROLES


def check_written(record: Record, role_map: Mapping[str, str], found: RecordFindings) -> None:
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
        kind = detect_format(value, role_map=role_map)
    except InvalidConversationError as detect_error:
        found.add("unknown_format", _reason(detect_error))
        return
    if kind == "openai":
        _openai(value, role_map, found)
    elif kind == "sharegpt":
        _sharegpt(value, role_map, found)
    if error is not None and not any(f.severity is Severity.ERROR for f in found.items):
        found.add("invalid_record", _reason(error), field=error.field)


def _openai(value: dict[str, Any], role_map: Mapping[str, str], found: RecordFindings) -> None:
    messages = value.get("messages")
    if not isinstance(messages, list) or not messages:
        what = "an empty list" if messages == [] else json_type(messages)
        found.add("missing_messages", f"field 'messages' is {what}; expected a list of messages")
        return
    for name in value:
        if name not in OPENAI_RECORD_KEYS:
            found.add(
                "unknown_key",
                f"field {name!r} is not part of OpenAI's chat format (the openai writer "
                "leaves it out)",
                field=name,
                severity=Severity.INFO,
            )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            found.add("message_not_an_object", f"message {i} is {json_type(message)}", index=i)
            continue
        role = message.get("role")
        if role is None:
            found.add("missing_role", f"message {i} has no 'role'", index=i, field="role")
        elif role not in ROLES and role != "function" and role not in role_map:
            found.add(
                "unknown_role",
                f"message {i} has role {role!r}; expected one of {', '.join(ROLES)} "
                f"(map it with --role-map {role}=assistant)",
                index=i,
                field="role",
            )
        unknown = [k for k in message if k not in OPENAI_MESSAGE_KEYS]
        if unknown:
            found.add(
                "unknown_key",
                f"message {i} has field(s) {', '.join(map(repr, unknown))} that OpenAI's "
                "chat format does not define (the openai writer drops them)",
                index=i,
                field=unknown[0],
            )


def _sharegpt(value: dict[str, Any], role_map: Mapping[str, str], found: RecordFindings) -> None:
    turns = value.get("conversations")
    if not isinstance(turns, list) or not turns:
        what = "an empty list" if turns == [] else json_type(turns)
        found.add("missing_messages", f"field 'conversations' is {what}; expected turns")
        return
    for name in value:
        if name not in RECORD_KEYS:
            found.add(
                "unknown_key",
                f"field {name!r} is not part of the ShareGPT format",
                field=name,
                severity=Severity.INFO,
            )
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            found.add("message_not_an_object", f"message {i} is {json_type(turn)}", index=i)
            continue
        sender = turn.get("from", turn.get("role"))
        if sender is None:
            found.add("missing_role", f"message {i} has no 'from'", index=i, field="from")
        elif not isinstance(sender, str) or (
            sender not in role_map and sender.lower() not in DEFAULT_ROLES
        ):
            found.add(
                "unknown_role",
                f"message {i} is from {sender!r}; expected one of "
                f"{', '.join(DEFAULT_ROLES)} (map it with --role-map {sender}=assistant)",
                index=i,
                field="from",
            )
        unknown = [k for k in turn if k not in TURN_KEYS]
        if unknown:
            found.add(
                "unknown_key",
                f"message {i} has field(s) {', '.join(map(repr, unknown))} that the "
                "ShareGPT format does not define",
                index=i,
                field=unknown[0],
            )


def _reason(error: InvalidConversationError | None) -> str:
    return error.reason if error is not None else ""
