"""Named fields: a record whose fields have other names than its format's (``dialog`` for
``messages``, ``speaker``/``text`` for ``role``/``content``) read as if they had those.

The names are given once, for a whole run (``SplitSpec(fields={"messages": "dialog"})``,
``--field messages=dialog``), and a record is renamed to the canonical names before its
format is detected, so every format reads named fields the same way and detection sees
what the reader will read. Values are never touched; keys other than the named ones stay
as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convsplit.errors import (
    InvalidConversationError,
    InvalidOptionError,
    OptionHint,
    UnknownNameError,
)

#: Record-level names a field can be given for.
RECORD_FIELDS = (
    "messages", "system", "tools", "id", "prompt", "completion", "chosen", "rejected",
    "label", "instruction", "input", "output", "history",
)  # fmt: skip
#: Names inside each message of a list of messages.
MESSAGE_FIELDS = ("role", "content")
#: Every name ``fields`` may give a key for.
FIELD_NAMES = (*RECORD_FIELDS, *MESSAGE_FIELDS)
#: Record fields that hold lists of messages, whose items get the message field names.
_MESSAGE_LISTS = ("messages", "conversations", "prompt", "completion", "chosen", "rejected")


def check_fields(fields: Mapping[str, str] | None) -> dict[str, str]:
    """The field names, checked: each name is one of :data:`FIELD_NAMES`, each key a
    non-empty string, and no key given for two names.

    Raises:
        UnknownNameError: a name that is not a field, listing the fields.
        InvalidOptionError: a key that is not a non-empty string, or given twice.

    >>> check_fields({"messages": "dialog"})
    {'messages': 'dialog'}
    >>> check_fields({"turns": "dialog"})
    Traceback (most recent call last):
    ...
    convsplit.errors.UnknownNameError: unknown field 'turns'; expected one of chosen, \
completion, content, history, id, input, instruction, label, messages, output, prompt, \
rejected, role, system, tools
    """
    if not fields:
        return {}
    if not isinstance(fields, Mapping):
        raise InvalidOptionError(
            f"fields must be a mapping of field name to key; got {type(fields).__name__}"
        )
    seen: dict[tuple[str, str], str] = {}
    for name, key in fields.items():
        if name not in FIELD_NAMES:
            raise UnknownNameError("field", name, FIELD_NAMES)
        if not isinstance(key, str) or not key:
            raise InvalidOptionError(f"fields[{name!r}] must be a non-empty key; got {key!r}")
        level = "message" if name in MESSAGE_FIELDS else "record"
        if (level, key) in seen:
            raise InvalidOptionError(
                f"fields: key {key!r} is given for both {seen[level, key]!r} and {name!r}"
            )
        seen[level, key] = name
    return dict(fields)


def rename_fields(record: object, fields: Mapping[str, str]) -> object:
    """``record`` with the keys named in ``fields`` renamed to their canonical names (a
    new object where anything changes; the caller's is never modified).

    Raises:
        InvalidConversationError: the record has both a named key and the canonical name
            it stands for, so one of them would be lost.

    >>> rename_fields({"dialog": [{"speaker": "user", "text": "Hi"}], "source": "web"},
    ...               {"messages": "dialog", "role": "speaker", "content": "text"})
    {'messages': [{'role': 'user', 'content': 'Hi'}], 'source': 'web'}
    """
    if not fields:
        return record
    message_names = {key: name for name, key in fields.items() if name in MESSAGE_FIELDS}
    if isinstance(record, list):
        return _rename_items(record, message_names, "messages") if message_names else record
    if not isinstance(record, dict):
        return record
    record_names = {key: name for name, key in fields.items() if name in RECORD_FIELDS}
    out = _rename(record, record_names, "field") if record_names else record
    if message_names:
        for name in _MESSAGE_LISTS:
            items = out.get(name)
            if isinstance(items, (list, dict)):  # LLaMA-Factory's chosen: one message
                renamed = (
                    _rename_items(items, message_names, name)
                    if isinstance(items, list)
                    else _rename(items, message_names, f"{name}: field")
                )
                if renamed is not items:
                    if out is record:
                        out = dict(out)
                    out[name] = renamed
    return out


def _rename_items(items: list[Any], names: Mapping[str, str], where: str) -> list[Any]:
    out = [
        _rename(item, names, f"{where} item {k}: field") if isinstance(item, dict) else item
        for k, item in enumerate(items)
    ]
    return out if any(a is not b for a, b in zip(out, items, strict=True)) else items


def _rename(value: dict[str, Any], names: Mapping[str, str], where: str) -> dict[str, Any]:
    """``value`` with its keys renamed by ``names`` (key -> canonical name), in place order."""
    if not any(key in value for key in names):
        return value
    renamed = {names[key] for key in value if key in names}
    for name in renamed:
        if name in value and name not in names:
            key = next(k for k, n in names.items() if n == name)
            raise InvalidConversationError(
                f"{where} {key!r} is read as {name!r} (fields), but the record also has "
                f"{name!r}: rename one of them, or leave {name!r} out of fields",
                field=name,
            )
    return {names.get(key, key): item for key, item in value.items()}


#: Keys that often hold a message's role, and its text, under other names.
_ROLE_KEYS = ("speaker", "author", "sender", "from", "who", "type", "name", "participant")
_CONTENT_KEYS = ("text", "value", "message", "utterance", "body", "parts", "content")


def message_keys_hint(message: Mapping[str, Any]) -> tuple[str, tuple[OptionHint, ...]]:
    """For a message with no ``role``: the keys it has, and the ``fields`` that would read
    its role and content (words for the error, and the hints they word); nothing where no
    key looks like a role.

    >>> message_keys_hint({"speaker": "user", "text": "Hi"})[0]
    "; it has the keys 'speaker', 'text': read them with fields={'role': 'speaker'} and \
fields={'content': 'text'}"
    """
    role = next((k for k in _ROLE_KEYS if isinstance(message.get(k), str)), None)
    if role is None:  # nothing looks like a role: the plain error says enough
        return "", ()
    content = next((k for k in _CONTENT_KEYS if k in message and k != "content"), None)
    if "content" in message:
        content = None
    keys = ", ".join(map(repr, message))
    hints = [OptionHint("fields", (f"role={role}",), mapping=True)]
    if content is not None:
        hints.append(OptionHint("fields", (f"content={content}",), mapping=True))
    named = " and ".join(map(str, hints))
    return f"; it has the keys {keys}: read them with {named}", tuple(hints)
