"""Pairs: records that hold one exchange (or a prompt and its answer) rather than a list.

- legacy completions ``{"prompt": "...", "completion": "..."}``: a user message and the
  assistant's reply, text kept exactly (separator, leading space and stop sequence included);
- TRL's conversational ``{"prompt": [messages], "completion": [messages]}``: the messages in
  order, assistant messages of the prompt marked ``weight: 0`` (TRL does not train them);
- alpaca ``{"instruction", "input", "output"}`` (plus LLaMA-Factory's optional ``system``
  and ``history`` of ``[question, answer]`` pairs); instruction and input are joined with a
  newline, as LLaMA-Factory does;
- dictionary pairs such as ``{"user": ..., "agent": ...}``: two text fields, one naming the
  user side and one the assistant side (see :data:`USER_KEYS`, :data:`ASSISTANT_KEYS`, or
  name them with the role map: ``role_map={"agent": "assistant"}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convsplit.errors import InvalidConversationError, OptionHint
from convsplit.formats.json_text import json_type
from convsplit.formats.openai import read_openai
from convsplit.formats.record_fields import check_role_map, tools_from_json
from convsplit.messages import Conversation, Message, parse_conversation

#: Field names read as the user's side of a dictionary pair.
USER_KEYS = ("user", "human", "question", "query", "input", "prompt", "instruction")
#: Field names read as the assistant's side of a dictionary pair.
ASSISTANT_KEYS = ("assistant", "agent", "bot", "gpt", "model", "answer", "response", "output",
                  "completion")  # fmt: skip
_ALPACA_KEYS = frozenset({"instruction", "input", "output", "system", "history"})


def read_pairs(record: object, *, role_map: Mapping[str, str] | None = None) -> Conversation:
    """Parse a prompt/completion, alpaca or dictionary-pair record into a Conversation.

    Raises:
        InvalidConversationError: the record is none of these shapes, or a field has the
            wrong type.

    >>> conv = read_pairs({"instruction": "Translate", "input": "chat", "output": "cat"})
    >>> [(m.role, m.content) for m in conv.messages]
    [('user', 'Translate\\nchat'), ('assistant', 'cat')]
    >>> conv = read_pairs({"user": "Hi", "agent": "Hello"})
    >>> [(m.role, m.content) for m in conv.messages]
    [('user', 'Hi'), ('assistant', 'Hello')]
    """
    roles = check_role_map(role_map)
    if not isinstance(record, dict):
        raise InvalidConversationError(f"expected a JSON object; got {json_type(record)}")
    if "prompt" in record and "completion" in record:
        return _prompt_completion(record, roles)
    if "instruction" in record and "output" in record:
        return _alpaca(record)
    pair = find_pair(record, roles)
    if pair is None:
        hint = OptionHint("role_map", ("<field>=user", "<field>=assistant"), mapping=True)
        raise InvalidConversationError(
            "expected 'prompt' and 'completion', 'instruction' and 'output', or a user and "
            f"an assistant field (such as 'user' and 'assistant'); got keys "
            f"{', '.join(map(repr, record)) or 'none'} (name them with {hint})",
            hints=[hint],
        )
    user_key, assistant_key = pair
    messages = _system(record)
    messages.append(Message(role="user", content=_text(record, user_key)))
    messages.append(Message(role="assistant", content=_text(record, assistant_key)))
    extras = {k: v for k, v in record.items() if k not in {user_key, assistant_key, "system"}}
    return _conversation(messages, extras)


def find_pair(record: Mapping[str, Any], role_map: Mapping[str, str]) -> tuple[str, str] | None:
    """The (user, assistant) field names of a dictionary pair, if the record is one.

    Fields named in ``role_map`` win over the default names. Both must hold text (a
    record whose ``input`` is an object is some other shape); any other field (``id``,
    ``source``, ``category``...) is kept on the conversation as an extra.
    """
    users = [k for k in record if role_map.get(k) == "user"]
    assistants = [k for k in record if role_map.get(k) == "assistant"]
    if not users:
        users = [k for k in USER_KEYS if k in record and k not in role_map]
    if not assistants:
        assistants = [k for k in ASSISTANT_KEYS if k in record and k not in role_map]
    if len(users) != 1 or len(assistants) != 1:
        return None
    if not all(isinstance(record[k], str) for k in (users[0], assistants[0])):
        return None
    return users[0], assistants[0]


def _prompt_completion(record: dict[str, Any], roles: Mapping[str, str]) -> Conversation:
    prompt, completion = record["prompt"], record["completion"]
    if isinstance(prompt, list) and isinstance(completion, list):
        return _conversational(record, roles)
    if isinstance(prompt, str) and isinstance(completion, str):
        messages = _system(record)
        messages.append(Message(role="user", content=prompt))
        messages.append(Message(role="assistant", content=completion))
        extras = {k: v for k, v in record.items() if k not in ("prompt", "completion", "system")}
        return _conversation(messages, extras)
    raise InvalidConversationError(
        "fields 'prompt' and 'completion': expected two strings (legacy completions) or "
        f"two lists of messages (TRL); got {json_type(prompt)} and {json_type(completion)}",
        field="prompt",
    )


def _conversational(record: dict[str, Any], roles: Mapping[str, str]) -> Conversation:
    prompt, completion = record["prompt"], record["completion"]
    rest = {k: v for k, v in record.items() if k not in ("prompt", "completion")}
    try:
        conversation = read_openai({**rest, "messages": [*prompt, *completion]}, role_map=roles)
    except InvalidConversationError as error:
        raise _renumbered(error, len(prompt)) from error
    messages = tuple(
        m.model_copy(update={"weight": 0})
        if k < len(prompt) and m.role == "assistant" and m.weight is None
        else m
        for k, m in enumerate(conversation.messages)
    )
    return conversation.model_copy(update={"messages": messages})


def _renumbered(error: InvalidConversationError, prompt_length: int) -> InvalidConversationError:
    """Say 'completion message 0' rather than 'message 3' for TRL's second list."""
    reason = error.reason
    if reason.startswith("message "):
        number, _, rest = reason[len("message ") :].partition(":")
        if number.isdigit():
            index = int(number)
            where = (
                f"prompt message {index}"
                if index < prompt_length
                else f"completion message {index - prompt_length}"
            )
            reason = f"{where}:{rest}"
    return InvalidConversationError(reason, field=error.field)


def _alpaca(record: dict[str, Any]) -> Conversation:
    messages = _system(record)
    history = record.get("history") or []
    if not isinstance(history, list):
        raise InvalidConversationError(
            f"field 'history': expected a list of [question, answer] pairs; got "
            f"{json_type(history)}",
            field="history",
        )
    for k, pair in enumerate(history):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        ):
            raise InvalidConversationError(
                f"field 'history': item {k}: expected [question, answer] strings; got "
                f"{json_type(pair)}",
                field="history",
            )
        messages.append(Message(role="user", content=pair[0]))
        messages.append(Message(role="assistant", content=pair[1]))
    instruction = _text(record, "instruction")
    query = record.get("input")
    if query not in (None, "") and not isinstance(query, str):
        raise InvalidConversationError(
            f"field 'input': expected a string; got {json_type(query)}", field="input"
        )
    prompt = "\n".join(part for part in (instruction, query) if part)
    messages.append(Message(role="user", content=prompt))
    messages.append(Message(role="assistant", content=_text(record, "output")))
    extras = {k: v for k, v in record.items() if k not in _ALPACA_KEYS}
    return _conversation(messages, extras)


def _system(record: Mapping[str, Any]) -> list[Message]:
    system = record.get("system")
    if system in (None, ""):
        return []
    if not isinstance(system, str):
        raise InvalidConversationError(
            f"field 'system': expected a string; got {json_type(system)}", field="system"
        )
    return [Message(role="system", content=system)]


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise InvalidConversationError(
            f"field {name!r}: expected a string; got {json_type(value)}", field=name
        )
    return value


def _conversation(messages: list[Message], extras: dict[str, Any]) -> Conversation:
    """The conversation, with its ``id``, its ``tools`` column (a list or LLaMA-Factory's
    JSON text) and every other column kept as an extra field."""
    if "tools" in extras:
        extras["tools"] = tools_from_json(extras["tools"])
    conv_id = extras.pop("id", None)
    if isinstance(conv_id, int) and not isinstance(conv_id, bool):
        conv_id = str(conv_id)
    elif conv_id is not None and not isinstance(conv_id, str):
        raise InvalidConversationError(
            f"field 'id': expected a string; got {json_type(conv_id)}", field="id"
        )
    return parse_conversation({**extras, "messages": messages, "id": conv_id})


def detect_pairs(record: Mapping[str, Any], role_map: Mapping[str, str]) -> bool:
    """Prompt and completion, instruction and output, or a user and an assistant field."""
    if ("prompt" in record and "completion" in record) or (
        "instruction" in record and "output" in record
    ):
        return True
    return find_pair(record, role_map) is not None
