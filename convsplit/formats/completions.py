"""Prompt/completion text pairs: ``{"prompt": "...", "completion": "..."}``.

One rule makes them exact: a sample is rendered with the chat format that counted it (the
rendering ``text`` writes, see :mod:`convsplit.formats.text`), and that text is cut where the
target's trained part starts. The prompt is the text before it, the completion the rest, so
``prompt + completion`` is exactly the counted rendering. A trainer that tokenizes the two
strings joined (TRL's ``SFTTrainer`` on non-conversational rows) sees the counted tokens and
trains the completion: the target's reply, its closing marker and what the template writes
after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from convsplit.errors import UnsupportedSampleError
from convsplit.formats.protocols import SampleWriter, WrittenForm
from convsplit.formats.text import TextWriter
from convsplit.samples import Sample, SplitResult
from convsplit.tokens.chat_formats import ChatFormat


class _HasChatFormat(Protocol):
    """What :meth:`PromptCompletionWriter.for_spec` reads of a spec."""

    @property
    def chat_format(self) -> ChatFormat: ...


@dataclass(frozen=True, kw_only=True)
class PromptCompletionWriter(SampleWriter):
    """Samples as ``{"prompt": ..., "completion": ...}`` text pairs cut from their rendering.

    Each sample is rendered with the chat format that counted it and cut at the start of its
    target's trained part (the span ``--to text`` writes): ``prompt`` is the text before it,
    ``completion`` the rest. ``chatml`` is the default; ``openai`` only counts tokens and has
    no text, so it is refused. One target per sample.

    Args:
        chat_format: the chat format to render with (one that renders text: a template
            format or a model's own template); :meth:`for_spec` sets it, ``chatml`` on its
            own.

    Raises:
        InvalidOptionError: a chat format without a text rendering.

    >>> from convsplit import Budget, SplitSpec, split_conversation
    >>> from convsplit.formats.openai import read_openai
    >>> conv = read_openai({"messages": [
    ...     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    >>> line = next(PromptCompletionWriter().lines(split_conversation(conv, SplitSpec(Budget(50)))))
    >>> print(line.decode(), end="")
    {"prompt":"<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n","completion":"Hello<|im_end|>\\n"}
    """

    chat_format: ChatFormat | None = None

    def __post_init__(self) -> None:
        self._text()  # refuses a chat format without a text rendering now, not when writing

    @property
    def name(self) -> str:
        return "prompt_completion"

    @property
    def written_form(self) -> WrittenForm:
        """The text is written without reasoning: it is neither written nor counted."""
        return WrittenForm(reasoning=False)

    def for_spec(self, spec: _HasChatFormat) -> PromptCompletionWriter:
        """This writer rendering with ``spec``'s chat format: the one its counts come from.

        >>> from convsplit import SplitSpec
        >>> PromptCompletionWriter().for_spec(SplitSpec(chat_format="llama3")).chat_format.name
        'llama3'
        >>> PromptCompletionWriter().for_spec(SplitSpec(chat_format="openai"))
        Traceback (most recent call last):
        ...
        convsplit.errors.InvalidOptionError: chat format 'openai' only counts tokens and has \
no text rendering, so text output could not have the counted length; choose a chat format \
that renders text: chatml, llama2, llama3, plain, hf:<model folder> or a registered \
TemplateFormat
        """
        return replace(self, chat_format=spec.chat_format)

    def _text(self) -> TextWriter:
        if self.chat_format is None:
            return TextWriter()
        return TextWriter(chat_format=self.chat_format)

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample: its rendering, cut before the target's trained run."""
        renderings = self._text().runs(result)
        for sample in result.samples:
            self._target(sample)
            runs, _ = next(renderings)
            cut = next(k for k, (trained, _) in enumerate(runs) if trained)
            prompt = b"".join(run for _, run in runs[:cut])
            completion = b"".join(run for _, run in runs[cut:])
            yield b'{"prompt":"' + prompt + b'","completion":"' + completion + b'"}\n'

    def _target(self, sample: Sample) -> int:
        if len(sample.targets) != 1:
            raise UnsupportedSampleError(
                f"conversation {sample.conversation_id or f'#{sample.conversation_index}'}: "
                f"a sample with {len(sample.targets)} targets cannot be written as one "
                "prompt/completion pair (use a one-target window)"
            )
        return sample.targets[0]
