"""ShareGPT: ``{"conversations": [{"from": "human", "value": ...}, ...]}``, read and written.

The roles are FastChat's (``human``, ``gpt``, ``system``) and LLaMA-Factory's tool turns:
``function_call`` (the assistant calling tools; its value is the JSON of one call
``{"name", "arguments"}`` or a list of them) and ``observation`` (a tool result), with the
tool schemas as a JSON string under ``tools``. Other role names are mapped by the user
(``role_map={"bot": "assistant"}``); ``role``/``content`` keys are accepted for
``from``/``value``.

LLaMA-Factory and FastChat expect turns to alternate (user or observation, then gpt or
function_call). The writer writes what the sample holds; :mod:`convsplit.inspect.validation`
reports samples that break the alternation. An assistant message that both speaks and
calls tools is written as a ``gpt`` turn followed by a ``function_call`` turn, and read
back as one message (so are two such turns in any file, unless their ``train`` flags
differ). Two assistant messages in a row, the first only speaking and the second only
calling, are written the same way with ``"separate": true`` on the ``function_call`` turn,
and read back as two: the round trip is exact. (LLaMA-Factory's converter skips any record
where a ``function_call`` turn follows a ``gpt`` one, as it breaks the alternation:
``validate`` reports both as ``consecutive_same_role`` for this output.)

Where a sample has several targets, every assistant turn gets a ``"train"`` flag (axolotl:
``message_field_training: train``). A single-target sample trains its last assistant turn
(LLaMA-Factory: ``mask_history: true``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from convsplit.errors import InvalidConversationError, InvalidOptionError
from convsplit.formats.json_text import dumps, join_list, join_object, json_type, key
from convsplit.formats.openai import speaker_items
from convsplit.formats.protocols import SampleWriter, WrittenForm
from convsplit.formats.record_fields import (
    arguments_value,
    check_role_map,
    list_field,
    role_hint,
    tool_calls_from_text,
    tools_from_json,
)
from convsplit.messages import Conversation, Message, ToolCall, parse_conversation
from convsplit.samples import Sample, SplitResult

FUNCTION_CALL = "function_call"
"""The ShareGPT role of an assistant turn that calls tools (LLaMA-Factory)."""

#: ShareGPT role names understood without a role map.
DEFAULT_ROLES: Mapping[str, str] = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "model": "assistant",
    "system": "system",
    "developer": "developer",
    FUNCTION_CALL: FUNCTION_CALL,
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}

#: Turn keys with a meaning; any other key is kept on the message as an extra field.
TURN_KEYS = frozenset({"from", "value", "role", "content", "train", "weight", "separate"})

SEPARATE = "separate"
"""The key, ``true`` on a ``function_call`` turn, that keeps it a message of its own: the
writer sets it where the turn before is an assistant message of its own (it only spoke),
so that reading joins exactly the turns that were one message."""
#: Record keys with a meaning; any other key is kept on the conversation as an extra field.
RECORD_KEYS = frozenset({"conversations", "system", "tools", "id"})


def in_messages(record: Mapping[str, Any]) -> bool:
    """The turns are under ``messages`` (with ``from``/``value`` keys), not
    ``conversations``."""
    return "conversations" not in record and speaker_items(record.get("messages"))


def read_sharegpt(record: object, *, role_map: Mapping[str, str] | None = None) -> Conversation:
    """Parse one ShareGPT record into a Conversation.

    Args:
        record: the parsed JSON record.
        role_map: extra ``from`` names and the role each stands for (``{"bot": "assistant"}``).

    Raises:
        InvalidConversationError: naming the turn and field.

    >>> conv = read_sharegpt({"conversations": [
    ...     {"from": "human", "value": "2+2?"},
    ...     {"from": "function_call", "value": '{"name": "calc", "arguments": {"x": "2+2"}}'},
    ...     {"from": "observation", "value": "4"},
    ...     {"from": "gpt", "value": "4."}]})
    >>> [m.role for m in conv.messages], conv.messages[1].tool_calls[0].function.arguments
    (['user', 'assistant', 'tool', 'assistant'], '{"x": "2+2"}')
    """
    extra_roles = check_role_map(role_map)
    key_ = "messages" if isinstance(record, dict) and in_messages(record) else "conversations"
    fields, turns = list_field(record, key_, "turns")
    messages: list[Message] = []
    system = fields.get("system")
    if isinstance(system, str) and system:
        messages.append(Message(role="system", content=system))
    elif system not in (None, ""):
        raise InvalidConversationError(
            f"field 'system': expected a string; got {json_type(system)}", field="system"
        )
    for index, turn in enumerate(turns):
        message = _turn(turn, index, extra_roles)
        previous = messages[-1] if messages else None
        if (
            message.tool_calls
            and not message.text
            and previous is not None
            and previous.role == "assistant"
            and not previous.tool_calls
            and previous.weight == message.weight
            and _kind(turns[index - 1], extra_roles) == "assistant"
            and not (isinstance(turn, dict) and turn.get(SEPARATE) is True)
        ):
            messages[-1] = previous.model_copy(update={"tool_calls": message.tool_calls})
        else:
            messages.append(message)
    extras = {k: v for k, v in fields.items() if k not in RECORD_KEYS and k != key_}
    conv_id = fields.get("id")
    if isinstance(conv_id, int) and not isinstance(conv_id, bool):
        conv_id = str(conv_id)
    elif conv_id is not None and not isinstance(conv_id, str):
        raise InvalidConversationError(
            f"field 'id': expected a string; got {json_type(conv_id)}", field="id"
        )
    return parse_conversation(
        {**extras, "messages": messages, "tools": tools_from_json(fields.get("tools")),
         "id": conv_id}
    )  # fmt: skip


def _kind(turn: object, extra_roles: Mapping[str, str]) -> str | None:
    if not isinstance(turn, dict):
        return None
    name = turn.get("from", turn.get("role"))
    if not isinstance(name, str):
        return None
    return extra_roles.get(name) or DEFAULT_ROLES.get(name.lower())


def _turn(turn: object, index: int, extra_roles: Mapping[str, str]) -> Message:
    where = f"message {index}"
    if not isinstance(turn, dict):
        raise InvalidConversationError(
            f"{where}: expected an object with 'from' and 'value'; got {json_type(turn)}",
            field="conversations",
        )
    role_key = "from" if "from" in turn else "role"
    value_key = "value" if "value" in turn or "content" not in turn else "content"
    name = turn.get(role_key)
    if name is None:
        raise InvalidConversationError(f"{where}: field 'from' is required", field="from")
    role = _kind(turn, extra_roles)
    if role is None:
        known = ", ".join(k for k in DEFAULT_ROLES)
        hint, hints = role_hint(name)
        raise InvalidConversationError(
            f"{where}: field {role_key!r}: expected one of {known}; got {name!r}{hint}",
            field=role_key,
            hints=hints,
        )
    value = turn.get(value_key)
    fields: dict[str, Any] = {k: v for k, v in turn.items() if k not in TURN_KEYS}
    train = turn.get("train")
    weight = turn.get("weight")
    if isinstance(train, bool):
        weight = int(train)
    elif train is not None:
        raise InvalidConversationError(
            f"{where}: field 'train': expected true or false; got {json_type(train)}",
            field="train",
        )
    if isinstance(weight, float) and weight in (0.0, 1.0):
        weight = int(weight)
    if weight is not None:
        fields["weight"] = weight
    if role == FUNCTION_CALL:
        calls: tuple[ToolCall, ...] = tool_calls_from_text(
            value, where=f"{where}: field {value_key!r}", field=value_key
        )
        return _message(where, role="assistant", content=None, tool_calls=calls, **fields)
    if value is None:
        raise InvalidConversationError(f"{where}: field {value_key!r} is required", field=value_key)
    if not isinstance(value, str):
        raise InvalidConversationError(
            f"{where}: field {value_key!r}: expected a string; got {json_type(value)}",
            field=value_key,
        )
    return _message(where, role=role, content=value, **fields)


def _message(where: str, **fields: Any) -> Message:
    try:
        return Message.model_validate(fields)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        name = str(first["loc"][0]) if first["loc"] else "value"
        raise InvalidConversationError(
            f"{where}: field {name!r}: {first['msg'][0].lower()}{first['msg'][1:]}; "
            f"got {first.get('input')!r}",
            field=name,
        ) from error


# -- writing ---------------------------------------------------------------------------------

#: The ``from`` names written for each role (LLaMA-Factory's and FastChat's).
WRITE_ROLES: Mapping[str, str] = {
    "system": "system",
    "developer": "system",
    "user": "human",
    "assistant": "gpt",
    "tool": "observation",
}


@dataclass(frozen=True, kw_only=True)
class ShareGPTWriter(SampleWriter):
    """Samples as ShareGPT lines: ``{"conversations": [{"from", "value"}...], "tools": "..."}``.

    Content parts are written as their text, developer messages as ``system``, tool calls
    become ``function_call`` turns (arguments as JSON objects, as LLaMA-Factory reads them)
    and tool results ``observation`` turns, tool schemas a JSON string of OpenAI-shaped
    schemas (LLaMA-Factory reads both shapes). Reasoning has no field in ShareGPT
    (LLaMA-Factory reads a thought only inline in the text, which convsplit does not
    rewrite): it is neither written nor counted (:attr:`written_form`).

    Args:
        train_flag: ``"auto"`` writes ``"train"`` on every assistant turn of a sample
            with several targets (``true`` on targets); ``"always"`` on every sample;
            ``"never"`` not at all.
        train_key: the key of that flag.
        role_names: the ``from`` name written for each role (defaults: :data:`WRITE_ROLES`),
            e.g. ``{"user": "user", "assistant": "assistant"}``.
        function_call_name: the ``from`` name of tool-call turns.
        keep_fields: also write ``name``, ``tool_call_id``, tool call ids and unknown
            message fields as extra turn keys, and the conversation's own columns
            (``source``, ``category``...) as keys of the row, so nothing is lost on a
            round trip (LLaMA-Factory and FastChat ignore them).

    >>> from convsplit import Budget, SplitSpec, split_conversation
    >>> conv = read_sharegpt({"conversations": [
    ...     {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]})
    >>> result = split_conversation(conv, SplitSpec(Budget(50)))
    >>> print(next(ShareGPTWriter().lines(result)).decode())
    {"conversations":[{"from":"human","value":"Hi"},{"from":"gpt","value":"Hello"}]}
    <BLANKLINE>
    """

    train_flag: Literal["auto", "always", "never"] = "auto"
    train_key: str = "train"
    role_names: Mapping[str, str] = field(default_factory=lambda: dict(WRITE_ROLES))
    function_call_name: str = FUNCTION_CALL
    keep_fields: bool = False

    def __post_init__(self) -> None:
        if self.train_flag not in ("auto", "always", "never"):
            raise InvalidOptionError(
                f"train_flag must be 'auto', 'always' or 'never'; got {self.train_flag!r}"
            )
        missing = set(WRITE_ROLES) - set(self.role_names)
        if missing:
            object.__setattr__(self, "role_names", {**WRITE_ROLES, **self.role_names})

    @property
    def name(self) -> str:
        return "sharegpt"

    @property
    def written_form(self) -> WrittenForm:
        """No reasoning; arguments as the JSON objects of ``function_call`` turns; names
        only with ``keep_fields``; developer messages as ``system`` turns."""
        return WrittenForm(
            reasoning=False,
            object_arguments=True,
            names=self.keep_fields,
            developer_as_system=self.role_names["developer"] == "system",
        )

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample; each distinct message is encoded once per result."""
        cache: dict[tuple[int, bool, bool, bool], bytes] = {}
        tools_cache: dict[int, bytes] = {}
        conversations_key, tools_key = key("conversations"), key("tools")
        for sample in result.samples:
            flags = self._flags(sample)
            targets = set(sample.targets)
            fragments: list[bytes] = []
            previous: Message | None = None
            for k, message in enumerate(sample.messages):
                trained = flags and k in targets
                separate = _speaks_only(previous) and _calls_only(message)
                previous = message
                cache_key = (id(message), trained, flags, separate)
                fragment = cache.get(cache_key)
                if fragment is None:
                    turns = self._turns(message, trained, flags, separate=separate)
                    fragment = cache[cache_key] = b",".join(dumps(turn) for turn in turns)
                fragments.append(fragment)
            items = [(conversations_key, join_list(fragments))]
            if sample.tools:
                tools = tools_cache.get(id(sample.tools))
                if tools is None:
                    tools = dumps(_json_text(list(sample.tools)))
                    tools_cache[id(sample.tools)] = tools
                items.append((tools_key, tools))
            if self.keep_fields and sample.columns:
                items += [
                    (key(name), dumps(value))
                    for name, value in sample.columns.items()
                    if name not in ("conversations", "tools")  # read, never extra columns
                ]
            yield join_object(items) + b"\n"

    def _flags(self, sample: Sample) -> bool:
        if self.train_flag == "auto":
            return len(sample.targets) > 1
        return self.train_flag == "always"

    def _turns(
        self, message: Message, trained: bool, flags: bool, *, separate: bool = False
    ) -> list[dict[str, Any]]:
        """The turn(s) of one message: a speaking and calling message makes two; a calling
        one right after a speaking one is marked :data:`SEPARATE`."""
        turns: list[dict[str, Any]] = []
        calls = message.tool_calls
        if message.role != "assistant" or not calls or message.text:
            turns.append({"from": self.role_names[message.role], "value": message.text})
        if message.role == "assistant" and calls:
            values = [self._call(call) for call in calls]
            value = values[0] if len(values) == 1 else values
            turns.append({"from": self.function_call_name, "value": _json_text(value)})
            if separate:
                turns[-1][SEPARATE] = True
        if self.keep_fields:
            turns[0].update(self._fields(message))
        if flags and message.role == "assistant":
            for turn in turns:
                turn[self.train_key] = trained
        return turns

    def _call(self, call: ToolCall) -> dict[str, Any]:
        value: dict[str, Any] = {
            "name": call.function.name,
            "arguments": arguments_value(call.function.arguments),
        }
        if self.keep_fields:
            if call.id is not None:
                value["id"] = call.id
            value.update(call.model_extra or {})
        return value

    def _fields(self, message: Message) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if message.name is not None:
            out["name"] = message.name
        if message.tool_call_id is not None:
            out["tool_call_id"] = message.tool_call_id
        for name, value in (message.model_extra or {}).items():
            out.setdefault(name, value)
        return out


def _speaks_only(message: Message | None) -> bool:
    return message is not None and message.role == "assistant" and not message.tool_calls


def _calls_only(message: Message) -> bool:
    return message.role == "assistant" and bool(message.tool_calls) and not message.text


def _json_text(value: object) -> str:
    """JSON inside a string field, spaced as LLaMA-Factory's own files (``json.dumps``)."""
    return json.dumps(value, ensure_ascii=False)


# -- the format object ---------------------------------------------------------------------


def detect_sharegpt(record: Mapping[str, Any], role_map: Mapping[str, str]) -> bool:
    """``conversations``, or ``messages`` whose turns use ``from``/``value``."""
    return "conversations" in record or in_messages(record)
