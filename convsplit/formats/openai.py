"""OpenAI chat format: {"messages": [...], "tools": [...]}, read (written by
:mod:).

Reading accepts everything OpenAI's chat fine-tuning files have held: the roles system,
developer, user, assistant and tool; name, tool_calls, tool_call_id,
weight; content as a string or a list of parts; top-level tools and
parallel_tool_calls; and the legacy function_call / function role / top-level
functions, which become tool calls, tool results and tools. It also reads
LLaMA-Factory's v1 content parts, {"type": "text" | "reasoning" | "tool_call", "value"},
and reasoning_content (a chat-template convention) as reasoning; LLaMA-Factory's tool roles
function_call (the content is the JSON of the call) and observation, read as the
ShareGPT reader reads them (a call right after a speaking assistant message joins it);
a system column beside the messages (axolotl's field_system, LLaMA-Factory's
system), which becomes the first message; and axolotl's training flags (a message's
train, its content parts' train/weight: :mod:`.training_flags`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from convsplit.errors import InvalidConversationError
from convsplit.formats.field_names import message_keys_hint
from convsplit.formats.json_text import json_type
from convsplit.formats.record_fields import (
    FUNCTION_CALL,
    arguments_text,
    check_role_map,
    list_field,
    openai_tools,
    role_hint,
    tool_calls_from_text,
    tools_from_json,
)
from convsplit.formats.training_flags import read_flags
from convsplit.messages import ROLES, ContentPart, Conversation, ToolCall, parse_conversation

#: Message keys OpenAI's chat fine-tuning format documents.
OPENAI_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "tool_calls", "tool_call_id", "function_call", "weight"}
)
#: Other role names read as a role: the legacy ``function`` and LLaMA-Factory's
#: ``observation`` are tool results; Gemini's ``model`` is the assistant.
_TOOL_ROLES = {"function": "tool", "observation": "tool", "model": "assistant"}

#: Keys of a message in the shape pydantic reads as it stands (with a string content, a
#: role of ours that the role map leaves alone, and a weight that is not a float).
_PLAIN_KEYS = frozenset({"role", "content", "name", "tool_call_id", "weight"})
_PLAIN_ROLES = frozenset(ROLES)

#: Top-level keys OpenAI's chat fine-tuning format documents.
OPENAI_RECORD_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})


def read_openai(record: object, *, role_map: Mapping[str, str] | None = None) -> Conversation:
    """Parse one OpenAI-style record (``messages`` and friends) into a Conversation.

    Args:
        record: the parsed JSON record, or a bare list of messages.
        role_map: extra role names and the role each stands for (``{"bot": "assistant"}``).

    Returns:
        The conversation; unknown message and record fields are kept as extras.

    Raises:
        InvalidConversationError: naming the message index and the field.

    >>> conv = read_openai({"messages": [
    ...     {"role": "user", "content": "Weather?"},
    ...     {"role": "assistant", "function_call": {"name": "weather", "arguments": "{}"}},
    ...     {"role": "function", "name": "weather", "content": "Sunny"}]})
    >>> [(m.role, m.tool_calls and m.tool_calls[0].function.name) for m in conv.messages]
    [('user', None), ('assistant', 'weather'), ('tool', None)]
    """
    roles = check_role_map(role_map)
    fields: dict[str, Any]
    if isinstance(record, list):  # a bare list of messages, as many datasets store them
        fields, messages = {}, record
    else:
        fields, messages = list_field(record, "messages", "messages")
    converted: list[Any] = []
    for i, message in enumerate(messages):
        out, calling = _message(message, i, roles)
        previous: Any = converted[-1] if converted else None
        if calling and _speaks_only(previous) and previous.get("weight") == out.get("weight"):
            converted[-1] = {**previous, "tool_calls": out["tool_calls"]}  # as ShareGPT reads it
        else:
            converted.append(out)
    return parse_conversation(_top_level(fields, converted))


def _speaks_only(message: object) -> bool:
    return (
        isinstance(message, dict)
        and message.get("role") == "assistant"
        and not message.get("tool_calls")
        and not message.get("function_call")
    )


def _top_level(record: dict[str, Any], messages: list[object]) -> dict[str, Any]:
    out = dict(record)
    system = out.pop("system", None)
    if system not in (None, ""):
        if not isinstance(system, str):
            raise InvalidConversationError(
                f"field 'system': expected a string; got {json_type(system)}", field="system"
            )
        first = messages[0] if messages else None
        if not (isinstance(first, dict) and first.get("role") == "system"
                and first.get("content") == system):  # fmt: skip
            messages = [{"role": "system", "content": system}, *messages]
    out["messages"] = messages
    if "tools" in out or "functions" in out:
        tools = tools_from_json(out.pop("tools", None))
        functions = tools_from_json(out.pop("functions", None), field="functions")
        if functions:
            tools = (*(tools or ()), *openai_tools(functions))
        if tools:
            out["tools"] = tools
    if isinstance(out.get("id"), int) and not isinstance(out["id"], bool):
        out["id"] = str(out["id"])
    return out


def _message(message: object, index: int, roles: Mapping[str, str]) -> tuple[Any, bool]:
    """One message made ready for pydantic (legacy and v1 forms turned into the current
    one), and whether it is a LLaMA-Factory ``function_call`` turn."""
    if _as_it_stands(message, roles):
        return message, False
    if not isinstance(message, dict):
        raise InvalidConversationError(
            f"message {index}: expected an object with 'role' and 'content'; "
            f"got {json_type(message)}",
            field="messages",
        )
    role = message.get("role")
    if role is None:
        hint, hints = message_keys_hint(message) if "role" not in message else ("", ())
        raise InvalidConversationError(
            f"message {index}: field 'role' is required{hint}", field="role", hints=hints
        )
    out: dict[str, Any] | None = None

    def edit() -> dict[str, Any]:
        nonlocal out
        if out is None:
            out = dict(message)
        return out

    name = _role(role, index, roles)
    calling = name == FUNCTION_CALL
    if calling:
        where = f"message {index}: field 'content'"
        calls = tool_calls_from_text(message.get("content"), where=where, field="content")
        edit().update(role="assistant", content=None, tool_calls=list(calls))
    elif name != role:
        edit()["role"] = name
    current = out if out is not None else message
    read = read_flags(current, index, "assistant" if calling else name)
    if read is not current:
        out = read
    content = read.get("content") if not calling else None
    if isinstance(content, list) and any(_untyped_text(part) for part in content):
        content = [{"type": "text", **p} if _untyped_text(p) else p for p in content]
        edit()["content"] = content
    if isinstance(content, list) and any(_is_value_part(part) for part in content):
        _from_value_parts(content, index, edit())
    if "function_call" in message:
        target = edit()
        call = target.pop("function_call")
        if call is not None and not message.get("tool_calls"):
            target["tool_calls"] = [{"type": "function", "function": call}]
    tool_calls = message.get("tool_calls")
    if tool_calls == []:
        edit()["tool_calls"] = None
    elif isinstance(tool_calls, list) and any(_object_arguments(call) for call in tool_calls):
        edit()["tool_calls"] = [_string_arguments(call) for call in tool_calls]
    if "reasoning_content" in message and message.get("reasoning") is None:
        target = edit()
        target["reasoning"] = target.pop("reasoning_content")
    weight = message.get("weight")
    if isinstance(weight, float) and weight in (0.0, 1.0):
        edit()["weight"] = int(weight)
    if "loss_weight" in message:
        _loss_weight(edit())
    return (message if out is None else out), calling


def _as_it_stands(message: object, roles: Mapping[str, str]) -> bool:
    """The common shape, which pydantic reads as it is: an object of :data:`_PLAIN_KEYS`
    with a string content, one of our roles that the role map leaves alone, and a weight
    that is not a float."""
    if not (
        message.__class__ is dict
        and message.keys() <= _PLAIN_KEYS
        and message.get("content").__class__ is str
        and message.get("weight").__class__ is not float
    ):
        return False
    role = message.get("role")
    return role.__class__ is str and role in _PLAIN_ROLES and role not in roles


def _role(role: object, index: int, roles: Mapping[str, str]) -> str:
    """The role ``role`` is read as (mapped, and the other names read), or an error that
    says how to map it."""
    name = roles.get(role, role) if isinstance(role, str) else role
    name = _TOOL_ROLES.get(name, name) if isinstance(name, str) else name
    if name != FUNCTION_CALL and name not in ROLES:
        hint, hints = role_hint(role)
        raise InvalidConversationError(
            f"message {index}: field 'role': expected one of {', '.join(ROLES)}; "
            f"got {role!r}{hint}",
            field="role",
            hints=hints,
        )
    return str(name)


def _untyped_text(part: object) -> bool:
    """A Gemini-style part, ``{"text": ...}`` with no ``type``: a text part."""
    return isinstance(part, dict) and "text" in part and "type" not in part


def _is_value_part(part: object) -> bool:
    return isinstance(part, dict) and "value" in part and "text" not in part


def _from_value_parts(parts: list[Any], index: int, out: dict[str, Any]) -> None:
    """LLaMA-Factory v1 content: text parts stay content, reasoning and tool calls move out."""
    content: list[ContentPart] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for j, part in enumerate(parts):
        where = f"message {index}: content part {j}"
        if not _is_value_part(part):
            content.append(_content_part(part, where, f"content.{j}"))
            continue
        kind, value = part.get("type"), part["value"]
        field = f"content.{j}.value"
        if kind == "text":
            content.append(_content_part({"type": "text", "text": value}, where, field))
        elif kind == "reasoning":
            if not isinstance(value, str):
                raise InvalidConversationError(
                    f"{where}: reasoning must be a string; got {json_type(value)}", field=field
                )
            reasoning.append(value)
        elif kind in ("tool_call", "tool_calls"):
            calls.extend(tool_calls_from_text(value, where=where, field=field))
        else:
            content.append(_content_part(part, where, f"content.{j}"))
    if len(content) == 1 and content[0].type == "text" and not content[0].model_extra:
        out["content"] = content[0].text
    else:
        out["content"] = content or None
    if reasoning:
        out["reasoning"] = "\n".join(reasoning)
    if calls:
        out["tool_calls"] = [*(out.get("tool_calls") or ()), *calls]


def _content_part(part: object, where: str, field: str) -> ContentPart:
    """One content part, or an error naming it (never pydantic's own)."""
    if not isinstance(part, dict):
        raise InvalidConversationError(
            f"{where}: expected a content part object with 'type'; got {json_type(part)}",
            field=field,
        )
    try:
        return ContentPart.model_validate(part)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        name = ".".join(map(str, first["loc"]))
        if first["type"] == "missing":
            detail = f"field {name!r} is required"
        else:
            detail = f"field {name!r}: {first['msg'].lower()}; got {json_type(first['input'])}"
        raise InvalidConversationError(f"{where}: {detail}", field=f"{field}.{name}") from error


def _loss_weight(out: dict[str, Any]) -> None:
    """LLaMA-Factory's ``loss_weight``: 0/1 on an assistant message is a weight; elsewhere
    0 is the default meaning and is dropped. Any other value is kept as it is."""
    value = out["loss_weight"]
    if value in (0, 1) and not isinstance(value, bool):
        del out["loss_weight"]
        if out.get("role") == "assistant" and out.get("weight") is None:
            out["weight"] = int(value)


def _object_arguments(call: object) -> bool:
    if not isinstance(call, dict):
        return False
    function = call.get("function")
    return isinstance(function, dict) and isinstance(function.get("arguments"), (dict, list))


def _string_arguments(call: Any) -> Any:
    if not _object_arguments(call):
        return call
    function = dict(call["function"])
    function["arguments"] = arguments_text(function["arguments"])
    return {**call, "function": function}


# -- the format object ---------------------------------------------------------------------


def speaker_items(messages: object) -> bool:
    """Whether a list of messages uses ShareGPT's ``from``/``value`` keys (read by the
    sharegpt reader) rather than ``role``/``content``."""
    if not isinstance(messages, list):
        return False
    first = next((m for m in messages if isinstance(m, dict)), None)
    return first is not None and "from" in first and "role" not in first


def detect_openai(record: Mapping[str, Any], role_map: Mapping[str, str]) -> bool:
    """A ``messages`` list of ``role``/``content`` messages."""
    return "messages" in record and not speaker_items(record["messages"])
