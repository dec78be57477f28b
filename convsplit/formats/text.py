"""Text formats: a sample rendered with a chat template plus the spans to train, and
legacy prompt/completion text.

``text`` renders each sample with the chat format that counted it, so a sample's
``total_tokens`` is the token count of its text: built from a spec (:meth:`TextWriter.for_spec`,
which every engine calls), the writer takes the spec's chat format; standalone, its
``template`` option (``chatml`` by default). A built-in template (``chatml``, ``llama2``,
``llama3``, ``plain``) renders from the same pieces the counts come from, and marks the
trained part of each target from the end of its role header to the end of its closing marker
(``<|im_end|>``, ``<|eot_id|>``, ``</s>``). A model's own template (``hf:``) renders exactly
what ``apply_chat_template`` gives, and marks each target from the end of its generation
prompt to the end of its rendering (see
:meth:`~convsplit.tokens.huggingface.HFChatTemplate.render_trained`). ``openai`` only counts
tokens and has no text: that combination is refused. Offsets count characters (Unicode code
points, as Python indexes strings), not bytes. ``layout="segments"`` writes axolotl's
template-free ``input_output`` form instead: ``{"segments": [{"label": bool, "text": ...}]}``.

``prompt_completion`` cuts this same rendering in two at the first trained span
(:mod:`convsplit.formats.completions`, through :meth:`TextWriter.runs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, runtime_checkable

from convsplit.errors import InvalidOptionError
from convsplit.formats.json_text import dumps
from convsplit.formats.protocols import SampleWriter
from convsplit.messages import INSTRUCTION_ROLES, Message
from convsplit.samples import Sample, SplitResult
from convsplit.tokens.chat_formats import (
    ChatFormat,
    OpenAIChat,
    Special,
    TemplateFormat,
    get_chat_format,
)

__all__ = [
    "Rendered",
    "TextWriter",
    "TrainedRendering",
    "render_message",
]

_SENTINEL = "\x00convsplit-body\x00"


@dataclass(frozen=True)
class Rendered:
    """One message rendered: its text and the part of it a target trains, ``[start, end)``."""

    text: str
    start: int
    end: int


def render_message(
    template: TemplateFormat, message: Message, *, after_instruction: bool
) -> Rendered:
    """Render one message and find its trained part.

    The part starts where the body starts (found by rendering a stand-in body, so it works
    for any template) and ends after the last marker the message renders.

    >>> r = render_message(get_chat_format("chatml"), Message(role="assistant", content="Hi"),
    ...                    after_instruction=False)
    >>> r.text, r.text[r.start:r.end]
    ('<|im_start|>assistant\\nHi<|im_end|>\\n', 'Hi<|im_end|>')
    """
    pieces = template.message(message, after_instruction=after_instruction)
    text_parts: list[str] = []
    end = 0
    length = 0
    for piece in pieces:
        part = piece.text if isinstance(piece, Special) else piece
        length += len(part)
        text_parts.append(part)
        if isinstance(piece, Special):
            end = length
    text = "".join(text_parts)
    if not any(isinstance(piece, Special) for piece in pieces):
        end = len(text)
    stand_in = Message(role=message.role, content=_SENTINEL)
    header = _render(template.message(stand_in, after_instruction=after_instruction))
    start = header.find(_SENTINEL)
    if start < 0 or not text.startswith(header[:start]):
        start = 0
    return Rendered(text, min(start, end), end)


def _render(pieces: Sequence[str | Special]) -> str:
    return "".join(p.text if isinstance(p, Special) else p for p in pieces)


@runtime_checkable
class TrainedRendering(Protocol):
    """A chat format that renders whole samples itself, with the span each target trains
    (:class:`~convsplit.tokens.huggingface.HFChatTemplate`: a model's own template)."""

    @property
    def name(self) -> str:
        """The name it is registered under."""
        ...

    def render_trained(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]] | None,
        targets: Sequence[int],
    ) -> tuple[str, list[tuple[int, int]]]:
        """The sample's text and each target's trained ``[start, end)``."""
        ...


class _HasChatFormat(Protocol):
    """What :meth:`TextWriter.for_spec` reads of a :class:`~convsplit.spec.SplitSpec`."""

    @property
    def chat_format(self) -> ChatFormat: ...


_RENDERABLE = "chatml, llama2, llama3, plain, hf:<model folder> or a registered TemplateFormat"


def _renderer(chat_format: ChatFormat) -> TemplateFormat | TrainedRendering:
    """``chat_format`` as something that renders text, or a usage error saying why not."""
    if isinstance(chat_format, TemplateFormat) and not isinstance(chat_format, OpenAIChat):
        return chat_format
    if isinstance(chat_format, TrainedRendering):
        return chat_format
    raise InvalidOptionError(
        f"chat format {chat_format.name!r} only counts tokens and has no text rendering, so "
        f"text output could not have the counted length; choose a chat format that renders "
        f"text: {_RENDERABLE}"
    )


def _template(name: str) -> TemplateFormat:
    chat_format = get_chat_format(name)
    if not isinstance(chat_format, TemplateFormat) or isinstance(chat_format, OpenAIChat):
        raise InvalidOptionError(
            f"chat format {name!r} only counts tokens and cannot render training text; "
            "use chatml, llama2, llama3, plain or a registered TemplateFormat"
        )
    return chat_format


@dataclass(frozen=True, kw_only=True)
class TextWriter(SampleWriter):
    """Samples rendered with a chat template, with the character spans to train.

    Args:
        template: a registered template chat format (``chatml``, ``llama2``, ``llama3``,
            ``plain``) for a writer used on its own (``chatml`` when neither it nor
            ``chat_format`` is given); through a spec, it must name the spec's chat format.
            Afterwards, the name of the format it renders with.
        layout: ``"spans"`` writes ``{"text": ..., "spans": [[start, end], ...]}``;
            ``"segments"`` writes axolotl's ``{"segments": [{"label", "text"}...]}``.
        chat_format: the chat format to render with (one that renders text: a template
            format or a model's own template); :meth:`for_spec` sets it.

    Raises:
        InvalidOptionError: an unknown layout, or a chat format without a text rendering.

    >>> from convsplit import Budget, SplitSpec, split_conversation
    >>> from convsplit.formats.openai import read_openai
    >>> conv = read_openai({"messages": [
    ...     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    >>> line = next(TextWriter().lines(split_conversation(conv, SplitSpec(Budget(50)))))
    >>> print(line.decode(), end="")
    {"text":"<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nHello<|im_end|>\\n","spans":[[52,67]]}
    """

    template: str | None = None
    layout: Literal["spans", "segments"] = "spans"
    chat_format: ChatFormat | None = None

    def __post_init__(self) -> None:
        # Whether the template was chosen, not defaulted: for_spec refuses only a chosen one.
        object.__setattr__(self, "_chosen_template", self.template is not None)
        if self.chat_format is not None:
            _renderer(self.chat_format)
            if self.template is None:
                object.__setattr__(self, "template", self.chat_format.name)
            elif self.template != self.chat_format.name:
                raise InvalidOptionError(
                    f"template {self.template!r} and chat_format {self.chat_format.name!r} "
                    "differ; give one of them"
                )
        else:
            object.__setattr__(self, "template", _template(self.template or "chatml").name)
        if self.layout not in ("spans", "segments"):
            raise InvalidOptionError(f"layout must be 'spans' or 'segments'; got {self.layout!r}")

    @property
    def name(self) -> str:
        return "text"

    def for_spec(self, spec: _HasChatFormat) -> TextWriter:
        """This writer rendering with ``spec``'s chat format: the one its counts come from.

        Raises:
            InvalidOptionError: the spec's chat format has no text rendering (``openai``),
                or this writer's ``template`` is another one.

        >>> from convsplit import SplitSpec
        >>> TextWriter().for_spec(SplitSpec(chat_format="llama3")).chat_format.name
        'llama3'
        >>> TextWriter(template="llama3").for_spec(SplitSpec(chat_format="chatml"))
        Traceback (most recent call last):
        ...
        convsplit.errors.InvalidOptionError: the text writer's template 'llama3' is not the \
chat format 'chatml' the tokens are counted with; drop the template option and choose the \
chat format instead (chat_format='llama3', --chat-format llama3)
        """
        chosen = spec.chat_format
        if getattr(self, "_chosen_template", True) and self.template != chosen.name:
            raise InvalidOptionError(
                f"the text writer's template {self.template!r} is not the chat format "
                f"{chosen.name!r} the tokens are counted with; drop the template option and "
                f"choose the chat format instead (chat_format={self.template!r}, "
                f"--chat-format {self.template})"
            )
        return replace(self, template=None, chat_format=chosen)

    def _format(self) -> TemplateFormat | TrainedRendering:
        if self.chat_format is not None:
            return _renderer(self.chat_format)
        return _template(self.template or "chatml")

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample; each distinct message is rendered once per result
        (with a built-in template; a model's own template renders each sample whole)."""
        for runs, spans in self.runs(result):
            if self.layout == "spans":
                text_bytes = b"".join(run for _, run in runs)
                yield b'{"text":"' + text_bytes + b'","spans":' + dumps(spans) + b"}\n"
            else:
                yield b'{"segments":' + _segments_json(runs) + b"}\n"

    def runs(
        self, result: SplitResult
    ) -> Iterator[tuple[list[tuple[bool, bytes]], list[list[int]]]]:
        """Each sample's rendering as ``(trained, JSON-escaped text)`` runs, and its spans.

        The runs join to the escaped text; each target is one run marked trained (possibly
        empty). The prompt/completion writer cuts the text at that run.
        """
        chat_format = self._format()
        if isinstance(chat_format, TemplateFormat):
            runs_of = self._piece_runs(chat_format)
        else:
            runs_of = _whole_runs(chat_format)
        for sample in result.samples:
            yield runs_of(sample)

    def _piece_runs(self, template: TemplateFormat) -> _RunsOf:
        """A built-in template's runs per sample, each distinct message rendered once."""
        cache: dict[tuple[int, bool], tuple[Rendered, bytes, bytes, bytes]] = {}
        starts: dict[int, str] = {}
        end_text = _render(template.end())

        def runs_of(sample: Sample) -> tuple[list[tuple[bool, bytes]], list[list[int]]]:
            start_text = starts.get(id(sample.tools))
            if start_text is None:
                start_text = starts[id(sample.tools)] = _render(template.start(sample.tools))
            # (label, escaped text) runs; labels only matter for the segments layout
            runs: list[tuple[bool, bytes]] = [(False, _escaped(start_text))]
            spans: list[list[int]] = []
            offset = len(start_text)
            targets = set(sample.targets)
            previous: Message | None = None
            for k, message in enumerate(sample.messages):
                after = previous is not None and previous.role in INSTRUCTION_ROLES
                entry = cache.get((id(message), after))
                if entry is None:
                    rendered = render_message(template, message, after_instruction=after)
                    text = rendered.text
                    entry = (
                        rendered,
                        _escaped(text[: rendered.start]),
                        _escaped(text[rendered.start : rendered.end]),
                        _escaped(text[rendered.end :]),
                    )
                    cache[(id(message), after)] = entry
                rendered, head, body, tail = entry
                if k in targets:
                    spans.append([offset + rendered.start, offset + rendered.end])
                    runs += [(False, head), (True, body), (False, tail)]
                else:
                    runs.append((False, head + body + tail))
                offset += len(rendered.text)
                previous = message
            runs.append((False, _escaped(end_text)))
            return runs, spans

        return runs_of


_RunsOf = Callable[[Sample], tuple[list[tuple[bool, bytes]], list[list[int]]]]


def _whole_runs(chat_format: TrainedRendering) -> _RunsOf:
    """A format that renders whole samples: its text cut at the spans it reports."""

    def runs_of(sample: Sample) -> tuple[list[tuple[bool, bytes]], list[list[int]]]:
        text, spans = chat_format.render_trained(sample.messages, sample.tools, sample.targets)
        runs: list[tuple[bool, bytes]] = []
        offset = 0
        for start, end in spans:
            runs += [(False, _escaped(text[offset:start])), (True, _escaped(text[start:end]))]
            offset = end
        runs.append((False, _escaped(text[offset:])))
        return runs, [[start, end] for start, end in spans]

    return runs_of


def _escaped(text: str) -> bytes:
    """``text`` as it appears inside a JSON string; escaping is per character, so joining
    escaped pieces gives the escaped whole."""
    return dumps(text)[1:-1]


def _segments_json(runs: list[tuple[bool, bytes]]) -> bytes:
    merged: list[tuple[bool, list[bytes]]] = []
    for label, run in runs:
        if not run:
            continue
        if merged and merged[-1][0] == label:
            merged[-1][1].append(run)
        else:
            merged.append((label, [run]))
    items = [
        b'{"label":' + (b"true" if label else b"false") + b',"text":"' + b"".join(parts) + b'"}'
        for label, parts in merged
    ]
    return b"[" + b",".join(items) + b"]"
