"""Pre-tokenized samples: ``input_ids`` and ``assistant_masks``, the tokens convsplit counted.

A trainer given text tokenizes it again, and cuts what does not fit (TRL's ``SFTTrainer``
keeps the start of a row by default: it cuts off the very turn being trained). Given
``input_ids``, TRL's ``_prepare_dataset`` tokenizes nothing, and ``assistant_masks`` (1 on
the tokens a target trains) is its loss mask; nothing can be re-rendered, re-cut or
re-masked.

The ids come from the rendering that counts, never from searching text afterwards:

- a model's own template (``hf:`` chat formats): the sample rendered as
  ``apply_chat_template`` renders it, encoded with the model's tokenizer (markers and
  look-alikes read as control tokens, as transformers reads them). The mask covers each
  target from the end of its generation prompt to the end of its rendering
  (:meth:`~convsplit.tokens.huggingface.HFChatTemplate.render_trained`): for templates with
  ``{% generation %}`` blocks, the tokens ``return_assistant_tokens_mask=True`` marks in the
  targets;
- a built-in template (``chatml``, ``llama2``, ``llama3``, ``plain``): each message's pieces
  (:meth:`~convsplit.tokens.chat_formats.TemplateFormat.message`, what ``message_cost``
  counts), text runs encoded as ordinary text and each marker as the tokenizer's special
  token of that text. A tokenizer without such a token for a marker is refused when the
  writer is bound to the spec (o200k_base and cl100k_base have ``<|endoftext|>``, so
  ``plain``; Qwen's tokenizer has ChatML's markers). The mask covers the target's body and
  its end-of-turn marker, the text writer's spans.

A token is trained when it holds a byte of a trained span (transformers' ``char_to_token``
rule: a character split over two tokens trains both). Every sample's length is
checked against its count: a difference is an error, never a silent row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from convsplit.errors import ChatFormatError, InvalidOptionError
from convsplit.formats.json_text import dumps
from convsplit.formats.protocols import SampleWriter
from convsplit.formats.record_fields import sample_metadata
from convsplit.formats.token_ids import TokenRow, sample_encoder, special_token_ids
from convsplit.samples import Sample, SplitResult
from convsplit.tokens.chat_formats import ChatFormat, get_chat_format
from convsplit.tokens.counters import TokenCounter, get_counter

__all__ = ["TokenRow", "TokensWriter", "special_token_ids"]

_STANDALONE = "plain"  # the built-in template the default tokenizer has the markers of


class _HasSplitParts(Protocol):
    """What :meth:`TokensWriter.for_spec` reads of a :class:`~convsplit.spec.SplitSpec`."""

    @property
    def chat_format(self) -> ChatFormat: ...

    @property
    def tokenizer(self) -> TokenCounter: ...


@dataclass(frozen=True, kw_only=True)
class TokensWriter(SampleWriter):
    """Samples as ``{"input_ids": [...], "assistant_masks": [...]}`` lines.

    Args:
        metadata: ``"columns"`` adds :func:`~convsplit.formats.sample_metadata`'s fields as
            columns beside the tokens (conversation id and index, sample index, targets...).
        chat_format: the chat format that counts; :meth:`for_spec` sets it (and ``counter``),
            and every row's length is then checked against its count. A writer used on its
            own renders with ``plain`` and the default tokenizer, as the text writer renders
            with ``chatml``: its rows are as long as those count, not the split's.
        counter: the tokenizer that counts.

    Raises:
        InvalidOptionError: an unknown ``metadata`` value; (from :meth:`for_spec`) a chat
            format without token ids for this tokenizer.

    >>> from convsplit import Budget, SplitSpec, split_conversation
    >>> from convsplit.formats.openai import read_openai
    >>> conv = read_openai({"messages": [
    ...     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    >>> spec = SplitSpec(Budget(50), chat_format="plain", output_format="tokens")
    >>> print(next(spec.writer().lines(split_conversation(conv, spec))).decode(), end="")
    {"input_ids":[12194,199999,13225,199999],"assistant_masks":[0,0,1,1]}
    """

    metadata: Literal["none", "columns"] = "none"
    chat_format: ChatFormat | None = None
    counter: TokenCounter | None = None

    def __post_init__(self) -> None:
        if self.metadata not in ("none", "columns"):
            raise InvalidOptionError(f"metadata must be 'none' or 'columns'; got {self.metadata!r}")

    @property
    def name(self) -> str:
        return "tokens"

    def for_spec(self, spec: _HasSplitParts) -> TokensWriter:
        """This writer encoding with ``spec``'s chat format and tokenizer.

        Raises:
            InvalidOptionError: the chat format has no rendering (``openai``), or a built-in
                template's marker has no special token in the tokenizer.
        """
        writer = replace(self, chat_format=spec.chat_format, counter=spec.tokenizer)
        writer._encoder()  # refuse now, before any work
        return writer

    def _encoder(self) -> Callable[[Sample], TokenRow]:
        # On its own (not bound to a spec), like the text writer: a default rendering.
        chat_format = self.chat_format or get_chat_format(_STANDALONE)
        return sample_encoder(chat_format, self.counter or get_counter())

    def rows(self, result: SplitResult) -> Iterator[TokenRow]:
        """``(input_ids, assistant_masks)`` per sample, in sample order.

        Raises:
            ChatFormatError: a sample whose tokens are not as many as it was counted.
        """
        encode = self._encoder()
        bound = self.chat_format is not None
        for sample in result.samples:
            ids, mask = encode(sample)
            if bound and len(ids) != sample.total_tokens:
                name = sample.conversation_id or f"#{sample.conversation_index}"
                raise ChatFormatError(
                    f"conversation {name}: a sample was counted as {sample.total_tokens} "
                    f"tokens but encodes to {len(ids)}"
                )
            yield ids, mask

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample: ``input_ids``, ``assistant_masks`` (and metadata)."""
        for index, (sample, (ids, mask)) in enumerate(
            zip(result.samples, self.rows(result), strict=True)
        ):
            row: dict[str, object] = {"input_ids": ids, "assistant_masks": mask}
            if self.metadata == "columns":
                row.update(sample_metadata(sample, sample_index=index))
            yield dumps(row) + b"\n"
