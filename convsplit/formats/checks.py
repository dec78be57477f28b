"""What ``validate`` checks in a record as written, per format: the ``check`` of the
OpenAI and ShareGPT format objects (:mod:`.builtin`). Messages are counted as written (for
ShareGPT, the turns)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from convsplit.formats.json_text import json_type
from convsplit.formats.openai import OPENAI_MESSAGE_KEYS, OPENAI_RECORD_KEYS
from convsplit.formats.pairs import find_pair
from convsplit.formats.record_fields import role_hint
from convsplit.formats.registry import StructureIssue
from convsplit.formats.sharegpt import DEFAULT_ROLES, RECORD_KEYS, TURN_KEYS, in_messages
from convsplit.formats.training_flags import TRAIN_DETAIL, unhonoured_flags
from convsplit.messages import ROLES


def check_openai(
    record: Mapping[str, Any], role_map: Mapping[str, str]
) -> Iterator[StructureIssue]:
    """The structure of an OpenAI record as written: messages, roles, documented keys."""
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        what = "an empty list" if messages == [] else json_type(messages)
        yield StructureIssue(
            "missing_messages", f"field 'messages' is {what}; expected a list of messages"
        )
        return
    for name in record:
        if name not in OPENAI_RECORD_KEYS and name != "system":  # system: the first message
            yield StructureIssue(
                "unknown_key",
                f"field {name!r} is not part of OpenAI's chat format (the openai writer "
                "leaves it out)",
                field=name,
                severity="info",
            )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            yield StructureIssue("message_not_an_object", f"message {i} is {json_type(message)}", i)
            continue
        role = message.get("role")
        if role is None:
            yield StructureIssue("missing_role", f"message {i} has no 'role'", i, "role")
        elif role not in ROLES and role not in _READ_ROLES and role not in role_map:
            map_it, hints = role_hint(role)
            yield StructureIssue(
                "unknown_role",
                f"message {i} has role {role!r}; expected one of {', '.join(ROLES)}{map_it}",
                i,
                "role",
                hints=hints,
            )
        yield from _unhonoured(
            message, role_map.get(role, role) if isinstance(role, str) else role, i
        )
        unknown = [k for k in message if k not in OPENAI_MESSAGE_KEYS and k not in _FLAGS]
        if unknown:
            yield StructureIssue(
                "unknown_key",
                f"message {i} has field(s) {', '.join(map(repr, unknown))} that OpenAI's "
                "chat format does not define (the openai writer drops them)",
                i,
                unknown[0],
            )


def check_sharegpt(
    record: Mapping[str, Any], role_map: Mapping[str, str]
) -> Iterator[StructureIssue]:
    """The structure of a ShareGPT record as written: turns, their senders, known keys."""
    list_key = "messages" if in_messages(record) else "conversations"
    turns = record.get(list_key)
    if not isinstance(turns, list) or not turns:
        what = "an empty list" if turns == [] else json_type(turns)
        yield StructureIssue("missing_messages", f"field {list_key!r} is {what}; expected turns")
        return
    for name in record:
        if name not in RECORD_KEYS and name != list_key:
            yield StructureIssue(
                "unknown_key",
                f"field {name!r} is not part of the ShareGPT format",
                field=name,
                severity="info",
            )
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            yield StructureIssue("message_not_an_object", f"message {i} is {json_type(turn)}", i)
            continue
        sender = turn.get("from", turn.get("role"))
        if sender is None:
            yield StructureIssue("missing_role", f"message {i} has no 'from'", i, "from")
        elif not isinstance(sender, str) or (
            sender not in role_map and sender.lower() not in DEFAULT_ROLES
        ):
            map_it, hints = role_hint(sender)
            yield StructureIssue(
                "unknown_role",
                f"message {i} is from {sender!r}; expected one of "
                f"{', '.join(DEFAULT_ROLES)}{map_it}",
                i,
                "from",
                hints=hints,
            )
        if isinstance(sender, str) and turn.get("train") is True:
            side = role_map.get(sender) or DEFAULT_ROLES.get(sender.lower())
            if side is not None and side not in ("assistant", "function_call"):
                yield _unhonoured_issue(f"train: true on a {side} message", i)
        unknown = [k for k in turn if k not in TURN_KEYS]
        if unknown:
            yield StructureIssue(
                "unknown_key",
                f"message {i} has field(s) {', '.join(map(repr, unknown))} that the "
                "ShareGPT format does not define",
                i,
                unknown[0],
            )


#: Message keys the OpenAI reader reads as training flags (axolotl's), never written.
_FLAGS = frozenset({"train", TRAIN_DETAIL})

#: Roles the OpenAI reader reads beyond :data:`~convsplit.messages.ROLES`.
_READ_ROLES = ("function", "function_call", "observation")


def _unhonoured(message: Mapping[str, Any], role: object, i: int) -> Iterator[StructureIssue]:
    for what in unhonoured_flags(
        message, _READ_AS.get(role, role) if isinstance(role, str) else role
    ):
        yield _unhonoured_issue(what, i)


def _unhonoured_issue(what: str, i: int) -> StructureIssue:
    return StructureIssue(
        "unhonoured_flag",
        f"message {i}: {what}: convsplit trains only assistant messages, so it is read "
        "without effect (and not written)",
        i,
        "train",
        severity="warning",
    )


_READ_AS = {"function": "tool", "observation": "tool", "model": "assistant"}


#: Columns every pair reads beside its two sides.
_PAIR_COLUMNS = frozenset({"system", "tools", "id"})


def check_pairs(record: Mapping[str, Any], role_map: Mapping[str, str]) -> Iterator[StructureIssue]:
    """The columns of a pair that no writer writes as data to train (``source``,
    ``category``...): kept with the conversation as metadata, noted so that nothing is
    left out unsaid."""
    if "prompt" in record and "completion" in record:
        read = {"prompt", "completion"}
    elif "instruction" in record and "output" in record:
        read = {"instruction", "input", "output", "history"}
    else:
        read = set(find_pair(record, role_map) or ())
    for name in record:
        if name not in read and name not in _PAIR_COLUMNS:
            yield StructureIssue(
                "unknown_key",
                f"field {name!r} is kept with the conversation as a column, written only as "
                "metadata (openai metadata=inline, sharegpt keep_fields, trl keep_columns)",
                field=name,
                severity="info",
            )
