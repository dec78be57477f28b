"""Test oracles for the writers: each sample's JSON object built the slow, obvious way, one
sample at a time from the public pieces, to compare with the fast ``lines`` byte for byte
(``orjson.dumps(record(writer, sample, k)) + b"\\n"`` is line ``k``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from convsplit.errors import UnsupportedSampleError
from convsplit.formats import (
    OpenAIWriter,
    PromptCompletionWriter,
    SampleWriter,
    ShareGPTWriter,
    TextWriter,
    TRLWriter,
)
from convsplit.formats.openai_json import message_json, tool_call_ids
from convsplit.formats.record_fields import arguments_value, openai_tools, sample_metadata
from convsplit.formats.text import render_message
from convsplit.messages import INSTRUCTION_ROLES, Message, ToolCall
from convsplit.samples import Sample
from convsplit.tokens.chat_formats import Special, TemplateFormat, get_chat_format


def record(writer: SampleWriter, sample: Sample, sample_index: int = 0) -> dict[str, Any]:
    """The JSON object ``writer`` writes for ``sample`` (the ``sample_index``-th of its
    conversation, which only inline metadata shows)."""
    if isinstance(writer, OpenAIWriter):
        return openai_record(writer, sample, sample_index)
    if isinstance(writer, TRLWriter):
        return trl_record(writer, sample)
    if isinstance(writer, ShareGPTWriter):
        return sharegpt_record(writer, sample)
    if isinstance(writer, TextWriter):
        return text_record(writer, sample)
    if isinstance(writer, PromptCompletionWriter):
        return prompt_completion_record(writer, sample)
    raise TypeError(f"no oracle for {writer!r}")


# -- openai ------------------------------------------------------------------------------------


def openai_record(writer: OpenAIWriter, sample: Sample, sample_index: int) -> dict[str, Any]:
    ids = (
        tool_call_ids(sample.messages, sample.source_indices)
        if writer.fill_tool_call_ids
        else [(None, None)] * len(sample.messages)
    )
    messages = []
    for k, message in enumerate(sample.messages):
        trained = k in sample.targets
        call_ids, answers = ids[k]
        messages.append(
            message_json(
                message,
                weight=(1 if writer.weight_targets else None) if trained else 0,
                keep_reasoning=writer.keep_reasoning,
                keep_extras=writer.keep_extras,
                reasoning_key=writer.reasoning_key,
                call_ids=call_ids,
                answers=answers,
            )
        )
    out: dict[str, Any] = {"messages": messages}
    if sample.tools:
        out["tools"] = openai_tools(sample.tools)
        if writer.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = writer.parallel_tool_calls
    if writer.metadata == "inline":
        meta = sample_metadata(sample, sample_index=sample_index)
        if sample.columns:  # the conversation's own columns, where it has any
            meta["columns"] = sample.columns
        out[writer.metadata_key] = meta
    return out


# -- trl ---------------------------------------------------------------------------------------


def trl_record(writer: TRLWriter, sample: Sample) -> dict[str, Any]:
    if len(sample.targets) > 1 and writer.multi_target == "error":
        raise UnsupportedSampleError("several targets")
    split = sample.targets[0]
    out: dict[str, Any] = {
        "prompt": [writer.message(m) for m in sample.messages[:split]],
        "completion": [writer.message(m) for m in sample.messages[split:]],
    }
    if sample.tools:
        out["tools"] = openai_tools(sample.tools)
    if writer.keep_columns and sample.columns:
        out["metadata"] = sample.columns
    return out


# -- sharegpt ----------------------------------------------------------------------------------


def sharegpt_record(writer: ShareGPTWriter, sample: Sample) -> dict[str, Any]:
    if writer.train_flag == "auto":
        flags = len(sample.targets) > 1
    else:
        flags = writer.train_flag == "always"
    turns: list[object] = []
    previous = None
    for k, message in enumerate(sample.messages):
        # A call-only message right after a text-only one is marked to read back apart.
        separate = (
            previous is not None and previous.role == "assistant" and not previous.tool_calls
            and message.role == "assistant" and bool(message.tool_calls) and not message.text
        )  # fmt: skip
        previous = message
        turns.extend(
            _sharegpt_turns(writer, message, flags and k in sample.targets, flags, separate)
        )
    out: dict[str, Any] = {"conversations": turns}
    if sample.tools:
        out["tools"] = json.dumps(list(sample.tools), ensure_ascii=False)
    if writer.keep_fields:  # the conversation's own columns, beside what the format reads
        out.update(
            {k: v for k, v in (sample.columns or {}).items() if k not in ("conversations", "tools")}
        )
    return out


def _sharegpt_turns(
    writer: ShareGPTWriter, message: Message, trained: bool, flags: bool, separate: bool
) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    calls = message.tool_calls
    if message.role != "assistant" or not calls or message.text:
        turns.append({"from": writer.role_names[message.role], "value": message.text})
    if message.role == "assistant" and calls:
        values = [_sharegpt_call(writer, call) for call in calls]
        value = values[0] if len(values) == 1 else values
        turns.append(
            {"from": writer.function_call_name, "value": json.dumps(value, ensure_ascii=False)}
        )
        if separate:
            turns[-1]["separate"] = True
    if writer.keep_fields:
        fields: dict[str, Any] = {}
        if message.name is not None:
            fields["name"] = message.name
        if message.tool_call_id is not None:
            fields["tool_call_id"] = message.tool_call_id
        if message.reasoning is not None:
            fields["reasoning"] = message.reasoning
        for name, extra in (message.model_extra or {}).items():
            fields.setdefault(name, extra)
        turns[0].update(fields)
    if flags and message.role == "assistant":
        for turn in turns:
            turn[writer.train_key] = trained
    return turns


def _sharegpt_call(writer: ShareGPTWriter, call: ToolCall) -> dict[str, Any]:
    value: dict[str, Any] = {
        "name": call.function.name,
        "arguments": arguments_value(call.function.arguments),
    }
    if writer.keep_fields:
        if call.id is not None:
            value["id"] = call.id
        value.update(call.model_extra or {})
    return value


# -- text --------------------------------------------------------------------------------------


def _joined(pieces: Sequence[str | Special]) -> str:
    return "".join(p.text if isinstance(p, Special) else p for p in pieces)


def text_render(writer: TextWriter, sample: Sample) -> tuple[str, list[tuple[int, int]]]:
    """The sample's text and the ``[start, end)`` character span of each target."""
    template = get_chat_format(writer.template)
    assert isinstance(template, TemplateFormat)
    parts = [_joined(template.start(sample.tools))]
    offset = len(parts[0])
    spans: list[tuple[int, int]] = []
    previous: Message | None = None
    for k, message in enumerate(sample.messages):
        after = previous is not None and previous.role in INSTRUCTION_ROLES
        rendered = render_message(template, message, after_instruction=after)
        if k in sample.targets:
            spans.append((offset + rendered.start, offset + rendered.end))
        parts.append(rendered.text)
        offset += len(rendered.text)
        previous = message
    parts.append(_joined(template.end()))
    return "".join(parts), spans


def text_record(writer: TextWriter, sample: Sample) -> dict[str, Any]:
    text, spans = text_render(writer, sample)
    if writer.layout == "spans":
        return {"text": text, "spans": [list(span) for span in spans]}
    segments: list[dict[str, Any]] = []

    def add(label: bool, part: str) -> None:
        if not part:
            return
        if segments and segments[-1]["label"] == label:
            segments[-1]["text"] += part
        else:
            segments.append({"label": label, "text": part})

    position = 0
    for start, end in spans:
        add(False, text[position:start])
        add(True, text[start:end])
        position = end
    add(False, text[position:])
    return {"segments": segments}


# -- prompt_completion -------------------------------------------------------------------------


def prompt_completion_record(writer: PromptCompletionWriter, sample: Sample) -> dict[str, Any]:
    """The text writer's rendering of the sample (its chat format, chatml by default), cut
    at the start of the target's span."""
    if len(sample.targets) != 1:
        raise UnsupportedSampleError("several targets")
    name = writer.chat_format.name if writer.chat_format is not None else "chatml"
    text, ((start, _),) = text_render(TextWriter(template=name), sample)
    return {"prompt": text[:start], "completion": text[start:]}
