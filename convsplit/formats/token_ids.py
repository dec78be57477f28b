"""How a sample becomes token ids and a loss mask: the encoders behind
:class:`~convsplit.formats.tokens.TokensWriter`, one per kind of chat format.

A built-in template's sample is encoded message by message from its pieces (what its counts
count), each distinct message once; a model's own template's sample is rendered whole and
encoded as ``apply_chat_template`` encodes it. A token is trained when it holds a byte of a
trained span (transformers' ``char_to_token`` rule).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import cast

from convsplit.errors import ChatFormatError, InvalidOptionError
from convsplit.formats.text import TrainedRendering, render_message
from convsplit.formats.token_segments import OffsetEncoder, SegmentEncoder, token_mask
from convsplit.messages import INSTRUCTION_ROLES, Message
from convsplit.samples import Sample
from convsplit.tokens.chat_formats import ChatFormat, OpenAIChat, Piece, Special, TemplateFormat
from convsplit.tokens.counters import TiktokenCounter, TokenCounter

__all__ = ["PieceEncoder", "TokenRow", "sample_encoder", "special_token_ids"]

#: ``input_ids`` and ``assistant_masks`` of one sample.
TokenRow = tuple[list[int], list[int]]


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


def sample_encoder(chat_format: ChatFormat, counter: TokenCounter) -> Callable[[Sample], TokenRow]:
    """What turns a sample into its ids and mask for ``chat_format`` counted by ``counter``.

    Raises:
        InvalidOptionError: a chat format without a rendering (``openai``), a built-in
            template's marker the tokenizer has no special token for, or a tokenizer that
            cannot say which characters its tokens hold.
    """
    if isinstance(chat_format, TemplateFormat) and not isinstance(chat_format, OpenAIChat):
        ids = special_token_ids(chat_format, counter)
        return PieceEncoder(chat_format, _text_encoder(counter), ids)
    if isinstance(chat_format, TrainedRendering):
        rendered_counter = getattr(chat_format, "counter", counter)
        if not callable(getattr(rendered_counter, "encode_offsets", None)):
            raise InvalidOptionError(
                f"chat format {chat_format.name!r} has no tokenizer that encodes its "
                "rendering; use a model's own template (hf:<model folder>)"
            )
        return _rendered_encoder(chat_format, cast(OffsetEncoder, rendered_counter))
    raise InvalidOptionError(
        f"chat format {chat_format.name!r} only counts tokens and has no rendering, so it "
        "has no token ids; choose one that renders: hf:<model folder>, or chatml, llama2, "
        "llama3, plain where the tokenizer has their markers"
    )


class PieceEncoder:
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
        offsets = cast(OffsetEncoder, counter).encode_offsets
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
    return tokens, token_mask(ranges, [(_bytes(text, lo), _bytes(text, hi)) for lo, hi in live])


def _bytes(text: str, char: int) -> int:
    """The UTF-8 length of ``text[:char]`` (a lone surrogate: three bytes, as tiktoken's
    replacement character)."""
    return len(text[: max(char, 0)].encode("utf-8", errors="surrogatepass"))


def _offset_spans(
    encoded: tuple[list[int], list[tuple[int, int]]], spans: Sequence[tuple[int, int]]
) -> TokenRow:
    tokens, offsets = encoded
    return tokens, token_mask(offsets, spans)


def _rendered_encoder(
    chat_format: TrainedRendering, counter: OffsetEncoder
) -> Callable[[Sample], TokenRow]:
    """A model's own template: each sample rendered whole, encoded as ``apply_chat_template``
    encodes it (:class:`~convsplit.formats.token_segments.SegmentEncoder`: each distinct
    message once), and masked on the targets'
    spans: their ``{% generation %}`` blocks where the template has them, else from each
    target's generation prompt to its end."""
    template = getattr(chat_format, "template", "")
    tracked = getattr(chat_format, "render_generation", None)
    generation = isinstance(template, str) and _GENERATION.search(template) is not None
    segments = SegmentEncoder(chat_format, counter)

    def encode(sample: Sample) -> TokenRow:
        text, spans = chat_format.render_trained(sample.messages, sample.tools, sample.targets)
        if generation and callable(tracked):
            spans = _generation_spans(sample, spans, tracked(sample.messages, sample.tools))
        return segments.encode(sample, text, spans)

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
