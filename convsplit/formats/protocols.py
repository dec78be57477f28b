"""What a reader and a writer of an outside format are: the two protocols every format fills
in, what of a message a writer writes (:class:`WrittenForm`, which the splitter counts), and
the one place a writer written before ``chunks`` existed is given it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

from convsplit.errors import InvalidOptionError
from convsplit.formats.record_fields import arguments_value
from convsplit.messages import ContentPart, Conversation, Message, ToolCall
from convsplit.samples import SplitResult


@runtime_checkable
class Reader(Protocol):
    """Parses one JSON record of a format into a Conversation."""

    def __call__(
        self, record: object, *, role_map: Mapping[str, str] | None = None
    ) -> Conversation:
        """Raises InvalidConversationError naming the message and field."""
        ...


@dataclass(frozen=True)
class WrittenForm:
    """What of a message a writer writes where its trainer reads it: the one rule the count
    and the writer share.

    The splitter counts each message in this form (:func:`written_message`) and the writer
    writes that same message, so what is counted is what is written.

    Attributes:
        reasoning: assistant reasoning is written where the trainer (or its chat template)
            reads it. False: it is left out of the samples, and so not counted.
        object_arguments: tool-call arguments are written as JSON objects, which a chat
            template serializes again: they are counted as ``json.dumps`` of the object.
        names: message ``name`` fields are written.
        developer_as_system: developer messages are written (and counted) as system ones.
        text_content: content given as a list of text parts is written as their text, for a
            chat template that reads content only as a string (set by the spec).
        call_content: a calling message without content is written with ``content: ""``,
            for a chat template that fails without it (set by the spec; DeepSeek-V3's).
    """

    reasoning: bool = True
    object_arguments: bool = False
    names: bool = True
    developer_as_system: bool = False
    text_content: bool = False
    call_content: bool = False

    def changes(self, message: Message) -> bool:
        """Whether ``message`` is written other than it is (cheap: the splitter's hot path)."""
        return (
            message.reasoning is not None
            or message.tool_calls is not None
            or (message.name is not None and not self.names)
            or (message.role == "developer" and self.developer_as_system)
            or (self.text_content and message.content.__class__ is tuple)
        )


def written_message(message: Message, form: WrittenForm) -> Message:
    """``message`` as a writer of ``form`` writes it: what the splitter counts.

    >>> m = Message(role="assistant", content="4", reasoning="2+2")
    >>> written_message(m, WrittenForm(reasoning=False)).reasoning is None
    True
    """
    update: dict[str, object] = {}
    if message.reasoning is not None and not form.reasoning:
        update["reasoning"] = None
    if message.name is not None and not form.names:
        update["name"] = None
    if message.role == "developer" and form.developer_as_system:
        update["role"] = "system"
    content = message.content
    if form.text_content and isinstance(content, tuple) and all(map(_plain_text, content)):
        update["content"] = message.text
    calls = message.tool_calls
    if calls and form.call_content and content is None:
        update["content"] = ""
    if calls and form.object_arguments:
        written = tuple(map(_object_arguments, calls))
        if any(a is not b for a, b in zip(written, calls, strict=True)):
            update["tool_calls"] = written
    return message.model_copy(update=update) if update else message


def _plain_text(part: ContentPart) -> bool:
    """A text part with nothing else: written as its text, nothing is lost."""
    return part.type == "text" and not part.model_extra


def _object_arguments(call: ToolCall) -> ToolCall:
    """The call with its arguments as a template shows a JSON object: ``json.dumps`` of it."""
    value = arguments_value(call.function.arguments)
    if isinstance(value, str):
        return call  # not a JSON object: written as the string
    text = json.dumps(value, ensure_ascii=False)
    if text == call.function.arguments:
        return call
    function = call.function.model_copy(update={"arguments": text})
    return call.model_copy(update={"function": function})


@runtime_checkable
class SampleWriter(Protocol):
    """Writes the samples of one conversation as JSON lines of one outside format.

    Every writer has :meth:`lines` and :meth:`chunks`; a writer that subclasses this
    protocol gets ``chunks`` from it (the lines themselves), and one registered without it
    is given it by :func:`as_sample_writer`, so callers never ask which a writer has.
    """

    @property
    def name(self) -> str:
        """The name it is registered under."""
        ...

    @property
    def written_form(self) -> WrittenForm:
        """What of a message it writes (by default: reasoning, and arguments as strings)."""
        return WrittenForm()

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample, ``b"\\n"``-terminated, in sample order."""
        ...

    def chunks(self, result: SplitResult) -> Iterator[bytes]:
        """The bytes of :meth:`lines` in pieces that a caller writes as they come.

        A writer whose lines share pieces (each sample repeats its history) hands them out
        unjoined, which saves copying every line (:meth:`OpenAIWriter.chunks` does); by
        default the pieces are the lines.
        """
        return self.lines(result)


def as_sample_writer(writer: object) -> SampleWriter:
    """``writer`` as a full :class:`SampleWriter`: as it is when it is one, else wrapped so
    that its ``chunks`` are its lines.

    Raises:
        InvalidOptionError: ``writer`` has no ``lines`` method.

    >>> class Upper:
    ...     name = "upper"
    ...     def lines(self, result):
    ...         return iter([b"HI\\n"])
    >>> list(as_sample_writer(Upper()).chunks(None))
    [b'HI\\n']
    """
    if isinstance(writer, SampleWriter):
        return writer
    if not callable(getattr(writer, "lines", None)) or not hasattr(writer, "name"):
        raise InvalidOptionError(
            f"a writer needs a name and a lines(result) method; got {type(writer).__name__}"
        )
    return _LinesOnly(cast(_HasLines, writer))


class _HasLines(Protocol):
    @property
    def name(self) -> str: ...

    def lines(self, result: SplitResult) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class _LinesOnly(SampleWriter):
    """A writer that only has ``lines``, with the protocol's ``chunks``."""

    inner: _HasLines

    @property
    def name(self) -> str:
        return self.inner.name

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        return self.inner.lines(result)
