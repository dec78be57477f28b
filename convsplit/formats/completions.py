"""OpenAI's legacy completion format: ``{"prompt": "...", "completion": "..."}`` text pairs.

It follows the advice of OpenAI's old data preparation tool: the prompt ends with a fixed
separator, the completion starts with a space and ends with a fixed stop sequence. One target
per sample; the context becomes a ``Role: text`` transcript (a lone user message stays bare
text). Tool schemas open the prompt as a ``Tools:`` block, one JSON schema a line, so that
the model sees the tools it learns to call (they were once dropped without a word).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from convsplit.errors import UnsupportedSampleError
from convsplit.formats.json_text import dumps, key
from convsplit.formats.protocols import SampleWriter, WrittenForm
from convsplit.messages import Message
from convsplit.samples import Sample, SplitResult
from convsplit.tokens.chat_formats import message_body, tools_text

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
        tools_label: the label of the block of tool schemas that opens a prompt whose
            sample offers tools (one JSON schema a line under ``<label>:``).

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
    tools_label: str = "Tools"

    def __post_init__(self) -> None:
        if set(DEFAULT_LABELS) - set(self.labels):
            object.__setattr__(self, "labels", {**DEFAULT_LABELS, **self.labels})

    @property
    def name(self) -> str:
        return "prompt_completion"

    @property
    def written_form(self) -> WrittenForm:
        """Prompts and completions are text bodies without reasoning: it is neither written
        nor counted."""
        return WrittenForm(reasoning=False)

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample; each context line is rendered once per result."""
        cache: dict[int, bytes] = {}
        separator = _escaped(self.turn_separator)
        end = _escaped(self.separator) + b'","completion":'
        prompt_key = b"{" + key("prompt") + b':"'
        tool_blocks: dict[int, bytes] = {}
        for sample in result.samples:
            target = self._target(sample)
            context = sample.messages[:target]
            tools = b""
            if sample.tools:
                tools = tool_blocks.get(id(sample.tools), b"")
                if not tools:
                    block = f"{self.tools_label}:\n{tools_text(sample.tools)}"
                    tools = tool_blocks[id(sample.tools)] = _escaped(block) + separator
            if len(context) == 1 and context[0].role == "user" and not tools:
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
            yield prompt_key + tools + prompt + end + dumps(completion) + b"}\n"

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


def _escaped(text: str) -> bytes:
    """``text`` as it appears inside a JSON string (escaping is per character)."""
    return dumps(text)[1:-1]
