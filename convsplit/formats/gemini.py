"""Gemini's (Vertex AI's) tuning format: ``{"contents": [{"role", "parts": [...]}],
"systemInstruction": {"parts": [...]}, "tools": [{"functionDeclarations": [...]}]}``, read.

Roles are ``user`` and ``model`` (the assistant; ``function`` is read as a tool result);
a content's parts are joined: ``text`` parts are its text (``thought: true`` ones its
reasoning), ``functionCall`` parts its tool calls (``args`` as a JSON string),
``functionResponse`` parts tool results, one message each. Parts of other kinds (images,
files) are refused, naming the part: convsplit counts text. Other keys are kept as extras.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from convsplit.errors import InvalidConversationError
from convsplit.formats.json_text import json_type
from convsplit.formats.record_fields import check_role_map, list_field, role_hint
from convsplit.messages import Conversation, FunctionCall, Message, ToolCall, parse_conversation

#: Gemini's roles and what each is read as.
GEMINI_ROLES: Mapping[str, str] = {"user": "user", "model": "assistant", "function": "tool"}
_RECORD_KEYS = ("contents", "systemInstruction", "system_instruction", "tools")


def detect_gemini(record: Mapping[str, Any], role_map: Mapping[str, str]) -> bool:
    """A ``contents`` list of objects with ``parts``."""
    contents = record.get("contents")
    if not isinstance(contents, list):
        return False
    first = next((c for c in contents if isinstance(c, dict)), None)
    return first is not None and "parts" in first


def read_gemini(record: object, *, role_map: Mapping[str, str] | None = None) -> Conversation:
    """Parse one Gemini tuning record into a Conversation.

    Raises:
        InvalidConversationError: naming the content, part and field.

    >>> conv = read_gemini({"systemInstruction": {"parts": [{"text": "Be terse."}]},
    ...     "contents": [{"role": "user", "parts": [{"text": "Weather?"}]},
    ...                  {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {}}}]},
    ...                  {"role": "user", "parts": [{"functionResponse": {"name": "w",
    ...                                               "response": {"sky": "clear"}}}]},
    ...                  {"role": "model", "parts": [{"text": "Clear."}]}]})
    >>> [(m.role, m.text) for m in conv.messages]
    [('system', 'Be terse.'), ('user', 'Weather?'), ('assistant', ''), \
('tool', '{"sky": "clear"}'), ('assistant', 'Clear.')]
    """
    roles = {**GEMINI_ROLES, **check_role_map(role_map)}
    fields, contents = list_field(record, "contents", "contents")
    messages: list[Message] = []
    system = fields.get("systemInstruction", fields.get("system_instruction"))
    if system is not None:
        text, _, _ = _parts(system, "systemInstruction", "field 'systemInstruction'")
        if text:
            messages.append(Message(role="system", content=text))
    for i, content in enumerate(contents):
        messages.extend(_content(content, i, roles))
    extras = {k: v for k, v in fields.items() if k not in _RECORD_KEYS}
    return parse_conversation(
        {**extras, "messages": messages, "tools": _tools(fields.get("tools"))}
    )


def _content(content: object, index: int, roles: Mapping[str, str]) -> list[Message]:
    where = f"message {index}"
    if not isinstance(content, dict):
        raise InvalidConversationError(
            f"{where}: expected an object with 'role' and 'parts'; got {json_type(content)}",
            field="contents",
        )
    name = content.get("role", "user")
    role = roles.get(name) if isinstance(name, str) else None
    if role is None:
        hint, hints = role_hint(name)
        raise InvalidConversationError(
            f"{where}: field 'role': expected one of {', '.join(GEMINI_ROLES)}; got {name!r}{hint}",
            field="role",
            hints=hints,
        )
    text, thought, calls = _parts(content, "parts", where)
    results = calls if role != "assistant" else []
    if results:
        return [Message(role="tool", content=r.function.arguments, name=r.function.name)
                for r in results]  # fmt: skip
    return [
        Message(
            role=role,
            content=text if text or not calls else None,
            tool_calls=tuple(calls) or None,
            reasoning=thought or None,
        )
    ]


def _parts(holder: object, key: str, where: str) -> tuple[str, str, list[ToolCall]]:
    """The text, the thought and the calls (or results) of a ``parts`` list."""
    if not isinstance(holder, dict) or not isinstance(holder.get("parts"), list):
        raise InvalidConversationError(f"{where}: expected a list of 'parts'", field=key)
    text: list[str] = []
    thought: list[str] = []
    calls: list[ToolCall] = []
    for k, part in enumerate(holder["parts"]):
        at = f"{where}: part {k}"
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            (thought if part.get("thought") is True else text).append(part["text"])
        elif isinstance(part, dict) and isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            calls.append(_call(call, call.get("args", {}), at))
        elif isinstance(part, dict) and isinstance(part.get("functionResponse"), dict):
            result = part["functionResponse"]
            calls.append(_call(result, result.get("response"), at))
        else:
            kinds = ", ".join(map(repr, part)) if isinstance(part, dict) else json_type(part)
            raise InvalidConversationError(
                f"{at}: expected a text, functionCall or functionResponse part; got {kinds}",
                field=f"parts.{k}",
            )
    return "".join(text), "".join(thought), calls


def _call(value: Mapping[str, Any], payload: object, where: str) -> ToolCall:
    name = value.get("name")
    if not isinstance(name, str):
        raise InvalidConversationError(f"{where}: the call needs a string 'name'", field="name")
    call_id = value.get("id")
    return ToolCall(
        id=call_id if isinstance(call_id, str) else None,
        function=FunctionCall(name=name, arguments=json.dumps(payload, ensure_ascii=False)),
    )


def _tools(value: object) -> list[dict[str, Any]] | None:
    """Gemini's ``[{"functionDeclarations": [...]}]`` as function schemas."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidConversationError(
            f"field 'tools': expected a list; got {json_type(value)}", field="tools"
        )
    found: list[dict[str, Any]] = []
    for tool in value:
        declarations = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        if not isinstance(declarations, list):
            raise InvalidConversationError(
                "field 'tools': expected objects with 'functionDeclarations'", field="tools"
            )
        found.extend({"type": "function", "function": d} for d in declarations)
    return found or None
