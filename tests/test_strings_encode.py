"""Records read by parse_json skip only the lone-surrogate check (orjson refuses lone
surrogates), and only there: every other check of a Conversation still runs, and values from
Python are checked in full."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import Conversation, InvalidConversationError, Message
from convsplit.formats import parse_json
from convsplit.formats.records import parse_record
from convsplit.messages import MAX_JSON_DEPTH, StringsEncode


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@given(st.recursive(
    st.text() | st.integers(min_value=-(2**70), max_value=2**70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
))  # fmt: skip
def test_every_string_parse_json_returns_encodes(value: object) -> None:
    # ensure_ascii writes a lone surrogate as a bare \\udxxx escape, which orjson refuses.
    text = json.dumps(value, ensure_ascii=True)
    try:
        parsed = parse_json(text)
    except ValueError:
        return
    for string in _strings(parsed):
        string.encode("utf-8")


def test_a_lone_surrogate_escape_never_reaches_a_record() -> None:
    record = parse_record(1, b'{"messages": [{"role": "user", "content": "a\\ud800"}]}')
    assert record.error is not None and not record.from_text
    assert parse_record(1, b'{"a": 1}').from_text


def test_inside_the_context_depth_is_still_checked() -> None:
    deep: object = 1
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep]
    with StringsEncode(True), pytest.raises(InvalidConversationError, match="nested deeper"):
        Conversation(messages=(Message(role="user", content="hi"),), metadata={"x": deep})


def test_outside_it_a_lone_surrogate_is_refused() -> None:
    with StringsEncode(False), pytest.raises(InvalidConversationError, match="lone surrogate"):
        Conversation(messages=(Message(role="user", content="a\ud800"),))
    with pytest.raises(InvalidConversationError, match="lone surrogate"):
        Conversation(messages=(Message(role="user", content="a", name="\ud800"),))
