"""Text formats: a sample rendered with a chat template plus the spans to train, and
legacy prompt/completion text.

``text`` renders the sample with one of convsplit's templates (``chatml``, ``llama2``,
``llama3``, ``plain``: the same renderings the token counts come from, so a sample's
``total_tokens`` is the token count of its text) and marks the trained part of each
target: from the end of its role header to the end of its closing marker (``<|im_end|>``,
``<|eot_id|>``, ``</s>``). Offsets count characters (Unicode code points, as Python
indexes strings), not bytes. ``layout="segments"`` writes axolotl's template-free
``input_output`` form instead: ``{"segments": [{"label": bool, "text": ...}, ...]}``.

``prompt_completion`` writes OpenAI's legacy completion format, following the advice of
its old data preparation tool: the prompt ends with a fixed separator, the completion
starts with a space and ends with a fixed stop sequence. One target per sample; the
context becomes a ``Role: text`` transcript (a lone user message stays bare text).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from convsplit.errors import InvalidOptionError, UnsupportedSampleError
from convsplit.formats.json_text import dumps, key
from convsplit.formats.protocols import SampleWriter
from convsplit.messages import INSTRUCTION_ROLES, Message
from convsplit.samples import Sample, SplitResult
from convsplit.tokens.chat_formats import (
    OpenAIChat,
    Special,
    TemplateFormat,
    get_chat_format,
    message_body,
)

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
            ``plain``).
        layout: ``"spans"`` writes ``{"text": ..., "spans": [[start, end], ...]}``;
            ``"segments"`` writes axolotl's ``{"segments": [{"label", "text"}...]}``.

    >>> from convsplit import Budget, SplitSpec, split_conversation
    >>> from convsplit.formats.openai import read_openai
    >>> conv = read_openai({"messages": [
    ...     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    >>> line = next(TextWriter().lines(split_conversation(conv, SplitSpec(Budget(50)))))
    >>> print(line.decode(), end="")
    {"text":"<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nHello<|im_end|>\\n","spans":[[52,67]]}
    """

    template: str = "chatml"
    layout: Literal["spans", "segments"] = "spans"

    def __post_init__(self) -> None:
        _template(self.template)
        if self.layout not in ("spans", "segments"):
            raise InvalidOptionError(f"layout must be 'spans' or 'segments'; got {self.layout!r}")

    @property
    def name(self) -> str:
        return "text"

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample; each distinct message is rendered once per result."""
        template = _template(self.template)
        cache: dict[tuple[int, bool], tuple[Rendered, bytes, bytes, bytes]] = {}
        starts: dict[int, str] = {}
        end_text = _render(template.end())
        for sample in result.samples:
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
            if self.layout == "spans":
                text_bytes = b"".join(run for _, run in runs)
                yield b'{"text":"' + text_bytes + b'","spans":' + dumps(spans) + b"}\n"
            else:
                yield b'{"segments":' + _segments_json(runs) + b"}\n"


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


#: Transcript labels of the legacy prompt/completion writer.
DEFAULT_LABELS: Mapping[str, str] = {
    "system": "System",
    "developer": "Developer",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
}


@dataclass(frozen=True, kw_only=True)
class PromptCompletionWriter(SampleWriter):
    """Samples as legacy ``{"prompt": ..., "completion": ...}`` text pairs.

    Args:
        separator: ends every prompt, so the model knows where the completion begins.
        completion_prefix: starts every completion (a space, for the old tokenizers).
        stop: ends every completion; pass it as the stop sequence at inference.
        labels: the transcript label of each role.
        turn_separator: between transcript lines.

    >>> from convsplit import Budget, SplitSpec, split_conversation
    >>> from convsplit.formats.openai import read_openai
    >>> conv = read_openai({"messages": [
    ...     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    >>> line = next(PromptCompletionWriter().lines(split_conversation(conv, SplitSpec(Budget(50)))))
    >>> print(line.decode(), end="")
    {"prompt":"Hi\\n\\n###\\n\\n","completion":" Hello END"}
    """

    separator: str = "\n\n###\n\n"
    completion_prefix: str = " "
    stop: str = " END"
    labels: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LABELS))
    turn_separator: str = "\n"

    def __post_init__(self) -> None:
        if set(DEFAULT_LABELS) - set(self.labels):
            object.__setattr__(self, "labels", {**DEFAULT_LABELS, **self.labels})

    @property
    def name(self) -> str:
        return "prompt_completion"

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample; each context line is rendered once per result."""
        cache: dict[int, bytes] = {}
        separator = _escaped(self.turn_separator)
        end = _escaped(self.separator) + b'","completion":'
        prompt_key = b"{" + key("prompt") + b':"'
        for sample in result.samples:
            target = self._target(sample)
            context = sample.messages[:target]
            if len(context) == 1 and context[0].role == "user":
                prompt = _escaped(_body(context[0]))
            else:
                fragments = []
                for message in context:
                    fragment = cache.get(id(message))
                    if fragment is None:
                        fragment = cache[id(message)] = _escaped(self._line(message))
                    fragments.append(fragment)
                prompt = separator.join(fragments)
            completion = self.completion_prefix + _body(sample.messages[target]) + self.stop
            yield prompt_key + prompt + end + dumps(completion) + b"}\n"

    def _target(self, sample: Sample) -> int:
        if len(sample.targets) != 1:
            raise UnsupportedSampleError(
                f"conversation {sample.conversation_id or f'#{sample.conversation_index}'}: "
                f"a sample with {len(sample.targets)} targets cannot be written as one "
                "prompt/completion pair (use a one-target window)"
            )
        return sample.targets[0]

    def _line(self, message: Message) -> str:
        return f"{self.labels[message.role]}: {_body(message)}"


def _body(message: Message) -> str:
    """A message's text and tool calls; reasoning is never shown in completion data."""
    return message_body(message.without_reasoning())
