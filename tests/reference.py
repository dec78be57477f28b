"""Independent re-counting of samples, for tests: render the whole sample, tokenize it.

The splitter adds up per-message costs with prefix sums; these helpers render a finished
sample from scratch and hand the text to tiktoken, with the template's markers registered
as real special tokens. If the two ever disagree, the splitter's arithmetic is wrong.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import tiktoken

from convsplit import Message, Sample, TiktokenCounter, get_chat_format, get_counter
from convsplit.tokens.chat_formats import (
    OpenAIChat,
    TemplateFormat,
    count_pieces,
    openai_tools_cost,
)


@functools.cache
def encoding_with_markers(encoding_name: str, format_name: str) -> tiktoken.Encoding:
    """The official encoding plus the chat format's markers as special tokens."""
    counter = get_counter(encoding_name)
    assert isinstance(counter, TiktokenCounter)
    base = counter.encoding
    chat_format = get_chat_format(format_name)
    assert isinstance(chat_format, TemplateFormat)
    extra = sorted(chat_format.specials - set(base._special_tokens))
    specials = dict(base._special_tokens)
    for k, marker in enumerate(extra):
        specials[marker] = base.max_token_value + 1 + k
    return tiktoken.Encoding(
        name=f"{encoding_name}+{format_name}",
        pat_str=base._pat_str,
        mergeable_ranks=base._mergeable_ranks,
        special_tokens=specials,
    )


def count_rendered(
    messages: Sequence[Message],
    tools: Sequence[dict[str, Any]] | None,
    *,
    encoding_name: str,
    format_name: str,
) -> int:
    """Tokens of the rendered sample, counted by tiktoken on the whole text."""
    chat_format = get_chat_format(format_name)
    assert isinstance(chat_format, TemplateFormat)
    counter = get_counter(encoding_name)
    template_tools = None if isinstance(chat_format, OpenAIChat) else tools
    extra = openai_tools_cost(tools or (), counter) if isinstance(chat_format, OpenAIChat) else 0
    pieces = chat_format.pieces(messages, template_tools)
    plain_text = "".join(piece for piece in pieces if isinstance(piece, str))
    if any(marker in plain_text for marker in chat_format.specials):
        # Marker look-alikes in content are plain text: count the whole sample's pieces.
        return count_pieces(pieces, counter) + extra
    text = chat_format.render(messages, template_tools)
    encoding = encoding_with_markers(encoding_name, format_name)
    counted = encoding.encode(
        text, allowed_special=set(chat_format.specials), disallowed_special=()
    )
    return len(counted) + extra


def count_sample(sample: Sample, *, encoding_name: str, format_name: str) -> int:
    """Independent count of a finished sample."""
    return count_rendered(
        sample.messages, sample.tools, encoding_name=encoding_name, format_name=format_name
    )
