"""Chat formats: what a message costs once it is wrapped in a model's chat template.

A format answers two questions for the splitter: the tokens every sample pays once
(begin-of-text, tool schemas, reply priming) and the tokens one message costs. Template
formats answer both by rendering *pieces*: ordinary text runs and :class:`Special` markers
that are one token each. A message's rendering always meets its neighbours at a special
token, so the tokenizer can never merge across a message boundary, and the sum of the
per-message counts equals the count of the rendered sample. ``tests/test_chat_formats.py``
proves that property against tiktoken itself.

Only llama2 makes a message's cost depend on its neighbour: its system prompt is folded
into the next ``[INST]`` block. The splitter passes ``after_instruction`` for exactly that.

Registered formats pickle by name, as counters do (:mod:`convsplit.tokens.counters`):
unpickled in the same process, a format is the registry's very instance. ``hf:`` names are
built by :mod:`convsplit.tokens.huggingface`, imported only when such a name is asked for.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, SupportsIndex, runtime_checkable

from convsplit.messages import INSTRUCTION_ROLES, Message
from convsplit.registry import Registered
from convsplit.tokens.counters import HF_PREFIX, TokenCounter
from convsplit.tokens.registry import SharedRegistry

ToolSchemas = Sequence[Mapping[str, Any]]
#: Name prefixes whose formats another module builds: ``"module:function"``, imported and
#: called with the whole name the first time such a name is asked for.
PREFIX_LOADERS: Mapping[str, str] = {HF_PREFIX: "convsplit.tokens.huggingface:chat_format_for_name"}


@runtime_checkable
class ChatFormat(Protocol):
    """The per-sample and per-message token costs of one chat template.

    A format whose per-message costs hold only for some conversations may also define
    ``check_conversation(conversation)``; the splitter calls it first, and it raises
    :class:`~convsplit.errors.ChatFormatError` rather than let a sample be miscounted. A
    format may set ``position_dependent = False`` to say ``after_instruction`` never changes
    a cost, which spares the splitter counting the other case (absent means it may).
    """

    @property
    def name(self) -> str:
        """The name it is registered under."""
        ...

    def sample_cost(self, tools: ToolSchemas | None, counter: TokenCounter) -> int:
        """Tokens every sample pays once, whatever its messages."""
        ...

    def message_cost(
        self, message: Message, counter: TokenCounter, *, after_instruction: bool
    ) -> int:
        """Tokens of one message; ``after_instruction``: it follows a system/developer one."""
        ...


@dataclass(frozen=True)
class Special:
    """A template marker that the model's tokenizer reads as one token."""

    text: str


Piece = str | Special


def count_pieces(pieces: Iterable[Piece], counter: TokenCounter) -> int:
    """Tokens of a rendering: one per special, and each text run between them counted whole."""
    total = 0
    run: list[str] = []
    for piece in pieces:
        if isinstance(piece, Special):
            total += 1
            if run:
                total += counter.count("".join(run))
                run.clear()
        else:
            run.append(piece)
    if run:
        total += counter.count("".join(run))
    return total


def message_body(message: Message) -> str:
    """What a template shows of a message: thinking, text, then its tool calls as JSON."""
    if message.reasoning is None and not message.tool_calls:
        return message.text  # most messages: no need to build anything
    parts: list[str] = []
    if message.reasoning:
        parts.append(f"<think>\n{message.reasoning}\n</think>\n\n")
    parts.append(message.text)
    for call in message.tool_calls or ():
        name = json.dumps(call.function.name, ensure_ascii=False)
        arguments = call.function.arguments or "{}"
        parts.append(f'\n<tool_call>\n{{"name": {name}, "arguments": {arguments}}}\n</tool_call>')
    return "".join(parts)


def tools_text(tools: ToolSchemas) -> str:
    """Tool schemas as templates show them: one JSON object per line."""
    return "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)


class TemplateFormat(ABC):
    """A chat format defined by rendering pieces; its costs follow from the rendering."""

    name: str
    specials: frozenset[str]
    #: Whether a message's cost depends on following an instruction (llama2 only).
    position_dependent: bool = False

    def start(self, tools: ToolSchemas | None) -> list[Piece]:
        """Pieces before the first message."""
        return []

    def end(self) -> list[Piece]:
        """Pieces after the last message."""
        return []

    @abstractmethod
    def message(self, message: Message, *, after_instruction: bool) -> list[Piece]:
        """The pieces of one message."""

    def sample_cost(self, tools: ToolSchemas | None, counter: TokenCounter) -> int:
        return count_pieces(self.start(tools), counter) + count_pieces(self.end(), counter)

    def message_cost(
        self, message: Message, counter: TokenCounter, *, after_instruction: bool
    ) -> int:
        return count_pieces(self.message(message, after_instruction=after_instruction), counter)

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        """By its name when registered (see :func:`is_registered`), else by value."""
        if is_registered(self):
            return get_chat_format, (self.name,)
        return super().__reduce_ex__(protocol)

    def pieces(self, messages: Sequence[Message], tools: ToolSchemas | None = None) -> list[Piece]:
        """The whole sample's pieces, in order."""
        out = self.start(tools)
        previous: Message | None = None
        for message in messages:
            after = previous is not None and previous.role in INSTRUCTION_ROLES
            out.extend(self.message(message, after_instruction=after))
            previous = message
        out.extend(self.end())
        return out

    def render(self, messages: Sequence[Message], tools: ToolSchemas | None = None) -> str:
        """The sample as text, markers written out (what a trainer would tokenize).

        >>> print(get_chat_format("chatml").render([Message(role="user", content="Hi")]))
        <|im_start|>user
        Hi<|im_end|>
        <BLANKLINE>
        """
        pieces = self.pieces(messages, tools)
        return "".join(p.text if isinstance(p, Special) else p for p in pieces)


class ChatML(TemplateFormat):
    """``<|im_start|>role\\ncontent<|im_end|>\\n``; tool calls in ``<tool_call>`` tags."""

    name = "chatml"
    specials = frozenset({"<|im_start|>", "<|im_end|>"})
    _start, _end = Special("<|im_start|>"), Special("<|im_end|>")

    def start(self, tools: ToolSchemas | None) -> list[Piece]:
        if not tools:
            return []
        return [self._start, f"system\n# Tools\n\n{tools_text(tools)}", self._end, "\n"]

    def message(self, message: Message, *, after_instruction: bool) -> list[Piece]:
        return [self._start, f"{message.role}\n{message_body(message)}", self._end, "\n"]


class Llama3(TemplateFormat):
    """Llama 3 headers: ``<|start_header_id|>role<|end_header_id|>\\n\\ncontent<|eot_id|>``."""

    name = "llama3"
    specials = frozenset(
        {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}
    )
    _roles: Mapping[str, str] = {"developer": "system", "tool": "ipython"}

    def _block(self, role: str, text: str) -> list[Piece]:
        return [
            Special("<|start_header_id|>"),
            role,
            Special("<|end_header_id|>"),
            "\n\n" + text.strip(),
            Special("<|eot_id|>"),
        ]

    def start(self, tools: ToolSchemas | None) -> list[Piece]:
        pieces: list[Piece] = [Special("<|begin_of_text|>")]
        if tools:
            pieces += self._block("system", f"Environment: ipython\n\n{tools_text(tools)}")
        return pieces

    def message(self, message: Message, *, after_instruction: bool) -> list[Piece]:
        return self._block(self._roles.get(message.role, message.role), message_body(message))


class Llama2(TemplateFormat):
    """Llama 2: ``<s>[INST] <<SYS>>\\nsys\\n<</SYS>>\\n\\nuser [/INST] answer </s>``.

    ``[INST]``, ``[/INST]``, ``<<SYS>>`` and ``<</SYS>>`` are counted as one token each.
    A system prompt opens an ``[INST]`` block that the next message continues, so that
    message's cost depends on ``after_instruction``. Tool results are shown as user input.
    """

    name = "llama2"
    specials = frozenset({"<s>", "</s>", "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"})
    position_dependent = True
    _bos, _eos = Special("<s>"), Special("</s>")
    _inst, _end_inst = Special("[INST]"), Special("[/INST]")
    _sys, _end_sys = Special("<<SYS>>"), Special("<</SYS>>")

    def start(self, tools: ToolSchemas | None) -> list[Piece]:
        if not tools:
            return []
        return [self._bos, self._inst, " ", self._sys, f"\n{tools_text(tools)}\n", self._end_sys,
                "\n\n ", self._end_inst, " ", self._eos]  # fmt: skip

    def message(self, message: Message, *, after_instruction: bool) -> list[Piece]:
        body = message_body(message).strip()
        if message.role in INSTRUCTION_ROLES:
            opening: list[Piece] = ["\n\n"] if after_instruction else [self._bos, self._inst, " "]
            return [*opening, self._sys, f"\n{body}\n", self._end_sys]
        if message.role == "assistant":
            closing: list[Piece] = [f" {body} ", self._eos]
            return ["\n\n ", self._end_inst, *closing] if after_instruction else closing
        if after_instruction:
            return [f"\n\n{body} ", self._end_inst]
        return [self._bos, self._inst, f" {body} ", self._end_inst]


class Plain(TemplateFormat):
    """No template: each message's text closed by one ``<|endoftext|>`` token."""

    name = "plain"
    specials = frozenset({"<|endoftext|>"})
    _eot = Special("<|endoftext|>")

    def start(self, tools: ToolSchemas | None) -> list[Piece]:
        return [tools_text(tools), self._eot] if tools else []

    def message(self, message: Message, *, after_instruction: bool) -> list[Piece]:
        return [message_body(message), self._eot]


class OpenAIChat(TemplateFormat):
    """OpenAI's published chat overhead (the cookbook's ``num_tokens_from_messages``).

    3 tokens per message, 1 more with a ``name``, 3 to prime the reply; role, content and
    name are counted as separate strings. Tool schemas use the cookbook's published
    per-function constants (``num_tokens_for_tools``). Tool calls, which the published
    formula leaves out, are counted as their JSON text inside the content.
    """

    name = "openai"
    specials = frozenset({"<|im_start|>", "<|im_name|>", "<|im_sep|>", "<|im_end|>"})

    def end(self) -> list[Piece]:
        return [Special("<|im_start|>"), "assistant", Special("<|im_sep|>")]

    def message(self, message: Message, *, after_instruction: bool) -> list[Piece]:
        pieces: list[Piece] = [Special("<|im_start|>"), message.role]
        if message.name is not None:
            pieces += [Special("<|im_name|>"), message.name]
        body = message_body(message)
        return [*pieces, Special("<|im_sep|>"), body, Special("<|im_end|>")]

    def message_cost(
        self, message: Message, counter: TokenCounter, *, after_instruction: bool
    ) -> int:
        # What count_pieces(self.message(...)) gives, without building the pieces: this
        # is the default format's hot path.
        count = counter.count
        cost = 3 + count(message.role) + count(message_body(message))
        if message.name is not None:
            cost += 1 + count(message.name)
        return cost

    def sample_cost(self, tools: ToolSchemas | None, counter: TokenCounter) -> int:
        return super().sample_cost(None, counter) + openai_tools_cost(tools or (), counter)


def openai_tools_cost(tools: ToolSchemas, counter: TokenCounter) -> int:
    """The cookbook's ``num_tokens_for_tools`` estimate for function schemas."""
    if not tools:
        return 0
    func_init = 10 if counter.name == "cl100k_base" else 7
    prop_init, prop_key, enum_init, enum_item, func_end = 3, 3, -3, 3, 12
    total = 0
    for tool in tools:
        function = tool.get("function", tool)
        if not isinstance(function, Mapping):
            function = {}
        total += func_init
        description = str(function.get("description") or "").removesuffix(".")
        total += counter.count(f"{function.get('name', '')}:{description}")
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
        if not isinstance(properties, Mapping) or not properties:
            continue
        total += prop_init
        for key, value in properties.items():
            total += prop_key
            prop: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
            enum = prop.get("enum")
            if isinstance(enum, list):
                total += enum_init
                for item in enum:
                    total += enum_item + counter.count(str(item))
            p_desc = str(prop.get("description") or "").removesuffix(".")
            total += counter.count(f"{key}:{prop.get('type', '')}:{p_desc}")
    return total + func_end


_FORMATS: SharedRegistry[ChatFormat] = SharedRegistry(
    "chat format",
    {
        f.name: Registered(lambda f=f: f)
        for f in (OpenAIChat(), ChatML(), Llama2(), Llama3(), Plain())
    },
    prefixes=PREFIX_LOADERS,
    placeholders=("hf:<folder with tokenizer.json and template>",),
)


def register_chat_format(chat_format: ChatFormat) -> None:
    """Make ``get_chat_format(chat_format.name)`` return ``chat_format``.

    A registered format pickles by its name: to unpickle one in another process (a worker),
    register it there too, for example at the import of the module that defines it.
    """
    _FORMATS.register(chat_format.name, lambda: chat_format)


def chat_format_names() -> tuple[str, ...]:
    """The registered chat format names, sorted."""
    return _FORMATS.names()


def get_chat_format(name: str) -> ChatFormat:
    """The chat format registered as ``name``, or ``hf:<source>``: a model's own Jinja
    template, rendered and counted with its own tokenizer (needs ``convsplit[hf]``).

    Returns:
        The same instance for the same name, for the life of the process.

    Raises:
        UnknownNameError: listing the known names.

    >>> get_chat_format("llama3").name
    'llama3'
    """
    return _FORMATS.get(name)


def is_registered(chat_format: ChatFormat) -> bool:
    """Whether ``chat_format`` is the one ``get_chat_format(chat_format.name)`` returns, so
    that its name alone finds it again (how formats pickle)."""
    return _FORMATS.is_shared(chat_format, chat_format.name)
