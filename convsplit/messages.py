"""The one internal form of chat data: :class:`Message` and :class:`Conversation`.

Every reader parses into these frozen pydantic models at the boundary; everything after
works on them. Unknown fields are kept (``extra="allow"``) so a record survives a round
trip through convsplit with nothing silently removed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from convsplit.errors import InvalidConversationError

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[Role, ...] = ("system", "developer", "user", "assistant", "tool")

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
    """A whole transcript: its messages, the tool schemas offered, an id and metadata."""

    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...] | None = None
    id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


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
    try:
        return Conversation.model_validate(record)
    except ValidationError as error:
        raise _explain(error) from error


def _explain(error: ValidationError) -> InvalidConversationError:
    """Turn pydantic's first error into one sentence naming message, field and expectation."""
    first = error.errors(include_url=False)[0]
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
