"""Fields the readers and writers share: role maps, tool calls and tool schemas, the first
check of a record, and a sample's metadata."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from convsplit.errors import InvalidConversationError, OptionHint, UnknownNameError
from convsplit.formats.json_text import json_problem, json_type, may_hold_long_integer, parse_json
from convsplit.messages import ROLES, FunctionCall, ToolCall, function_tool
from convsplit.samples import Sample


def check_role_map(role_map: Mapping[str, str] | None) -> dict[str, str]:
    """The user's role map, checked: every value must be one of the internal roles.

    Raises:
        UnknownNameError: for a value that is not a role, listing the roles.
    """
    if not role_map:
        return {}
    for value in role_map.values():
        if value not in ROLES and value != FUNCTION_CALL:
            raise UnknownNameError("role", value, (*ROLES, FUNCTION_CALL))
    return dict(role_map)


FUNCTION_CALL = "function_call"
"""The role a role map may give an assistant turn that calls tools (LLaMA-Factory's
``function_tag``): its text is the JSON of the call."""

#: Words in a role name that say it is the user's side: never suggested as the assistant.
_USER_WORDS = ("user", "human", "customer", "client", "person", "prompter", "question",
               "student", "patient", "caller", "visitor", "asker", "player", "me")  # fmt: skip
#: Words in a role name that say it is the assistant's side.
_ASSISTANT_WORDS = ("assistant", "bot", "gpt", "model", "ai", "agent", "answer", "response",
                    "tutor", "helper", "llm", "claude", "gemini")  # fmt: skip
#: Role names a misspelt one is most likely meant to be, and the role each reads as.
_SPELLINGS = {"user": "user", "human": "user", "assistant": "assistant", "system": "system",
              "tool": "tool", "model": "assistant", "developer": "developer"}  # fmt: skip


def role_choices(role: str) -> tuple[str, ...]:
    """The role map entries that could read ``role``: the role it is a misspelling of, the
    side its name says, or both sides where it says neither (so that user text is never
    suggested as a target).

    >>> role_choices("User"), role_choices("Bot"), role_choices("narrator")
    (('User=user',), ('Bot=assistant',), ('narrator=user', 'narrator=assistant'))
    >>> role_choices("assistent"), role_choices("sytem")
    (('assistent=assistant',), ('sytem=system',))
    """
    close = difflib.get_close_matches(role.lower(), _SPELLINGS, n=1, cutoff=0.8)
    if close:
        return (f"{role}={_SPELLINGS[close[0]]}",)
    words = "".join(c if c.isalnum() else " " for c in role.lower()).split()
    joined = role.lower()
    if any(w in _USER_WORDS for w in words) or any(w in joined for w in _USER_WORDS[:3]):
        return (f"{role}=user",)
    if any(w in _ASSISTANT_WORDS for w in words) or any(w in joined for w in _ASSISTANT_WORDS[:3]):
        return (f"{role}=assistant",)
    return (f"{role}=user", f"{role}=assistant")


def role_hint(role: object) -> tuple[str, tuple[OptionHint, ...]]:
    """How to map an unknown role: the words to add to the message, and the hint they word.

    >>> role_hint("User")[0]
    " (map it: role_map={'User': 'user'})"
    """
    if not isinstance(role, str):
        return "", ()
    hint = OptionHint("role_map", role_choices(role), mapping=True)
    return f" (map it: {hint})", (hint,)


def arguments_text(arguments: object) -> str:
    """Tool-call arguments as the JSON string OpenAI stores; objects are dumped as json does.

    ``json.dumps`` (not orjson) keeps the ``", "`` / ``": "`` spacing of OpenAI's own
    examples, so an object written out by a writer reads back as the same string.
    """
    if isinstance(arguments, str):
        return arguments
    if arguments is None:
        return ""
    return json.dumps(arguments, ensure_ascii=False)


def arguments_value(arguments: str) -> object:
    """Tool-call arguments as a JSON object (or list) where they parse as one, else the
    string unchanged (so that reading back gives the same string). Arguments holding an
    integer too long for orjson also stay a string: written as an object they would change.
    """
    if may_hold_long_integer(arguments):
        return arguments
    try:
        value = parse_json(arguments)
    except orjson.JSONDecodeError:
        return arguments
    return value if isinstance(value, (dict, list)) else arguments


def tool_call_from_json(value: object, *, where: str, field: str) -> ToolCall:
    """One ``{"name": ..., "arguments": ...}`` object (LLaMA-Factory's call) as a ToolCall.

    Extra keys (an ``id`` written by convsplit's sharegpt writer) are kept.
    """
    if not isinstance(value, dict):
        raise InvalidConversationError(
            f"{where}: expected a tool call object with 'name' and 'arguments'; "
            f"got {json_type(value)}",
            field=field,
        )
    name = value.get("name")
    if not isinstance(name, str):
        raise InvalidConversationError(
            f"{where}: the tool call needs a string 'name'; got {json_type(name)}", field=field
        )
    extra = {k: v for k, v in value.items() if k not in ("name", "arguments", "id", "type")}
    call_id = value.get("id")
    return ToolCall(
        id=call_id if isinstance(call_id, str) else None,
        function=FunctionCall(name=name, arguments=arguments_text(value.get("arguments"))),
        **extra,
    )


def tool_calls_from_text(text: object, *, where: str, field: str) -> tuple[ToolCall, ...]:
    """A JSON text holding one tool call object or a list of them."""
    if isinstance(text, str):
        try:
            value = parse_json(text)
        except orjson.JSONDecodeError as error:
            raise InvalidConversationError(
                f"{where}: the tool call is {json_problem(error)}; got {text[:80]!r}",
                field=field,
            ) from error
    else:
        value = text
    calls = value if isinstance(value, list) else [value]
    if not calls:
        raise InvalidConversationError(f"{where}: an empty list of tool calls", field=field)
    return tuple(tool_call_from_json(call, where=where, field=field) for call in calls)


def tools_from_json(value: object, *, field: str = "tools") -> tuple[dict[str, Any], ...] | None:
    """Tool schemas from a list, or from a JSON string holding one (LLaMA-Factory's form)."""
    if value is None or value in ("", []):
        return None
    if isinstance(value, str):
        try:
            value = parse_json(value)
        except orjson.JSONDecodeError as error:
            raise InvalidConversationError(
                f"field {field!r}: {json_problem(error)}", field=field
            ) from error
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise InvalidConversationError(
            f"field {field!r}: expected a list of tool schemas (objects); got {json_type(value)}",
            field=field,
        )
    return tuple(value) or None


def openai_tools(tools: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tool schemas in OpenAI's ``{"type": "function", "function": {...}}`` form.

    A bare function schema (``{"name": ..., "parameters": ...}``, as LLaMA-Factory stores
    them) is wrapped; anything with a ``type`` is left as it is. A :class:`Conversation`'s
    tools are already in this form (:func:`~convsplit.messages.function_tool`).
    """
    return [function_tool(dict(tool)) for tool in tools]


def list_field(record: object, field: str, items: str) -> tuple[dict[str, Any], list[Any]]:
    """The record, which must be an object, and its ``field``, which must be a list (of
    ``items``); or an error saying what is wrong: the readers' shared first check.

    >>> list_field({"messages": "hi"}, "messages", "messages")
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: field 'messages': expected a list of \
messages; got a string
    """
    if not isinstance(record, dict):
        raise InvalidConversationError(
            f"expected a JSON object with {field!r}; got {json_type(record)}"
        )
    value = record.get(field)
    if value is None:
        raise InvalidConversationError(f"field {field!r} is required", field=field)
    if not isinstance(value, list):
        raise InvalidConversationError(
            f"field {field!r}: expected a list of {items}; got {json_type(value)}", field=field
        )
    return record, value


def sample_metadata(sample: Sample, *, sample_index: int, columns: bool = False) -> dict[str, Any]:
    """Where a sample came from and what it costs: for a sidecar file or a metadata key;
    with ``columns``, also its conversation's own columns (``source``, ``category``...)
    under ``columns`` where it has any: for JSON, not for a table's fixed columns.

    >>> from convsplit import Budget, Conversation, Message, SplitSpec, split_conversation
    >>> conv = Conversation(id="c1", messages=(Message(role="user", content="Hi"),
    ...                                        Message(role="assistant", content="Hello")))
    >>> meta = sample_metadata(split_conversation(conv, SplitSpec(Budget(100))).samples[0],
    ...                        sample_index=0)
    >>> meta["conversation_id"], meta["targets"], meta["total_tokens"]
    ('c1', [1], 13)
    """
    return {
        "conversation_id": sample.conversation_id,
        "conversation_index": sample.conversation_index,
        "sample_index": sample_index,
        "targets": [sample.source_indices[k] for k in sample.targets],
        "source_indices": list(sample.source_indices),
        "total_tokens": sample.total_tokens,
        "context_tokens": sample.context_tokens,
        "target_tokens": sample.target_tokens,
        "dropped_messages": sample.dropped_messages,
        "dropped_tokens": sample.dropped_tokens,
        "truncated": [sample.source_indices[k] for k in sample.truncated],
    } | ({"columns": sample.columns} if columns and sample.columns else {})
