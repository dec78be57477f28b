"""Telling a record's format from its keys, one record at a time.

Files mix shapes more often than one would hope (a JSONL built from two sources), so the
decision is made per record, from the keys that define each format, and a record that
matches none is rejected with the list of shapes that would have been accepted.
"""

from __future__ import annotations

from collections.abc import Mapping

from convsplit.errors import InvalidConversationError, OptionHint
from convsplit.formats.json_text import json_type
from convsplit.formats.pairs import find_pair


def detect_format(record: object, *, role_map: Mapping[str, str] | None = None) -> str:
    """The name of the reader for ``record``: ``openai``, ``sharegpt`` or ``pairs``.

    A bare list is a list of OpenAI-style messages, as many datasets store a conversation.

    Raises:
        InvalidConversationError: the record is not an object, or matches no format.

    >>> detect_format({"conversations": []})
    'sharegpt'
    >>> detect_format([{"role": "user", "content": "Hi"}])
    'openai'
    >>> detect_format({"question": "Hi", "answer": "Hello"})
    'pairs'
    >>> detect_format({"text": "Hi"})
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: cannot tell the format from the keys 'text': \
expected 'messages' (openai), 'conversations' (sharegpt), 'prompt' and 'completion', \
'instruction' and 'output', or a user and an assistant field such as 'user' and \
'assistant' (pairs); choose one with input_format=... or name the fields with role_map=...
    """
    if isinstance(record, list):
        return "openai"
    if not isinstance(record, dict):
        raise InvalidConversationError(
            f"expected a JSON object (a conversation); got {json_type(record)}"
        )
    if "messages" in record:
        return "openai"
    if "conversations" in record:
        return "sharegpt"
    if ("prompt" in record and "completion" in record) or (
        "instruction" in record and "output" in record
    ):
        return "pairs"
    if find_pair(record, role_map or {}) is not None:
        return "pairs"
    keys = ", ".join(map(repr, record)) or "(none)"
    choose, name = OptionHint("input_format"), OptionHint("role_map", mapping=True)
    raise InvalidConversationError(
        f"cannot tell the format from the keys {keys}: expected 'messages' (openai), "
        "'conversations' (sharegpt), 'prompt' and 'completion', 'instruction' and 'output', "
        "or a user and an assistant field such as 'user' and 'assistant' (pairs); choose "
        f"one with {choose} or name the fields with {name}",
        hints=[choose, name],
    )
