"""Helpers every format module shares: role maps, tool-call arguments, JSON fragments."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

import orjson

from convsplit.errors import InvalidConversationError, UnknownNameError
from convsplit.messages import MAX_JSON_DEPTH, ROLES, FunctionCall, ToolCall, too_deep_at
from convsplit.samples import Sample

# orjson reads integers beyond 64 bits as floats; 19 digits in a row may be one of them.
_LONG_NUMBER = re.compile(r"[0-9]{19,}")
_LONG_NUMBER_BYTES = re.compile(rb"[0-9]{19,}")


def json_type(value: object) -> str:
    """How JSON would call the type of ``value`` (for error messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_role_map(role_map: Mapping[str, str] | None) -> dict[str, str]:
    """The user's role map, checked: every value must be one of the internal roles.

    Raises:
        UnknownNameError: for a value that is not a role, listing the roles.
    """
    if not role_map:
        return {}
    for value in role_map.values():
        if value not in ROLES:
            raise UnknownNameError("role", value, ROLES)
    return dict(role_map)


def role_hint(role: object) -> str:
    """How to map an unknown role, in the words of the library and of the CLI."""
    if not isinstance(role, str):
        return ""
    return f" (map it: role_map={{{role!r}: 'assistant'}}, or --role-map {role}=assistant)"


class JSONTooDeepError(orjson.JSONDecodeError):
    """JSON nested deeper than :data:`~convsplit.messages.MAX_JSON_DEPTH` levels: valid, but
    more than convsplit reads (its ``msg``, ``lineno`` and ``colno`` say where)."""


def parse_json(text: bytes | str) -> object:
    """Parse one record with orjson, or with the standard library where the text may hold
    an integer too long for orjson to keep exactly (it would silently become a float).

    >>> parse_json(b'{"n": 123456789012345678901}')
    {'n': 123456789012345678901}
    >>> parse_json("[" * 129 + "]" * 129)
    Traceback (most recent call last):
    ...
    convsplit.formats._common.JSONTooDeepError: JSON nested deeper than 128 levels: line 1 \
column 129 (char 128)

    Raises:
        orjson.JSONDecodeError: the text is not valid JSON; :class:`JSONTooDeepError` (a
            subclass) when it nests deeper than ``MAX_JSON_DEPTH``.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        if error.msg.startswith("depth limit exceeded"):  # orjson's own limit, 1,024
            raise _too_deep(text) from None
        raise
    if _brackets(text) > MAX_JSON_DEPTH and _nests_past(value, MAX_JSON_DEPTH):
        raise _too_deep(text)
    # orjson turns an integer outside 64 bits into a float; only then can the text hold one.
    if not _has_huge_float(value):
        return value
    long_number = (
        _LONG_NUMBER.search(text) if isinstance(text, str) else _LONG_NUMBER_BYTES.search(text)
    )
    if long_number is None:
        return value
    try:
        return json.loads(text)
    except RecursionError:  # deeper than Python's json can go: keep orjson's reading
        return value


def _brackets(text: bytes | str) -> int:
    """Opening brackets in ``text``: a bound on its depth that costs next to nothing."""
    if isinstance(text, str):
        return text.count("[") + text.count("{")
    return text.count(b"[") + text.count(b"{")


def _nests_past(value: object, limit: int) -> bool:
    """Whether a parsed JSON value nests containers more than ``limit`` deep."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        for child in cast(Iterable[object], children):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _too_deep(text: bytes | str) -> JSONTooDeepError:
    doc = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    position = too_deep_at(doc, MAX_JSON_DEPTH)
    return JSONTooDeepError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", doc, position or 0)


def json_problem(error: orjson.JSONDecodeError) -> str:
    """What is wrong with JSON text, for a message: not valid, or nested too deep.

    >>> try:
    ...     parse_json("[" * 200 + "]" * 200)
    ... except orjson.JSONDecodeError as error:
    ...     print(json_problem(error))
    nested deeper than 128 levels (convsplit reads at most 128: flatten or drop the field)
    """
    if isinstance(error, JSONTooDeepError):
        return (
            f"nested deeper than {MAX_JSON_DEPTH} levels (convsplit reads at most "
            f"{MAX_JSON_DEPTH}: flatten or drop the field)"
        )
    return f"not valid JSON ({error.msg})"


def _has_huge_float(value: object) -> bool:
    """Whether a parsed JSON value holds a float of magnitude 2**63 or more: cheaper than a regex
    over the text, since a record has far fewer values than bytes."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and abs(item) >= _HUGE:
            return True
    return False


_HUGE = float(2**63)  # orjson keeps -2**63 .. 2**64-1 exactly


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
    if _LONG_NUMBER.search(arguments):
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
    them) is wrapped; anything with a ``type`` is left as it is.
    """
    out: list[dict[str, Any]] = []
    for tool in tools:
        if "type" not in tool and "name" in tool:
            out.append({"type": "function", "function": dict(tool)})
        else:
            out.append(dict(tool))
    return out


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


def dumps(value: object) -> bytes:
    """JSON bytes as every writer emits them (orjson, compact, UTF-8).

    An integer beyond 64 bits (read exactly from the input) is more than orjson writes;
    the standard library writes it instead, in the same compact form.

    >>> dumps({"n": 2**70, "s": "é"})
    b'{"n":1180591620717411303424,"s":"\xc3\xa9"}'
    """
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def join_object(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``{"k":v,...}`` from already-encoded keys and values: what orjson would write."""
    return b"{" + b",".join(key + b":" + value for key, value in items) + b"}"


def join_list(fragments: Iterable[bytes]) -> bytes:
    """``[a,b,...]`` from already-encoded items: what orjson would write."""
    return b"[" + b",".join(fragments) + b"]"


def key(name: str) -> bytes:
    """An encoded object key."""
    return orjson.dumps(name)


def sample_metadata(sample: Sample, *, sample_index: int) -> dict[str, Any]:
    """Where a sample came from and what it costs: for a sidecar file or a metadata key.

    >>> from convsplit import Budget, Conversation, Message, split_conversation
    >>> conv = Conversation(id="c1", messages=(Message(role="user", content="Hi"),
    ...                                        Message(role="assistant", content="Hello")))
    >>> meta = sample_metadata(split_conversation(conv, budget=Budget(100)).samples[0],
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
    }
