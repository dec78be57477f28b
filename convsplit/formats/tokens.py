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

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, cast

from convsplit.errors import ChatFormatError, InvalidOptionError
from convsplit.formats.json_text import dumps
from convsplit.formats.protocols import SampleWriter
from convsplit.formats.record_fields import sample_metadata
from convsplit.formats.text import TrainedRendering, render_message
from convsplit.messages import INSTRUCTION_ROLES, Message
from convsplit.samples import Sample, SplitResult
from convsplit.tokens.chat_formats import (
    ChatFormat,
    OpenAIChat,
    Piece,
    Special,
    TemplateFormat,
)
from convsplit.tokens.counters import TiktokenCounter, TokenCounter

__all__ = ["TokenRow", "TokensWriter", "special_token_ids"]

#: ``input_ids`` and ``assistant_masks`` of one sample.
TokenRow = tuple[list[int], list[int]]


class _HasSplitParts(Protocol):
    """What :meth:`TokensWriter.for_spec` reads of a :class:`~convsplit.spec.SplitSpec`."""

    @property
    def chat_format(self) -> ChatFormat: ...

    @property
    def tokenizer(self) -> TokenCounter: ...


class _OffsetEncoder(Protocol):
    """A counter that gives each token's characters, as transformers' ``char_to_token``
    reads them: :class:`~convsplit.tokens.huggingface.HFTokenizerCounter`."""

    def encode_rendered(self, text: str) -> list[int]: ...

    def encode_offsets(
        self, text: str, *, rendered: bool = False
    ) -> tuple[list[int], list[tuple[int, int]]]: ...


#: Encodes a text and masks the tokens that hold a character of the given spans.
_SpanEncoder = Callable[[str, Sequence[tuple[int, int]]], "TokenRow"]


def special_token_ids(template: TemplateFormat, counter: TokenCounter) -> dict[str, int]:
    """The id of each of ``template``'s markers in ``counter``'s vocabulary.

    Raises:
        InvalidOptionError: a marker the tokenizer has no special token for (naming the
            markers it lacks and those it has), or a tokenizer with no special tokens.

    >>> from convsplit.tokens import get_chat_format, get_counter
    >>> special_token_ids(get_chat_format("plain"), get_counter("o200k_base"))
    {'<|endoftext|>': 199999}
    >>> special_token_ids(get_chat_format("chatml"), get_counter("o200k_base"))
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: tokenizer 'o200k_base' has no special token for \
'<|im_end|>', '<|im_start|>' of chat format 'chatml', so its samples have no token ids (its \
special tokens: '<|endofprompt|>', '<|endoftext|>'); choose a chat format whose markers it \
has (plain) or the model's own template (--chat-format hf:<model folder>)
    """
    known = _specials(counter)
    ids: dict[str, int] = {}
    for marker in sorted(template.specials):
        token = known(marker)
        if token is not None:
            ids[marker] = token
    missing = sorted(set(template.specials) - set(ids))
    if missing:
        has = ", ".join(repr(m) for m in sorted(_special_names(counter))) or "none"
        raise InvalidOptionError(
            f"tokenizer {counter.name!r} has no special token for "
            f"{', '.join(map(repr, missing))} of chat format {template.name!r}, so its samples "
            f"have no token ids (its special tokens: {has}); choose a chat format whose "
            "markers it has (plain) or the model's own template (--chat-format hf:<model folder>)"
        )
    return ids


def _special_names(counter: TokenCounter) -> frozenset[str]:
    if isinstance(counter, TiktokenCounter):
        return frozenset(counter.encoding.special_tokens_set)
    names = getattr(counter, "special_tokens", None)
    return frozenset(names) if isinstance(names, frozenset) else frozenset()


def _specials(counter: TokenCounter) -> Callable[[str], int | None]:
    """The special token id of a marker's text, or None where the vocabulary has none."""
    names = _special_names(counter)
    if isinstance(counter, TiktokenCounter):
        encoding = counter.encoding
        return lambda text: encoding.encode_single_token(text) if text in names else None
    encode = getattr(counter, "encode_rendered", None)
    if not callable(encode):
        return lambda text: None

    def hf_id(text: str) -> int | None:
        ids = encode(text) if text in names else []
        return ids[0] if len(ids) == 1 else None

    return hf_id


@dataclass(frozen=True, kw_only=True)
class TokensWriter(SampleWriter):
    """Samples as ``{"input_ids": [...], "assistant_masks": [...]}`` lines.

    Args:
        metadata: ``"columns"`` adds :func:`~convsplit.formats.sample_metadata`'s fields as
            columns beside the tokens (conversation id and index, sample index, targets...).
        chat_format: the chat format that counts; :meth:`for_spec` sets it (and ``counter``).
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
        chat_format, counter = self.chat_format, self.counter
        if chat_format is None or counter is None:
            raise InvalidOptionError(
                "the tokens writer needs the spec's chat format and tokenizer: build it with "
                "SplitSpec(output_format='tokens').writer() or TokensWriter().for_spec(spec)"
            )
        if isinstance(chat_format, TemplateFormat) and not isinstance(chat_format, OpenAIChat):
            ids = special_token_ids(chat_format, counter)
            return _PieceEncoder(chat_format, _text_encoder(counter), ids)
        if isinstance(chat_format, TrainedRendering):
            rendered_counter = getattr(chat_format, "counter", counter)
            if not callable(getattr(rendered_counter, "encode_offsets", None)):
                raise InvalidOptionError(
                    f"chat format {chat_format.name!r} has no tokenizer that encodes its "
                    "rendering; use a model's own template (hf:<model folder>)"
                )
            return _rendered_encoder(chat_format, cast(_OffsetEncoder, rendered_counter))
        raise InvalidOptionError(
            f"chat format {chat_format.name!r} only counts tokens and has no rendering, so it "
            "has no token ids; choose one that renders: hf:<model folder>, or chatml, llama2, "
            "llama3, plain where the tokenizer has their markers"
        )

    def rows(self, result: SplitResult) -> Iterator[TokenRow]:
        """``(input_ids, assistant_masks)`` per sample, in sample order.

        Raises:
            ChatFormatError: a sample whose tokens are not as many as it was counted.
        """
        encode = self._encoder()
        for sample in result.samples:
            ids, mask = encode(sample)
            if len(ids) != sample.total_tokens:
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


class _PieceEncoder:
    """A built-in template's samples as tokens, each distinct message encoded once per
    writer (cached by the message object, as the other writers cache fragments)."""

    def __init__(self, template: TemplateFormat, encode: _SpanEncoder, ids: dict[str, int]):
        self.template, self.encode, self.ids = template, encode, ids
        self._messages: dict[tuple[int, bool, bool], tuple[Message, TokenRow]] = {}
        self._ends: dict[int, tuple[object, list[int], list[int]]] = {}

    def __call__(self, sample: Sample) -> TokenRow:
        template = self.template
        start = self._ends.get(id(sample.tools))
        if start is None or start[0] is not sample.tools:
            begin = self._encode(template.start(sample.tools))
            start = self._ends[id(sample.tools)] = (
                sample.tools,
                begin,
                self._encode(template.end()),
            )
        _, begin, end = start
        ids = list(begin)
        mask = [0] * len(begin)
        targets = set(sample.targets)
        previous: Message | None = None
        for k, message in enumerate(sample.messages):
            after = previous is not None and previous.role in INSTRUCTION_ROLES
            key = (id(message), after, k in targets)
            entry = self._messages.get(key)
            if entry is None or entry[0] is not message:
                entry = self._messages[key] = (message, self._message(message, after, k in targets))
            ids += entry[1][0]
            mask += entry[1][1]
            previous = message
        ids += end
        mask += [0] * len(end)
        if len(self._messages) > 65536:  # one long-lived writer over a whole file
            self._messages.clear()
        return ids, mask

    def _encode(self, pieces: Sequence[Piece]) -> list[int]:
        return self._masked(pieces, 0, 0)[0]

    def _message(self, message: Message, after: bool, target: bool) -> TokenRow:
        pieces = self.template.message(message, after_instruction=after)
        if not target:
            return self._masked(pieces, 0, 0)
        rendered = render_message(self.template, message, after_instruction=after)
        return self._masked(pieces, rendered.start, rendered.end)

    def _masked(self, pieces: Sequence[Piece], lo: int, hi: int) -> TokenRow:
        """Tokens of ``pieces`` (text runs encoded whole, as ``count_pieces`` counts them)
        and the mask of those holding a character of ``[lo, hi)``."""
        ids: list[int] = []
        mask: list[int] = []
        offset = 0
        run: list[str] = []

        def flush() -> None:
            nonlocal offset
            if run:
                text = "".join(run)
                run.clear()
                tokens, bits = self.encode(text, [(lo - offset, hi - offset)])
                ids.extend(tokens)
                mask.extend(bits)
                offset += len(text)

        for piece in pieces:
            if isinstance(piece, Special):
                flush()
                ids.append(self.ids[piece.text])
                end = offset + len(piece.text)
                mask.append(int(offset < hi and end > lo))
                offset = end
            else:
                run.append(piece)
        flush()
        return ids, mask


def _text_encoder(counter: TokenCounter) -> _SpanEncoder:
    """Encodes ordinary text as ``counter.encode`` does (what the count counts), masking by
    the bytes each token holds.

    Raises:
        InvalidOptionError: a tokenizer that cannot say which characters a token holds.
    """
    if isinstance(counter, TiktokenCounter):
        return functools.partial(_tiktoken_spans, counter)
    if callable(getattr(counter, "encode_offsets", None)):
        offsets = cast(_OffsetEncoder, counter).encode_offsets
        return lambda text, spans: _offset_spans(offsets(text), spans)
    raise InvalidOptionError(
        f"tokenizer {counter.name!r} cannot say which characters each token holds, so the "
        "tokens writer cannot mask targets with it; use a tiktoken encoding or hf:<path>"
    )


def _tiktoken_spans(
    counter: TiktokenCounter, text: str, spans: Sequence[tuple[int, int]]
) -> TokenRow:
    tokens = counter.encode(text)
    live = [(lo, hi) for lo, hi in spans if lo < hi and hi > 0 and lo < len(text)]
    if not live:
        return tokens, [0] * len(tokens)
    if all(lo <= 0 and hi >= len(text) for lo, hi in live):
        return tokens, [1] * len(tokens)
    ranges: list[tuple[int, int]] = []
    position = 0
    for piece in counter.encoding.decode_tokens_bytes(tokens):
        ranges.append((position, position + len(piece)))
        position += len(piece)
    return tokens, _mask(ranges, [(_bytes(text, lo), _bytes(text, hi)) for lo, hi in live])


def _bytes(text: str, char: int) -> int:
    """The UTF-8 length of ``text[:char]`` (a lone surrogate: three bytes, as tiktoken's
    replacement character)."""
    return len(text[: max(char, 0)].encode("utf-8", errors="surrogatepass"))


def _offset_spans(
    encoded: tuple[list[int], list[tuple[int, int]]], spans: Sequence[tuple[int, int]]
) -> TokenRow:
    tokens, offsets = encoded
    return tokens, _mask(offsets, spans)


def _mask(ranges: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int]:
    """1 from the first to the last token whose ``[start, end)`` meets each span, as
    transformers marks ``char_to_token(start)`` to ``char_to_token(end - 1)``.

    >>> _mask([(0, 2), (2, 3), (3, 5), (5, 6)], [(2, 4)])
    [0, 1, 1, 0]
    """
    mask = [0] * len(ranges)
    for lo, hi in spans:
        hits = [k for k, (start, end) in enumerate(ranges) if start < hi and end > lo]
        if hits:
            mask[hits[0] : hits[-1] + 1] = [1] * (hits[-1] + 1 - hits[0])
    return mask


def _rendered_encoder(
    chat_format: TrainedRendering, counter: _OffsetEncoder
) -> Callable[[Sample], TokenRow]:
    """A model's own template: each sample rendered whole, encoded as ``apply_chat_template``
    encodes it, and masked on the targets' spans: their ``{% generation %}`` blocks where the
    template has them, else from each target's generation prompt to its end."""
    template = getattr(chat_format, "template", "")
    tracked = getattr(chat_format, "render_generation", None)
    generation = isinstance(template, str) and _GENERATION.search(template) is not None

    def encode(sample: Sample) -> TokenRow:
        text, spans = chat_format.render_trained(sample.messages, sample.tools, sample.targets)
        if generation and callable(tracked):
            spans = _generation_spans(sample, spans, tracked(sample.messages, sample.tools))
        return _offset_spans(counter.encode_offsets(text, rendered=True), spans)

    return encode


_GENERATION = re.compile(r"\{%-?\s*generation\s*[-+]?%\}")


def _generation_spans(
    sample: Sample,
    targets: list[tuple[int, int]],
    rendered: tuple[str, list[tuple[int, int]]],
) -> list[tuple[int, int]]:
    """The ``{% generation %}`` blocks that overlap the targets' spans (blocks of context
    assistant messages are not trained).

    Raises:
        ChatFormatError: a target that no generation block covers.
    """
    _, blocks = rendered
    out: list[tuple[int, int]] = []
    for position, (lo, hi) in zip(sample.targets, targets, strict=True):
        covering = [(a, b) for a, b in blocks if a < max(hi, lo + 1) and b > lo]
        if not covering:
            name = sample.conversation_id or f"#{sample.conversation_index}"
            raise ChatFormatError(
                f"conversation {name}: no {{% generation %}} block of the chat template covers "
                f"the target at message {sample.source_indices[position]}, so it would train "
                "nothing"
            )
        out += covering
    return out
