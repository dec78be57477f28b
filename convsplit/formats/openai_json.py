"""Messages, tool calls and content as OpenAI's chat JSON: the objects the openai and
trl writers write, and the tool-call ids OpenAI requires (deterministic, per sample)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from convsplit.messages import ContentPart, Message, ToolCall

CallIds = tuple[str, ...] | None
"""Ids to give an assistant message's tool calls, when any of them lacks one."""


def tool_call_ids(
    messages: Sequence[Message], positions: Sequence[int]
) -> list[tuple[CallIds, str | None]]:
    """For each message: ids for its id-less tool calls, or the id its result answers.

    A call without an id gets ``call_<position>_<k>`` (``position`` is its index in the
    conversation, so every sample of a conversation agrees); a tool result without
    ``tool_call_id`` answers the earliest unanswered call of the latest calling message.

    >>> from convsplit.messages import FunctionCall
    >>> calls = (ToolCall(function=FunctionCall(name="f")),
    ...          ToolCall(id="b", function=FunctionCall(name="g")))
    >>> tool_call_ids([Message(role="assistant", tool_calls=calls), Message(role="tool")], [5, 6])
    [(('call_5_0', 'b'), None), (None, 'call_5_0')]
    """
    out: list[tuple[CallIds, str | None]] = []
    pending: deque[str] = deque()
    for message, position in zip(messages, positions, strict=True):
        calls: CallIds = None
        answers: str | None = None
        if message.role == "assistant" and message.tool_calls:
            ids = tuple(
                call.id if call.id is not None else f"call_{position}_{k}"
                for k, call in enumerate(message.tool_calls)
            )
            if any(call.id is None for call in message.tool_calls):
                calls = ids
            pending = deque(ids)
        elif message.role == "tool":
            if message.tool_call_id is None:
                if pending:
                    answers = pending.popleft()
            elif message.tool_call_id in pending:
                pending.remove(message.tool_call_id)
        out.append((calls, answers))
    return out


def assign_tool_call_ids(
    messages: Sequence[Message], positions: Sequence[int]
) -> tuple[Message, ...]:
    """``messages`` with the ids :func:`tool_call_ids` gives them filled in.

    >>> from convsplit.messages import FunctionCall
    >>> call = ToolCall(function=FunctionCall(name="f"))
    >>> filled = assign_tool_call_ids([
    ...     Message(role="assistant", tool_calls=(call,)), Message(role="tool", content="1")],
    ...     [3, 4])
    >>> filled[0].tool_calls[0].id, filled[1].tool_call_id
    ('call_3_0', 'call_3_0')
    """
    out: list[Message] = []
    for message, (calls, answers) in zip(messages, tool_call_ids(messages, positions), strict=True):
        update: dict[str, object] = {}
        if calls is not None and message.tool_calls:
            update["tool_calls"] = tuple(
                call.model_copy(update={"id": i})
                for call, i in zip(message.tool_calls, calls, strict=True)
            )
        if answers is not None:
            update["tool_call_id"] = answers
        out.append(message.model_copy(update=update) if update else message)
    return tuple(out)


def content_json(content: str | tuple[ContentPart, ...]) -> object:
    """Message content as JSON: the string, or the parts with their extra fields.

    >>> content_json((ContentPart(type="text", text="Hi"),))
    [{'type': 'text', 'text': 'Hi'}]
    """
    if isinstance(content, str):
        return content
    parts: list[object] = []
    for part in content:
        item: dict[str, Any] = {"type": part.type}
        if part.text is not None:
            item["text"] = part.text
        item.update(part.model_extra or {})
        parts.append(item)
    return parts


def tool_call_json(
    call: ToolCall, *, call_id: str | None = None, arguments: object = None
) -> dict[str, Any]:
    """One tool call as OpenAI writes it; ``arguments`` replaces the JSON string if given.

    >>> from convsplit.messages import FunctionCall
    >>> tool_call_json(ToolCall(function=FunctionCall(name="f", arguments="{}")), call_id="c1")
    {'id': 'c1', 'type': 'function', 'function': {'name': 'f', 'arguments': '{}'}}
    """
    function: dict[str, Any] = {
        "name": call.function.name,
        "arguments": call.function.arguments if arguments is None else arguments,
    }
    function.update(call.function.model_extra or {})
    item: dict[str, Any] = {}
    the_id = call.id if call_id is None else call_id
    if the_id is not None:
        item["id"] = the_id
    item["type"] = call.type
    item["function"] = function
    item.update(call.model_extra or {})
    return item


def message_json(
    message: Message,
    *,
    weight: int | None = None,
    keep_reasoning: bool = False,
    keep_extras: bool = False,
    reasoning_key: str = "reasoning",
    call_ids: CallIds = None,
    answers: str | None = None,
) -> dict[str, Any]:
    """One message as an OpenAI chat message object.

    >>> message_json(Message(role="assistant", content="Hi", reasoning="think"), weight=0)
    {'role': 'assistant', 'content': 'Hi', 'weight': 0}
    """
    out: dict[str, Any] = {"role": message.role}
    if message.content is not None:
        out["content"] = content_json(message.content)
    if message.name is not None:
        out["name"] = message.name
    if message.tool_calls:
        ids = call_ids or (None,) * len(message.tool_calls)
        out["tool_calls"] = [
            tool_call_json(call, call_id=i) for call, i in zip(message.tool_calls, ids, strict=True)
        ]
    tool_call_id = message.tool_call_id if message.tool_call_id is not None else answers
    if tool_call_id is not None:
        out["tool_call_id"] = tool_call_id
    if weight is not None and message.role == "assistant":
        out["weight"] = weight
    if keep_reasoning and message.reasoning is not None:
        out[reasoning_key] = message.reasoning
    if keep_extras:
        for name, value in (message.model_extra or {}).items():
            out.setdefault(name, value)
    return out
