"""The formats convsplit ships, one :class:`~convsplit.formats.registry.Format` object
each, registered when :mod:`convsplit.formats` is imported: each names its reader and
detection (from its reader module), its structural checks (:mod:`.checks`) and its writer.
"""

from __future__ import annotations

from convsplit.formats.checks import check_openai, check_pairs, check_sharegpt
from convsplit.formats.completions import PromptCompletionWriter
from convsplit.formats.gemini import detect_gemini, read_gemini
from convsplit.formats.hf_columns import (
    openai_columns,
    prompt_completion_columns,
    sharegpt_columns,
    text_columns,
    tokens_columns,
    trl_columns,
)
from convsplit.formats.openai import detect_openai, read_openai
from convsplit.formats.openai_writer import OpenAIWriter
from convsplit.formats.pairs import detect_pairs, read_pairs
from convsplit.formats.registry import Format, register_format
from convsplit.formats.sharegpt import ShareGPTWriter, detect_sharegpt, read_sharegpt
from convsplit.formats.text import TextWriter
from convsplit.formats.tokens import TokensWriter
from convsplit.formats.trl import TRLWriter

OPENAI = Format(
    name="openai",
    description="OpenAI chat fine-tuning: a list of role/content messages, tools beside it",
    example='{"messages": [{"role": "user", "content": "Hi"}, '
    '{"role": "assistant", "content": "Hello"}]}',
    reader=read_openai,
    writer=OpenAIWriter,
    detect=detect_openai,
    priority=30,
    detect_hint="'messages' (openai)",
    check=check_openai,
    features=openai_columns,
)
"""The OpenAI chat format (also TRL's and axolotl's ``messages``, LLaMA-Factory's v1)."""

SHAREGPT = Format(
    name="sharegpt",
    description="ShareGPT (FastChat, LLaMA-Factory): from/value turns under conversations",
    example='{"conversations": [{"from": "human", "value": "Hi"}, '
    '{"from": "gpt", "value": "Hello"}]}',
    reader=read_sharegpt,
    writer=ShareGPTWriter,
    detect=detect_sharegpt,
    priority=20,
    detect_hint="'conversations' (sharegpt)",
    check=check_sharegpt,
    features=sharegpt_columns,
    alternates=True,
)
"""The ShareGPT format: FastChat's and LLaMA-Factory's turns."""

PAIRS = Format(
    name="pairs",
    description="one exchange per record: prompt/completion (legacy, TRL), alpaca, "
    "question/answer and other user/assistant field pairs",
    example='{"instruction": "Translate to French", "input": "cat", "output": "chat"}',
    reader=read_pairs,
    detect=detect_pairs,
    check=check_pairs,
    priority=10,
    detect_hint="'prompt' and 'completion', 'instruction' and 'output', or a user and an "
    "assistant field such as 'user' and 'assistant' (pairs)",
)
"""Pairs: records of one exchange."""

TRL = Format(
    name="trl",
    description="TRL conversational prompt/completion: the context as prompt messages, the "
    "target as the completion",
    example='{"prompt": [{"role": "user", "content": "Hi"}], '
    '"completion": [{"role": "assistant", "content": "Hello"}]}',
    writer=TRLWriter,
    reads_back="pairs",
    features=trl_columns,
)
"""TRL's SFT format, written by :class:`TRLWriter` and read back by the pairs reader."""

TEXT = Format(
    name="text",
    description="each sample rendered by its chat template, with the character spans to "
    "train (or axolotl's input_output segments)",
    example='{"text": "<|im_start|>user\\nHi<|im_end|>\\n...", "spans": [[30, 36]]}',
    writer=TextWriter,
    features=text_columns,
)
"""Rendered text, written only (there is no structure left to read back)."""

PROMPT_COMPLETION = Format(
    name="prompt_completion",
    description="text pairs: each sample rendered by its chat template, cut where the "
    "target's trained part starts (prompt before, completion after)",
    example='{"prompt": "<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n", '
    '"completion": "Hello<|im_end|>\\n"}',
    writer=PromptCompletionWriter,
    reads_back="pairs",
    features=prompt_completion_columns,
)
"""Prompt/completion text cut from the counted rendering, read back by the pairs reader."""

GEMINI = Format(
    name="gemini",
    description="Gemini (Vertex AI) tuning: user/model contents of text and function parts",
    example='{"contents": [{"role": "user", "parts": [{"text": "Hi"}]}, '
    '{"role": "model", "parts": [{"text": "Hello"}]}]}',
    reader=read_gemini,
    detect=detect_gemini,
    priority=15,
    detect_hint="'contents' with 'parts' (gemini)",
)
"""Gemini's tuning format, read only."""

TOKENS = Format(
    name="tokens",
    description="pre-tokenized samples: input_ids (the chat template applied, as counted) "
    "and assistant_masks (1 on the tokens the targets train)",
    example='{"input_ids": [128000, 128006, 882, ...], "assistant_masks": [0, 0, 0, ...]}',
    writer=TokensWriter,
    features=tokens_columns,
)
"""Token ids and loss masks, written only (TRL's already-tokenized columns)."""

BUILTIN = (OPENAI, SHAREGPT, GEMINI, PAIRS, TRL, TEXT, PROMPT_COMPLETION, TOKENS)


def register_builtin() -> None:
    """Register (again) every format convsplit ships."""
    for fmt in BUILTIN:
        register_format(fmt)
