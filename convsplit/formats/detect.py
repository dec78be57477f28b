"""Telling a record's format from its keys, one record at a time.

Files mix shapes more often than one would hope (a JSONL built from two sources), so the
decision is made per record: each registered format that can be detected
(:func:`~convsplit.formats.registry.detecting`, highest priority first) is asked in turn,
and a record that matches none is rejected with the shapes that would have been accepted
and, where a key holds what looks like a list of messages, the ``fields`` setting that
would read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convsplit.errors import InvalidConversationError, OptionHint
from convsplit.formats.json_text import json_type
from convsplit.formats.registry import detecting, get_format


def detect_format(record: object, *, role_map: Mapping[str, str] | None = None) -> str:
    """The name of the registered format that reads ``record``.

    A bare list is a list of messages, as many datasets store a conversation.

    Raises:
        InvalidConversationError: the record is not an object, or matches no format.

    >>> detect_format({"conversations": []})
    'sharegpt'
    >>> detect_format([{"role": "user", "content": "Hi"}])
    'openai'
    >>> detect_format({"question": "Hi", "answer": "Hello", "source": "faq"})
    'pairs'
    >>> detect_format({"text": "Hi"})
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: cannot tell the format from the keys 'text': \
expected 'messages' (openai), 'conversations' (sharegpt), 'contents' with 'parts' \
(gemini), 'prompt' and 'completion', 'instruction' and 'output', or a user and an \
assistant field such as 'user' and 'assistant' (pairs); choose one with input_format=... \
or name the fields with role_map=...
    >>> detect_format({"q": "2+2?", "a": "4"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: cannot tell the format from the keys 'q', 'a': \
expected ...; for a prompt and its answer: fields={'prompt': 'q'} and fields={'completion': 'a'}
    >>> detect_format({"dialog": [{"role": "user", "content": "Hi"}]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: cannot tell the format from the keys 'dialog': \
expected ...; 'dialog' holds a list of messages: read it with fields={'messages': 'dialog'}
    """
    if isinstance(record, list):
        record = {"messages": record}
    if not isinstance(record, dict):
        raise InvalidConversationError(
            f"expected a JSON object (a conversation); got {json_type(record)}"
        )
    roles = role_map or {}
    names = detecting()
    for name in names:
        detect = get_format(name).detect
        if detect is not None and detect(record, roles):
            return name
    raise _undetected(record, names)


def _undetected(record: Mapping[str, Any], names: tuple[str, ...]) -> InvalidConversationError:
    keys = ", ".join(map(repr, record)) or "(none)"
    hints = [get_format(name).detect_hint or f"({name})" for name in names]
    expected = ", ".join(hints)
    choose, name = OptionHint("input_format"), OptionHint("role_map", mapping=True)
    message = (
        f"cannot tell the format from the keys {keys}: expected {expected}; choose one with "
        f"{choose} or name the fields with {name}"
    )
    found = [choose, name]
    lists = [k for k, v in record.items() if _message_list(v)]
    texts = [k for k, v in record.items() if isinstance(v, str)]
    if not lists and len(texts) == 2:  # a pair under names no reader knows
        pair = (OptionHint("fields", (f"prompt={texts[0]}",), mapping=True),
                OptionHint("fields", (f"completion={texts[1]}",), mapping=True))  # fmt: skip
        message += f"; for a prompt and its answer: {pair[0]} and {pair[1]}"
        found = [*found, *pair]
    if lists:
        field = OptionHint("fields", (f"messages={lists[0]}",), mapping=True)
        message = (
            f"cannot tell the format from the keys {keys}: expected {expected}; "
            f"{lists[0]!r} holds a list of messages: read it with {field}"
        )
        found = [field]
    return InvalidConversationError(message, hints=found)


def _message_list(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) for item in value)
        and len(value[0]) >= 2
    )
