"""A model's rendering of a sample encoded piece by piece: each distinct message once.

A sample repeats its history, so at a 16k window a message is in many samples; encoding
each sample whole would encode it every time. :class:`SegmentEncoder` cuts the rendering
after each message and encodes each distinct piece once per conversation, wherever that
provably gives the whole's tokens (else the sample is encoded whole).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from convsplit.errors import ChatFormatError
from convsplit.formats.text import TrainedRendering
from convsplit.messages import Message
from convsplit.samples import Sample

__all__ = ["OffsetEncoder", "SegmentEncoder", "token_mask"]


class OffsetEncoder(Protocol):
    """A counter that gives each token's characters, as transformers' ``char_to_token``
    reads them: :class:`~convsplit.tokens.huggingface.HFTokenizerCounter`."""

    def encode_rendered(self, text: str) -> list[int]: ...

    def encode_offsets(
        self, text: str, *, rendered: bool = False
    ) -> tuple[list[int], list[tuple[int, int]]]: ...


class SegmentEncoder:
    """A sample's rendering encoded message by message, each distinct message's text once
    per conversation (a sample repeats its history: at 16k tokens, many times).

    A message's text is what it adds to the rendering of the message before it. The pieces
    are used only where they rebuild the sample's whole rendering exactly and every piece
    after the first opens with a special token: a tokenizer splits its special tokens out
    before anything else, so no token can cross such a seam, and the pieces' tokens are the
    whole's. Otherwise the sample is encoded whole.
    """

    def __init__(self, chat_format: TrainedRendering, counter: OffsetEncoder) -> None:
        render = getattr(chat_format, "render", None)
        self._render: Callable[..., str] = render if callable(render) else _no_render
        self._counter = counter
        self._specials = tuple(getattr(counter, "special_tokens", ()))
        self._texts: dict[tuple[int, ...], str] = {}
        self._tokens: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}

    def encode(
        self, sample: Sample, text: str, spans: Sequence[tuple[int, int]]
    ) -> tuple[list[int], list[int]]:
        """The ids of ``text`` (``sample``'s rendering) and the mask of ``spans`` on them."""
        pieces = self._pieces(sample)
        if pieces is None or "".join(pieces) != text or not self._seams_safe(pieces):
            whole, offsets = self._counter.encode_offsets(text, rendered=True)
            return whole, token_mask(offsets, spans)
        ids: list[int] = []
        mask: list[int] = []
        start = 0
        for piece in pieces:
            cached = self._tokens.get(piece)
            if cached is None:
                cached = self._tokens[piece] = self._counter.encode_offsets(piece, rendered=True)
            tokens, offsets = cached
            end = start + len(piece)
            inside = [(lo - start, hi - start) for lo, hi in spans if lo < end and hi > start]
            ids += tokens
            if not inside:
                mask += [0] * len(tokens)
            elif all(lo <= 0 and hi >= len(piece) for lo, hi in inside):
                mask += [1] * len(tokens)
            else:  # a span's edge is in this piece: only here are offsets read
                mask += token_mask(offsets, inside)
            start = end
        return ids, mask

    def _pieces(self, sample: Sample) -> list[str] | None:
        """The sample's text cut after each message: a head up to the first user message
        (where templates put tools and preambles), then each message as it follows the one
        before (rendered without tools where the template allows: later messages do not
        show them). None where the template renders no such pieces."""
        messages, tools = sample.messages, sample.tools
        if not messages:
            return None
        first_user = next((k for k, m in enumerate(messages) if m.role == "user"), 0)
        try:
            head = self._text(
                (id(tools), id(messages[0]), first_user), messages[: first_user + 1], tools
            )
            pieces = [head]
            for previous, message in itertools.pairwise(messages[first_user:]):
                pieces.append(self._follower(previous, message, tools))
        except ChatFormatError:  # a template that refuses these messages alone
            return None
        return pieces

    def _text(self, key: tuple[int, ...], messages: Sequence[Message], tools: Any) -> str:
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = self._render(messages, tools)
        return text

    def _follower(self, previous: Message, message: Message, tools: Any) -> str:
        key = (id(previous), id(message), 0)
        piece = self._texts.get(key)
        if piece is None:
            try:
                before = self._render([previous], None)
                pair = self._render([previous, message], None)
            except ChatFormatError:
                before = self._render([previous], tools)
                pair = self._render([previous, message], tools)
            piece = pair[len(before) :] if pair.startswith(before) else "\x00"  # no match
            self._texts[key] = piece
        return piece

    def _seams_safe(self, pieces: Sequence[str]) -> bool:
        # Each later piece opens with a special token: its text then follows one, alone as in
        # the whole (a tokenizer that prefixes a space to the first text sees the same).
        specials = self._specials
        return bool(specials) and all(piece.startswith(specials) for piece in pieces[1:])


def _no_render(messages: Sequence[Message], tools: Any) -> str:
    raise ChatFormatError("this chat format renders whole samples only")


def token_mask(ranges: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int]:
    """1 from the first to the last token whose ``[start, end)`` meets each span, as
    transformers marks ``char_to_token(start)`` to ``char_to_token(end - 1)``.

    >>> token_mask([(0, 2), (2, 3), (3, 5), (5, 6)], [(2, 4)])
    [0, 1, 1, 0]
    """
    mask = [0] * len(ranges)
    for lo, hi in spans:
        hits = [k for k, (start, end) in enumerate(ranges) if start < hi and end > lo]
        if hits:
            mask[hits[0] : hits[-1] + 1] = [1] * (hits[-1] + 1 - hits[0])
    return mask
