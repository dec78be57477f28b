"""OpenAI chat format: ``{"messages": [...], "tools": [...]}``, read and written.

Reading accepts everything OpenAI's chat fine-tuning files have held: the roles system,
developer, user, assistant and tool; ``name``, ``tool_calls``, ``tool_call_id``,
``weight``; content as a string or a list of parts; top-level ``tools`` and
``parallel_tool_calls``; and the legacy ``function_call`` / ``function`` role / top-level
``functions``, which become tool calls, tool results and tools. It also reads
LLaMA-Factory's v1 content parts, ``{"type": "text" | "reasoning" | "tool_call", "value"}``,
and ``reasoning_content`` (a chat-template convention) as reasoning.

Writing produces a file that uploads as it is: context assistant messages get
``"weight": 0``, targets stay unweighted (or get ``"weight": 1``); reasoning and unknown
fields are dropped unless asked for, because OpenAI rejects keys it does not know; tool
schemas are put in OpenAI's ``{"type": "function", "function": ...}`` form; tool calls
without ids get deterministic ones (``call_<message>_<k>``) and their results the matching
``tool_call_id``, because OpenAI requires the pairing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal, cast

from pydantic import ValidationError

from convsplit.errors import InvalidConversationError
from convsplit.formats._common import (
    arguments_text,
    check_role_map,
    dumps,
    join_list,
    json_type,
    key,
    list_field,
    openai_tools,
    role_hint,
    sample_metadata,
    tool_calls_from_text,
    tools_from_json,
)
from convsplit.messages import (
    ROLES,
    ContentPart,
    Conversation,
    Message,
    ToolCall,
    parse_conversation,
)
from convsplit.samples import Sample, SplitResult

#: Message keys OpenAI's chat fine-tuning format documents.
OPENAI_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "tool_calls", "tool_call_id", "function_call", "weight"}
)
#: Top-level keys OpenAI's chat fine-tuning format documents.
OPENAI_RECORD_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})

_VALUE_PART_TYPES = frozenset({"text", "reasoning", "tool_call", "tool_calls"})


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
    converted = [_message(m, i, roles) for i, m in enumerate(messages)]
    return parse_conversation(_top_level(fields, converted))


def _top_level(record: dict[str, Any], messages: list[object]) -> dict[str, Any]:
    out = dict(record)
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


def _message(message: object, index: int, roles: Mapping[str, str]) -> object:
    """One message made ready for pydantic: legacy and v1 forms turned into the current one."""
    if not isinstance(message, dict):
        raise InvalidConversationError(
            f"message {index}: expected an object with 'role' and 'content'; "
            f"got {json_type(message)}",
            field="messages",
        )
    role = message.get("role")
    if role is None:
        raise InvalidConversationError(f"message {index}: field 'role' is required", field="role")
    out: dict[str, Any] | None = None

    def edit() -> dict[str, Any]:
        nonlocal out
        if out is None:
            out = dict(message)
        return out

    if isinstance(role, str) and role in roles:
        edit()["role"] = roles[role]
    elif role == "function":
        edit()["role"] = "tool"
    elif role not in ROLES:
        raise InvalidConversationError(
            f"message {index}: field 'role': expected one of {', '.join(ROLES)}; "
            f"got {role!r}{role_hint(role)}",
            field="role",
        )
    content = message.get("content")
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
    return message if out is None else out


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


# -- writing ---------------------------------------------------------------------------------

CallIds = tuple[str, ...] | None
"""Ids to give an assistant message's tool calls, when any of them lacks one."""


def _positions_of_none(items: list[Any]) -> list[int]:
    """Where ``items`` holds None (found with ``list.index``, at C speed)."""
    found: list[int] = []
    k = -1
    try:
        while True:
            k = items.index(None, k + 1)
            found.append(k)
    except ValueError:
        return found


def _lacks_ids(message: Message) -> bool:
    """Whether ``message`` is a tool call or result without an id."""
    if message.role == "tool":
        return message.tool_call_id is None
    calls = message.tool_calls
    return calls is not None and any(call.id is None for call in calls)


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


@dataclass(frozen=True, kw_only=True)
class OpenAIWriter:
    """Samples as OpenAI chat fine-tuning lines: ``{"messages": [...], "tools": [...]}``.

    Args:
        weight_targets: write ``"weight": 1`` on targets (else they carry no weight key,
            which OpenAI also trains).
        keep_reasoning: keep assistant reasoning, under ``reasoning_key``. OpenAI's
            format has no such field: the file will not upload as it is.
        reasoning_key: the key reasoning is written under.
        keep_extras: keep unknown message fields read from the input (same caveat).
        fill_tool_call_ids: give id-less tool calls and results matching ids (OpenAI
            requires them); off, ids are written only where the input had them.
        parallel_tool_calls: write ``"parallel_tool_calls"`` with this value on every
            sample that has tools (OpenAI's switch for training single calls). A sample
            does not carry its conversation's own value, so it is set here for the file.
        metadata: ``"inline"`` adds each sample's :func:`sample_metadata` under
            ``metadata_key`` (not accepted by OpenAI's upload); for a sidecar file use
            :func:`convsplit.formats.metadata_lines` instead.
        metadata_key: the key inline metadata goes under.

    >>> from convsplit import Budget, split_conversation
    >>> conv = read_openai({"messages": [
    ...     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
    ...     {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!"}]})
    >>> lines = list(OpenAIWriter().lines(split_conversation(conv, budget=Budget(100))))
    >>> print(lines[1].decode(), end="")
    {"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello","weight":0},{"role":"user","content":"Bye"},{"role":"assistant","content":"Bye!"}]}
    """

    weight_targets: bool = False
    keep_reasoning: bool = False
    reasoning_key: str = "reasoning"
    keep_extras: bool = False
    fill_tool_call_ids: bool = True
    parallel_tool_calls: bool | None = None
    metadata: Literal["none", "inline"] = "none"
    metadata_key: str = "metadata"

    def __post_init__(self) -> None:
        if self.metadata not in ("none", "inline"):
            raise ValueError(f"metadata must be 'none' or 'inline'; got {self.metadata!r}")

    @property
    def name(self) -> str:
        return "openai"

    def record(self, sample: Sample, *, sample_index: int = 0) -> dict[str, Any]:
        """The JSON object of one sample (what :meth:`lines` writes, built the slow way)."""
        ids = (
            tool_call_ids(sample.messages, sample.source_indices)
            if self.fill_tool_call_ids
            else [(None, None)] * len(sample.messages)
        )
        targets = set(sample.targets)
        out: dict[str, Any] = {
            "messages": [
                self._message(m, k in targets, *ids[k]) for k, m in enumerate(sample.messages)
            ]
        }
        if sample.tools:
            out["tools"] = openai_tools(sample.tools)
            if self.parallel_tool_calls is not None:
                out["parallel_tool_calls"] = self.parallel_tool_calls
        if self.metadata == "inline":
            out[self.metadata_key] = sample_metadata(sample, sample_index=sample_index)
        return out

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample; each distinct message is encoded once per result."""
        for pieces in self._pieces(result):
            yield b"".join(pieces)

    def chunks(self, result: SplitResult) -> Iterator[bytes]:
        """The bytes of :meth:`lines` in pieces, for a caller that writes them as they are.

        A sample's line is mostly messages already encoded for an earlier sample: handing
        out the pieces instead of a joined line saves copying each line several times.
        """
        return chain.from_iterable(self._pieces(result))

    def _pieces(self, result: SplitResult) -> Iterator[list[bytes]]:
        """Each sample's line as pieces.

        A message encodes the same way in every sample where it is context, so it is
        encoded once, by input index, followed by its comma; targets and truncated
        messages are encoded apart. A tool call or result without an id gets one that
        depends on the sample (:func:`tool_call_ids`): from the first sample that has
        one, the lines come from :meth:`_lines_filling_ids`.
        """
        context: dict[int, bytes] = {}
        head = b"{" + key("messages") + b":["
        tools_fragment = b""
        for index, sample in enumerate(result.samples):
            sources, messages, targets = sample.source_indices, sample.messages, sample.targets
            pieces: list[bytes | None] = [head, *map(context.get, sources)]
            own = {*targets, *sample.truncated}  # encoded apart, as they are in this sample
            for k in own:
                pieces[k + 1] = b""
            unseen = [k - 1 for k in _positions_of_none(pieces)]  # context seen first here
            if self.fill_tool_call_ids and any(_lacks_ids(messages[k]) for k in (*own, *unseen)):
                for line in self._lines_filling_ids(result, first=index):
                    yield [line]
                return
            for k in own:
                pieces[k + 1] = self._fragment(messages[k], k in targets) + b","
            for k in unseen:
                pieces[k + 1] = context[sources[k]] = self._fragment(messages[k], False) + b","
            pieces[-1] = cast(bytes, pieces[-1])[:-1] + b"]"
            items: list[tuple[bytes, bytes]] = []
            if sample.tools:
                if not tools_fragment:
                    tools_fragment = dumps(openai_tools(sample.tools))
                items.append((key("tools"), tools_fragment))
            pieces.append(self._tail(items, sample, index))
            yield cast(list[bytes], pieces)

    def _fragment(self, message: Message, trained: bool) -> bytes:
        return dumps(self._message(message, trained, None, None))

    def _tail(self, items: list[tuple[bytes, bytes]], sample: Sample, index: int) -> bytes:
        """The keys after ``"messages"`` and the line's end."""
        if sample.tools and self.parallel_tool_calls is not None:
            items.append((key("parallel_tool_calls"), dumps(self.parallel_tool_calls)))
        if self.metadata == "inline":
            meta = sample_metadata(sample, sample_index=index)
            items.append((key(self.metadata_key), dumps(meta)))
        return b"".join(b"," + name + b":" + value for name, value in items) + b"}\n"

    def _lines_filling_ids(self, result: SplitResult, *, first: int = 0) -> Iterator[bytes]:
        """Lines where id-less tool calls and results get matching ids, per sample (from
        sample ``first`` on)."""
        cache: dict[tuple[Any, ...], bytes] = {}
        tools_cache: dict[int, bytes] = {}
        messages_key, tools_key = key("messages"), key("tools")
        for index, sample in enumerate(result.samples[first:], first):
            ids = tool_call_ids(sample.messages, sample.source_indices)
            targets = set(sample.targets)
            fragments: list[bytes] = []
            for k, message in enumerate(sample.messages):
                trained = k in targets
                cache_key = (id(message), sample.source_indices[k], trained, *ids[k])
                fragment = cache.get(cache_key)
                if fragment is None:
                    fragment = dumps(self._message(message, trained, *ids[k]))
                    cache[cache_key] = fragment
                fragments.append(fragment)
            items: list[tuple[bytes, bytes]] = []
            if sample.tools:
                tools = tools_cache.get(id(sample.tools))
                if tools is None:
                    tools = tools_cache[id(sample.tools)] = dumps(openai_tools(sample.tools))
                items.append((tools_key, tools))
            yield (
                b"{" + messages_key + b":" + join_list(fragments) + self._tail(items, sample, index)
            )

    def _message(
        self, message: Message, trained: bool, call_ids: CallIds, answers: str | None
    ) -> dict[str, Any]:
        weight = (1 if self.weight_targets else None) if trained else 0
        return message_json(
            message,
            weight=weight,
            keep_reasoning=self.keep_reasoning,
            keep_extras=self.keep_extras,
            reasoning_key=self.reasoning_key,
            call_ids=call_ids,
            answers=answers,
        )
