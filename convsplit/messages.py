"""The one internal form of chat data: :class:`Message` and :class:`Conversation`.

Every reader parses into these frozen pydantic models at the boundary; everything after
works on them. Unknown fields are kept (``extra="allow"``) so a record survives a round
trip through convsplit with nothing silently removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from convsplit.errors import InvalidConversationError

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[Role, ...] = ("system", "developer", "user", "assistant", "tool")

#: The deepest nesting of JSON containers convsplit accepts, counted in a record (its own
#: object or list is level 1) and in a Conversation's JSON form (the conversation is level 1,
#: ``messages`` 2, a message 3, a tool call's parsed ``arguments`` 7). Deeper input is
#: rejected when it is read or validated, so every later stage has room to spare: orjson and
#: pydantic write at most 254 levels, Python's json and repr recurse on the caller's stack.
MAX_JSON_DEPTH = 128

#: Roles whose messages are instructions: pinned in every sample, never dropped.
INSTRUCTION_ROLES: frozenset[str] = frozenset({"system", "developer"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class ContentPart(_Frozen):
    """One part of a multi-part content list (``{"type": "text", "text": ...}``, an image...).

    Text parts are counted; other parts pass through untouched.
    """

    type: str
    text: str | None = None


class FunctionCall(_Frozen):
    """The function an assistant asks to call; ``arguments`` is a JSON string, as OpenAI's."""

    name: str
    arguments: str = ""


class ToolCall(_Frozen):
    """One tool call requested by an assistant message."""

    id: str | None = None
    type: str = "function"
    function: FunctionCall


class Message(_Frozen):
    """One chat message.

    >>> Message(role="user", content="Hi!").text
    'Hi!'
    """

    role: Role
    content: str | tuple[ContentPart, ...] | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None
    weight: Literal[0, 1] | None = None
    reasoning: str | None = None

    @property
    def text(self) -> str:
        """The counted text: the content string, or its text parts joined in order."""
        content = self.content
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        return "".join(part.text for part in content if part.type == "text" and part.text)

    def without_reasoning(self) -> Message:
        """This message as context: an assistant's thinking is not shown to later turns."""
        if self.reasoning is None:
            return self
        return self.model_copy(update={"reasoning": None})


class Conversation(_Frozen):
    """A whole transcript: its messages, the tool schemas offered, an id and metadata.

    Tool schemas are kept in OpenAI's ``{"type": "function", "function": ...}`` shape
    (:func:`function_tool`): a bare function read from a ShareGPT file is wrapped once, here.

    Built from Python, it is checked as a record read from a file is: an invalid one raises
    :class:`~convsplit.InvalidConversationError` naming the message and field, as does one
    that no writer could write (JSON nested past :data:`MAX_JSON_DEPTH`, a lone surrogate).

    >>> Conversation(messages=(Message(role="user", content="Hi \\ud800"),))
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: message 0: field 'content': holds a lone \
surrogate '\\ud800' (character 3), which UTF-8 cannot encode; replace or remove it (a JSON \
escape such as '\\ud800' without its pair reads as one)
    """

    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...] | None = None
    id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise _explain(error) from error

    @field_validator("tools")
    @classmethod
    def _function_tools(
        cls, tools: tuple[dict[str, Any], ...] | None
    ) -> tuple[dict[str, Any], ...] | None:
        """Tool schemas in the one shape every writer writes and every format counts."""
        if tools is None or not any(map(_bare_function, tools)):
            return tools
        return tuple(map(function_tool, tools))

    @model_validator(mode="after")
    def _writable(self) -> Conversation:
        """Refuse what no writer could write: JSON nested past :data:`MAX_JSON_DEPTH`, or a
        string holding a lone surrogate (which UTF-8 cannot encode)."""
        problem = next(_problems(self, strings=not _STRINGS_ENCODE.get()), None)
        if problem is not None:
            where, field, what = problem
            raise InvalidConversationError(f"{where}{what}", field=field)
        return self


_STRINGS_ENCODE: ContextVar[bool] = ContextVar("convsplit_strings_encode", default=False)


class StringsEncode:
    """A context in which conversations are built from values whose every string is known to
    encode as UTF-8: what :func:`~convsplit.formats.parse_json` returns (orjson refuses a
    lone surrogate, and parse_json only falls back to the standard library on text orjson
    has read). Inside it, :class:`Conversation` skips its lone-surrogate check and keeps
    every other (depth is checked in the conversation's shape, which readers may change).

    Values from the library API (dicts, dataset rows, Dask items) are built outside it and
    checked in full; ``StringsEncode(False)`` says so explicitly.

    >>> with StringsEncode(True):
    ...     Conversation(messages=(Message(role="user", content="Hi"),)).messages[0].text
    'Hi'
    """

    __slots__ = ("_known", "_token")

    def __init__(self, known: bool) -> None:
        self._known = known

    def __enter__(self) -> None:
        self._token = _STRINGS_ENCODE.set(self._known)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _STRINGS_ENCODE.reset(self._token)


def _bare_function(tool: dict[str, Any]) -> bool:
    return "type" not in tool and "name" in tool


def function_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool schema in OpenAI's ``{"type": "function", "function": {...}}`` shape.

    A bare function schema (``{"name": ..., "parameters": ...}``, as LLaMA-Factory and
    ShareGPT files store them) is wrapped; anything with a ``type`` is left as it is.
    :class:`Conversation` applies this to its tools, so the shape that is counted is the
    shape that is written, whatever the input's.

    >>> function_tool({"name": "f", "parameters": {}})
    {'type': 'function', 'function': {'name': 'f', 'parameters': {}}}
    """
    return {"type": "function", "function": tool} if _bare_function(tool) else tool


Problem = tuple[str, str | None, str]
"""Where (``"message 2: field 'content': "``), the field, and what is wrong."""


def _problems(conv: Conversation, *, strings: bool = True) -> Iterator[Problem]:
    """What makes ``conv`` unwritable, first found first. The free-form parts (extras,
    tools, metadata, tool-call arguments) are walked for depth; every string is checked for
    a lone surrogate unless ``strings`` is false (they are known to encode)."""
    for i, message in enumerate(conv.messages):
        content = message.content
        if (
            message.tool_calls is None
            and not message.__pydantic_extra__
            and (
                content is None or (content.__class__ is str and (not strings or _encodes(content)))
            )
            and (
                not strings
                or (
                    message.name is None
                    and message.tool_call_id is None
                    and message.reasoning is None
                )
            )
        ):
            continue  # the common case: plain text, nothing to walk
        where = f"message {i}: "
        if strings:
            for name in ("content", "name", "tool_call_id", "reasoning"):
                value = getattr(message, name)
                if isinstance(value, str) and not value.isascii():
                    yield from _text(value, where, name)
        if isinstance(message.content, tuple):
            for j, part in enumerate(message.content):
                field = f"content.{j}"
                if strings:
                    yield from _value(part.type, 4, where, f"{field}.type")
                    if part.text is not None:
                        yield from _value(part.text, 4, where, f"{field}.text")
                yield from _extras(part, 5, where, field, strings)
        for k, call in enumerate(message.tool_calls or ()):
            field = f"tool_calls.{k}"
            arguments = call.function.arguments
            if strings:
                yield from _value([call.id, call.type, call.function.name], 5, where, field)
                yield from _value(arguments, 6, where, f"{field}.function.arguments")
            # Writers and chat templates may parse the arguments back into JSON (level 7).
            if _might_exceed(arguments, MAX_JSON_DEPTH - 6):
                position = too_deep_at(arguments, MAX_JSON_DEPTH - 6)
                if position is not None:
                    yield (
                        where,
                        f"{field}.function.arguments",
                        _deep(f"field '{field}.function.arguments'", f" (at character {position})"),
                    )
            yield from _extras(call.function, 6, where, f"{field}.function", strings)
            yield from _extras(call, 5, where, field, strings)
        yield from _extras(message, 3, where, None, strings)
    if conv.id is not None or conv.tools or conv.metadata or conv.model_extra:
        yield from _value(conv.id, 1, "", "id", strings)
        for k, tool in enumerate(conv.tools or ()):
            yield from _value(tool, 2, "", f"tools.{k}", strings)
        yield from _value(conv.metadata, 1, "", "metadata", strings)
        yield from _extras(conv, 1, "", None, strings)


def _extras(
    model: BaseModel, level: int, where: str, field: str | None, strings: bool
) -> Iterator[Problem]:
    """Problems in the unknown fields of ``model``, which sits at ``level``."""
    for name, value in (model.model_extra or {}).items():
        path = name if field is None else f"{field}.{name}"
        if strings:
            yield from _value(name, level, where, path)
        yield from _value(value, level, where, path, strings)


def _value(
    value: object, level: int, where: str, field: str, strings: bool = True
) -> Iterator[Problem]:
    """Problems in a JSON-like ``value`` held by a container at ``level``."""
    found = _walk(value, level, strings)
    if found is _TOO_DEEP:
        yield where, field, _deep(f"field {field!r}", "")
    elif found is not None:
        yield from _text(found, where, field)


_TOO_DEEP = "too deep"


def _walk(value: object, level: int, strings: bool) -> str | None:
    """The first string (key or value) in ``value`` that UTF-8 cannot encode (looked for
    only if ``strings``), or ``_TOO_DEEP`` if it nests past the limit; None when all is
    well."""
    if isinstance(value, str):
        return None if not strings or _encodes(value) else value
    if not isinstance(value, (dict, list, tuple)):
        return None
    stack: list[tuple[object, int]] = [(value, level + 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return _TOO_DEEP
        if isinstance(item, dict):
            if strings:
                for key in item:
                    if isinstance(key, str) and not key.isascii() and not _encodes(key):
                        return key
            children: Iterable[object] = item.values()
        else:
            children = cast(Iterable[object], item)
        for child in children:
            if isinstance(child, str):
                if strings and not child.isascii() and not _encodes(child):
                    return child
            elif isinstance(child, (dict, list, tuple)):
                stack.append((child, depth + 1))
    return None


def _encodes(text: str) -> bool:
    """Whether UTF-8 can encode ``text`` (it holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(text: str, where: str, field: str) -> Iterator[Problem]:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        char = text[error.start]
        yield (
            where,
            field,
            (
                f"field {field!r}: holds a lone surrogate {char!r} (character {error.start}), "
                "which UTF-8 cannot encode; replace or remove it (a JSON escape such as "
                f"'\\u{ord(char):04x}' without its pair reads as one)"
            ),
        )


def _deep(what: str, at: str) -> str:
    return (
        f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels{at}; convsplit reads at "
        f"most {MAX_JSON_DEPTH}: flatten or drop the field"
    )


_BRACKETS = re.compile(r'[][{}"\\]')


def _might_exceed(text: str, limit: int) -> bool:
    """A cheap bound: fewer opening brackets than ``limit`` cannot nest past it."""
    return text.count("[") + text.count("{") > limit


def too_deep_at(text: str, limit: int) -> int | None:
    """Where JSON text first nests more than ``limit`` containers deep (outside strings), or
    None. Works on text that is not valid JSON, as a chat template parsing it would meet it.

    >>> too_deep_at('{"a": [[1]]}', 3), too_deep_at('{"a": [[1]]}', 2)
    (None, 7)
    """
    depth = 0
    in_string = False
    skip = -1
    for match in _BRACKETS.finditer(text):
        i = match.start()
        if i == skip:
            continue
        char = text[i]
        if in_string:
            if char == "\\":
                skip = i + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return i
        elif char in "]}" and depth > 0:
            depth -= 1
    return None


def parse_conversation(record: object) -> Conversation:
    """Validate a plain ``dict`` into a :class:`Conversation`, with errors a person can act on.

    Args:
        record: a mapping with ``messages`` (and optionally ``tools``, ``id``, ``metadata``).

    Returns:
        The validated conversation.

    Raises:
        InvalidConversationError: naming the message index, the field and what was expected.

    >>> parse_conversation({"messages": [{"role": "bot", "content": "hi"}]})
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: message 0: field 'role': expected one of \
system, developer, user, assistant, tool; got 'bot'
    """
    if not isinstance(record, dict):
        raise InvalidConversationError(
            f"expected a JSON object with 'messages'; got {type(record).__name__}"
        )
    # The constructor, not model_validate: with a custom __init__ pydantic's model_validate
    # calls it, and the conversation would be validated twice.
    return Conversation(**record)


def _explain(error: ValidationError) -> InvalidConversationError:
    """Turn pydantic's first error into one sentence naming message, field and expectation."""
    first = error.errors(include_url=False)[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, InvalidConversationError):  # raised by a validator of ours
        return cause
    loc = list(first["loc"])
    where: list[str] = []
    if len(loc) >= 2 and loc[0] == "messages" and isinstance(loc[1], int):
        where.append(f"message {loc[1]}")
        loc = loc[2:]
    # pydantic adds the union member it tried ("str", "tuple[...]") to the location.
    fields = [str(part) for part in loc if not _is_union_tag(part)]
    field = ".".join(fields) if fields else None
    if field is not None:
        where.append(f"field {field!r}")
    if first["type"] == "literal_error" and fields and fields[-1] == "role":
        expected = "expected one of " + ", ".join(ROLES)
    elif fields and fields[0] == "content" and len(fields) == 1:
        expected = "expected a string, a list of content parts or null"
    else:
        expected = first["msg"][0].lower() + first["msg"][1:]
        expected = expected.replace("valid tuple", "list")
    got = first.get("input")
    detail = f"{expected}; got {got!r}" if first["type"] != "missing" else "is required"
    prefix = ": ".join(where)
    return InvalidConversationError(f"{prefix}: {detail}" if prefix else detail, field=field)


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (
        part in {"str", "none", "int"} or part.startswith(("tuple[", "literal[", "dict["))
    )
