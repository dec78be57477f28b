"""Render chat templates exactly as ``transformers.apply_chat_template`` does, without it.

Needs ``jinja2`` (the ``hf`` extra), imported on the first :func:`compile_template`.

The environment mirrors ``transformers.utils.chat_template_utils``: the immutable sandbox
(chat templates from the Hub are untrusted code), ``trim_blocks``/``lstrip_blocks``, loop
controls, a ``tojson`` that keeps non-ASCII text and takes ``indent``/``separators``/
``sort_keys``, ``raise_exception``, ``strftime_now``, a ``namespace`` that refuses
underscore attributes, and the ``{% generation %}`` tag. Messages are shown to the template
as transformers shows them: ``None`` fields dropped and reasoning aliased to
``reasoning_content`` and ``thinking``. :func:`to_hf_messages` turns convsplit's messages
into the dictionaries ``apply_chat_template`` takes, in the :class:`MessageForm` a template
reads: tool-call arguments as objects (Llama, Qwen) or JSON strings (DeepSeek), content as a
string or as a list of text parts (MiniMax-Text-01, vision templates).
``tests/test_huggingface.py`` compares renderings with transformers' own where it is
installed.
"""

from __future__ import annotations

import contextvars
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from convsplit.extras import require
from convsplit.messages import Message

if TYPE_CHECKING:
    import jinja2

#: A message as ``apply_chat_template`` takes it.
HFMessage = dict[str, Any]

_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")

# While render_tracked runs: the output so far, and where each {% generation %} block went.
_TRACKED: contextvars.ContextVar[tuple[list[str], list[tuple[int, int]]] | None] = (
    contextvars.ContextVar("convsplit_generation_spans", default=None)
)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # Jinja's own tojson escapes HTML characters, which would change what a model sees.
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class _TemplateDict:
    """``dict(...)`` for templates, without handing them the class itself."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


@functools.lru_cache(maxsize=64)
def compile_template(source: str) -> jinja2.Template:
    """Compile a chat template in transformers' sandboxed environment (cached by text).

    Raises:
        MissingExtraError: ``jinja2`` is not installed.
        jinja2.TemplateSyntaxError: the template is not valid Jinja.
    """
    require("jinja2", purpose="chat template rendering")
    # Imported here, not at the top, so that importing convsplit never imports jinja2.
    import jinja2.ext  # noqa: PLC0415
    import jinja2.nodes  # noqa: PLC0415
    import jinja2.parser  # noqa: PLC0415
    import jinja2.utils  # noqa: PLC0415
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # noqa: PLC0415

    class GenerationTag(jinja2.ext.Extension):
        """``{% generation %}...{% endgeneration %}`` marks trained text; it renders as is."""

        tags = {"generation"}  # noqa: RUF012 (jinja reads the class attribute)

        def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            call = self.call_method("_render", [])
            return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

        def _render(self, caller: Callable[[], str]) -> str:
            text = caller()
            tracked = _TRACKED.get()
            if tracked is not None:  # where transformers' AssistantTracker puts the block
                start = sum(map(len, tracked[0]))
                tracked[1].append((start, start + len(text)))
            return text

    def check_attribute(key: object) -> None:
        if isinstance(key, str) and key.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"namespace attribute {key!r} is not allowed")

    class Namespace(jinja2.utils.Namespace):
        """``namespace()``, refusing underscore attributes (a path to CPython internals)."""

        def __init__(*args: Any, **kwargs: Any) -> None:
            self, rest = args[0], args[1:]
            for key in dict(*rest, **kwargs):
                check_attribute(key)
            jinja2.utils.Namespace.__init__(self, *rest, **kwargs)

        def __setitem__(self, key: str, value: Any) -> None:
            check_attribute(key)
            jinja2.utils.Namespace.__setitem__(self, key, value)

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = Namespace
    return env.from_string(source)


def render_tracked(
    template: jinja2.Template, **variables: Any
) -> tuple[str, list[tuple[int, int]]]:
    """Render ``template`` and find each ``{% generation %}`` block's ``[start, end)`` in the
    output, as ``apply_chat_template(..., return_assistant_tokens_mask=True)`` finds them.

    >>> render_tracked(compile_template("a{% generation %}b{% endgeneration %}c"))
    ('abc', [(1, 2)])
    """
    blocks: list[str] = []
    spans: list[tuple[int, int]] = []
    token = _TRACKED.set((blocks, spans))
    try:
        for block in template.generate(**variables):
            blocks.append(block)  # one at a time: a block's start is the length so far
    finally:
        _TRACKED.reset(token)
    return "".join(blocks), spans


def template_view(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages as transformers hands them to a template: ``None`` fields dropped, reasoning
    under each name templates read it by.

    >>> template_view([{"role": "assistant", "content": "4", "reasoning": "2+2", "name": None}])
    [{'thinking': '2+2', 'role': 'assistant', 'content': '4', 'reasoning': '2+2', \
'reasoning_content': '2+2'}]
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        item = {key: value for key, value in message.items() if value is not None}
        reasoning = next((item[key] for key in _REASONING_FIELDS if key in item), None)
        if reasoning is not None:
            item = {"thinking": reasoning, **item, "reasoning_content": reasoning}
        out.append(item)
    return out


@dataclass(frozen=True)
class MessageForm:
    """How a template takes messages: tool-call ``arguments`` as JSON ``"object"`` or as the
    JSON ``"string"``, ``content`` as ``"string"`` or as a list of text ``"parts"``."""

    arguments: Literal["object", "string"] = "object"
    content: Literal["string", "parts"] = "string"


#: What most templates read: arguments as objects (they ``tojson`` them), content as text.
DEFAULT_FORM = MessageForm()


def to_hf_messages(
    messages: Sequence[Message], form: MessageForm = DEFAULT_FORM
) -> list[HFMessage]:
    """Messages as ``apply_chat_template`` takes them, in ``form``.

    With ``arguments="object"``, arguments that are a JSON object are passed parsed; with
    ``"string"``, as written. With ``content="parts"``, content is one text part
    (``[{"type": "text", "text": ...}]``). Reasoning is passed as ``reasoning_content``;
    empty fields are left out.

    >>> to_hf_messages([Message(role="user", content="Hi")])
    [{'role': 'user', 'content': 'Hi'}]
    >>> to_hf_messages([Message(role="user", content="Hi")], MessageForm(content="parts"))
    [{'role': 'user', 'content': [{'type': 'text', 'text': 'Hi'}]}]
    """
    out: list[HFMessage] = []
    for message in messages:
        item: HFMessage = {"role": message.role, "content": _content(message.text, form)}
        if message.name is not None:
            item["name"] = message.name
        if message.tool_calls:
            item["tool_calls"] = [
                _hf_tool_call(call.id, call.function.name, call.function.arguments, form)
                for call in message.tool_calls
            ]
        if message.tool_call_id is not None:
            item["tool_call_id"] = message.tool_call_id
        if message.reasoning is not None:
            item["reasoning_content"] = message.reasoning
        out.append(item)
    return out


def reshaped(message: HFMessage, form: MessageForm) -> HFMessage:
    """An ``apply_chat_template`` message (one written by hand, a probe) put in ``form``;
    one already in it is returned as is.

    >>> reshaped({"role": "user", "content": "Hi"}, MessageForm(content="parts"))
    {'role': 'user', 'content': [{'type': 'text', 'text': 'Hi'}]}
    """
    if form == DEFAULT_FORM:
        return message
    out = dict(message)
    content = out.get("content")
    if isinstance(content, str):
        out["content"] = _content(content, form)
    calls = out.get("tool_calls")
    if calls and form.arguments == "string":
        out["tool_calls"] = [_string_arguments(call) for call in calls]
    return out


def _content(text: str, form: MessageForm) -> str | list[dict[str, str]]:
    return [{"type": "text", "text": text}] if form.content == "parts" else text


def _string_arguments(call: Mapping[str, Any]) -> dict[str, Any]:
    function = dict(call.get("function") or {})
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        function["arguments"] = json.dumps(arguments, ensure_ascii=False)
    return {**call, "function": function}


def _hf_tool_call(
    call_id: str | None, name: str, arguments: str, form: MessageForm = DEFAULT_FORM
) -> dict[str, Any]:
    parsed: Any = arguments
    if form.arguments == "object":
        try:
            decoded = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            parsed = decoded
    call: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": parsed}}
    if call_id is not None:
        call["id"] = call_id
    return call
