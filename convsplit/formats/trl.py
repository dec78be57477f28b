"""TRL's conversational prompt-completion format: ``{"prompt": [...], "completion": [...]}``.

TRL's ``SFTTrainer`` trains on the completion only (``completion_only_loss``), so a
sample's context goes in ``prompt`` and its target in ``completion``; context assistant
messages need no weight because nothing in the prompt is trained. Tool schemas go in a
``tools`` column, which TRL passes to the chat template.

Target reasoning is written under ``reasoning_content``, the field TRL passes to the chat
template and that reasoning models' templates (Qwen3, DeepSeek-R1) and TRL's response
schemas read, and it is counted; context reasoning follows ``keep_reasoning`` of the split.
Tool-call arguments are written as JSON objects, as Hugging Face chat templates expect
(``arguments="string"`` keeps OpenAI's JSON strings, which suits Arrow better when calls
have different argument names). A sample with several targets cannot be written without
training what lies between them, so it is refused unless ``multi_target="completion"``.
The files are read back by :func:`convsplit.formats.pairs.read_pairs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from convsplit.errors import InvalidOptionError, OptionHint, UnsupportedSampleError
from convsplit.formats.json_text import dumps, join_list, join_object, key
from convsplit.formats.openai_json import message_json, tool_call_json
from convsplit.formats.protocols import SampleWriter, WrittenForm
from convsplit.formats.record_fields import arguments_value, openai_tools
from convsplit.messages import Message
from convsplit.samples import Sample, SplitResult


@dataclass(frozen=True, kw_only=True)
class TRLWriter(SampleWriter):
    """Samples as TRL conversational prompt-completion lines (plus ``tools``).

    Args:
        arguments: tool-call arguments as JSON ``"object"`` (chat templates) or
            ``"string"`` (OpenAI's form; steadier Arrow column types).
        keep_reasoning: write assistant reasoning under ``reasoning_key`` (the field
            reasoning models' chat templates read) and count it (the default); off, it
            is neither written nor counted.
        reasoning_key: the key reasoning is written under.
        keep_extras: keep unknown message fields read from the input.
        multi_target: a sample with several targets is an ``"error"``, or is written with
            everything from its first target on as the ``"completion"`` (which then also
            trains the user and tool messages between the targets).
        keep_columns: write the conversation's own columns read beside its messages
            (``source``, ``category``...) under a ``metadata`` key of each row that has
            any (TRL reads only prompt, completion and tools).

    >>> from convsplit import Budget, SplitSpec, split_conversation
    >>> from convsplit.formats.openai import read_openai
    >>> conv = read_openai({"messages": [
    ...     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    >>> print(next(TRLWriter().lines(split_conversation(conv, SplitSpec(Budget(50))))).decode())
    {"prompt":[{"role":"user","content":"Hi"}],"completion":[{"role":"assistant","content":"Hello"}]}
    <BLANKLINE>
    """

    arguments: Literal["object", "string"] = "object"
    keep_reasoning: bool = True
    reasoning_key: str = "reasoning_content"
    keep_extras: bool = False
    multi_target: Literal["error", "completion"] = "error"
    keep_columns: bool = False

    def __post_init__(self) -> None:
        if self.arguments not in ("object", "string"):
            raise InvalidOptionError(
                f"arguments must be 'object' or 'string'; got {self.arguments!r}"
            )
        if self.multi_target not in ("error", "completion"):
            raise InvalidOptionError(
                f"multi_target must be 'error' or 'completion'; got {self.multi_target!r}"
            )

    @property
    def name(self) -> str:
        return "trl"

    @property
    def written_form(self) -> WrittenForm:
        """Reasoning with ``keep_reasoning``; arguments as objects unless ``"string"``."""
        return WrittenForm(
            reasoning=self.keep_reasoning, object_arguments=self.arguments == "object"
        )

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample; each distinct message is encoded once per result.

        Raises:
            UnsupportedSampleError: a sample with several targets, with
                ``multi_target="error"``.
        """
        cache: dict[int, bytes] = {}
        tools_cache: dict[int, bytes] = {}
        prompt_key, completion_key, tools_key = key("prompt"), key("completion"), key("tools")
        for sample in result.samples:
            split = self._split(sample)
            fragments: list[bytes] = []
            for message in sample.messages:
                fragment = cache.get(id(message))
                if fragment is None:
                    fragment = cache[id(message)] = dumps(self.message(message))
                fragments.append(fragment)
            items = [
                (prompt_key, join_list(fragments[:split])),
                (completion_key, join_list(fragments[split:])),
            ]
            if sample.tools:
                tools = tools_cache.get(id(sample.tools))
                if tools is None:
                    tools = tools_cache[id(sample.tools)] = dumps(openai_tools(sample.tools))
                items.append((tools_key, tools))
            if self.keep_columns and sample.columns:
                items.append((key("metadata"), dumps(sample.columns)))
            yield join_object(items) + b"\n"

    def _split(self, sample: Sample) -> int:
        if len(sample.targets) > 1 and self.multi_target == "error":
            hint = OptionHint("writer_options", ("multi_target=completion",), mapping=True)
            raise UnsupportedSampleError(
                f"conversation {sample.conversation_id or f'#{sample.conversation_index}'}: "
                f"a sample with {len(sample.targets)} targets cannot be written as TRL "
                "prompt-completion without training the messages between them (use a "
                f"one-target window, the openai or sharegpt writer, or {hint})",
                hints=[hint],
            )
        return sample.targets[0]

    def message(self, message: Message) -> dict[str, Any]:
        """One message as TRL (and Hugging Face chat templates) take it."""
        out = message_json(
            message,
            keep_reasoning=self.keep_reasoning,
            keep_extras=self.keep_extras,
            reasoning_key=self.reasoning_key,
        )
        if self.arguments == "object" and message.tool_calls:
            out["tool_calls"] = [
                tool_call_json(call, arguments=arguments_value(call.function.arguments))
                for call in message.tool_calls
            ]
        return out
