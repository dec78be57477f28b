"""Counting tokens: tokenizers (:mod:`.counters`), offline vocabularies (:mod:`.offline`) and
chat templates (:mod:`.chat_formats`)."""

from convsplit.tokens.chat_formats import (
    ChatFormat,
    Special,
    TemplateFormat,
    chat_format_names,
    get_chat_format,
    register_chat_format,
)
from convsplit.tokens.counters import (
    DEFAULT_ENCODING,
    TiktokenCounter,
    TokenCounter,
    counter_names,
    get_counter,
    load_counter,
    register_counter,
)

__all__ = [
    "DEFAULT_ENCODING",
    "ChatFormat",
    "Special",
    "TemplateFormat",
    "TiktokenCounter",
    "TokenCounter",
    "chat_format_names",
    "counter_names",
    "get_chat_format",
    "get_counter",
    "load_counter",
    "register_chat_format",
    "register_counter",
]
