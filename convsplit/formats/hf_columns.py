"""The Hugging Face columns of the formats convsplit ships: each format object's
``features`` hook, given its writer and the ``datasets`` module (passed in, so that this
module needs no ``datasets`` to import).

Why these types is told in :mod:`convsplit.integrations._hf_features`: lists of messages are
one ``Json()`` per row, text is ``string``, token ids ``List(int32)`` and masks ``List(int8)``.
"""

from __future__ import annotations

from typing import Any

from convsplit.formats.openai_writer import OpenAIWriter
from convsplit.formats.text import TextWriter
from convsplit.formats.tokens import TokensWriter

Columns = dict[str, Any]


def metadata_columns(ds: Any) -> Columns:
    """The fields of :func:`convsplit.formats.sample_metadata`: where a sample came from."""
    index = ds.Value("int64")
    return {
        "conversation_id": ds.Value("string"),
        "conversation_index": index,
        "sample_index": index,
        "targets": ds.List(index),
        "source_indices": ds.List(index),
        "total_tokens": index,
        "context_tokens": index,
        "target_tokens": index,
        "dropped_messages": index,
        "dropped_tokens": index,
        "truncated": ds.List(index),
    }


def openai_columns(writer: OpenAIWriter, ds: Any) -> Columns:
    """``messages`` and ``tools``; ``parallel_tool_calls`` and inline metadata where set."""
    columns: Columns = {"messages": ds.Json(), "tools": ds.Json()}
    if writer.parallel_tool_calls is not None:
        columns["parallel_tool_calls"] = ds.Value("bool")
    if writer.metadata == "inline":
        columns[writer.metadata_key] = ds.Features(metadata_columns(ds))
    return columns


def trl_columns(writer: object, ds: Any) -> Columns:
    """TRL's conversational ``prompt`` and ``completion``, and ``tools``."""
    return {"prompt": ds.Json(), "completion": ds.Json(), "tools": ds.Json()}


def sharegpt_columns(writer: object, ds: Any) -> Columns:
    """``conversations``, and ``tools`` as the JSON string LLaMA-Factory reads."""
    return {"conversations": ds.Json(), "tools": ds.Value("string")}


def text_columns(writer: TextWriter, ds: Any) -> Columns:
    """The rendered ``text`` and its ``spans``, or axolotl's ``segments``."""
    if writer.layout == "spans":
        return {"text": ds.Value("string"), "spans": ds.List(ds.List(ds.Value("int64")))}
    return {"segments": ds.List({"label": ds.Value("bool"), "text": ds.Value("string")})}


def tokens_columns(writer: TokensWriter, ds: Any) -> Columns:
    """What ``SFTTrainer`` takes as already tokenized (TRL reads any integer mask)."""
    columns: Columns = {
        "input_ids": ds.List(ds.Value("int32")),
        "assistant_masks": ds.List(ds.Value("int8")),
    }
    if writer.metadata == "columns":
        columns.update(metadata_columns(ds))
    return columns


def prompt_completion_columns(writer: object, ds: Any) -> Columns:
    """Legacy ``prompt`` and ``completion`` strings."""
    return {"prompt": ds.Value("string"), "completion": ds.Value("string")}
