"""Round trips: reading what a writer wrote gives back the sample's messages (as the
format can carry them), and no assistant turn is lost between any reader and any writer.

What each format cannot carry is spelled out in the ``expected_*`` functions below; they
are the documented projection, written independently of the writers.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import (
    Budget,
    Chunks,
    Conversation,
    FullHistory,
    FunctionCall,
    LastTurns,
    Message,
    Sample,
    SplitSpec,
    ToolCall,
    get_chat_format,
    split_conversation,
)
from convsplit.formats import (
    OpenAIWriter,
    PromptCompletionWriter,
    ShareGPTWriter,
    TextWriter,
    TRLWriter,
    read_records,
)
from convsplit.formats.openai_json import assign_tool_call_ids
from convsplit.formats.record_fields import openai_tools
from convsplit.formats.text import render_message
from convsplit.tokens.chat_formats import TemplateFormat, message_body
from tests.format_strategies import ROLE_MAP, any_records, rich_conversations

WINDOWS = st.sampled_from([FullHistory(), Chunks(), LastTurns(2)])


def read_back(line: bytes, *, input_format: str = "auto") -> Conversation:
    (record,) = read_records(io.BytesIO(line), input_format=input_format)
    assert record.error is None, str(record.error)
    assert record.conversation is not None
    return record.conversation


def fields_only(message: Message) -> Message:
    """The message without its unknown (extra) fields."""
    return Message.model_validate({name: getattr(message, name) for name in Message.model_fields})


def normal_arguments(arguments: str) -> str:
    """Arguments written as a JSON object come back as ``json.dumps`` prints it (those
    with a 19-digit number are written as the string, see ``arguments_value``)."""
    if re.search("[0-9]{19}", arguments):
        return arguments
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return arguments


# -- openai -------------------------------------------------------------------------------------


def expected_openai(sample: Sample, writer: OpenAIWriter) -> tuple[Message, ...]:
    messages = sample.messages
    if writer.fill_tool_call_ids:
        messages = assign_tool_call_ids(messages, sample.source_indices)
    out = []
    for k, message in enumerate(messages):
        weight = None
        if message.role == "assistant":
            weight = (1 if writer.weight_targets else None) if k in sample.targets else 0
        update: dict[str, Any] = {"weight": weight}
        if not writer.keep_reasoning:
            update["reasoning"] = None
        new = message.model_copy(update=update)
        out.append(new if writer.keep_extras else fields_only(new))
    return tuple(out)


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param(OpenAIWriter(), id="default"),
        pytest.param(
            OpenAIWriter(
                weight_targets=True, keep_reasoning=True, keep_extras=True, fill_tool_call_ids=False
            ),
            id="keep-all",
        ),
    ],
)
@given(conv=rich_conversations(), window=WINDOWS)
def test_openai_round_trip(writer: OpenAIWriter, conv: Conversation, window: Any) -> None:
    # Split for this writer: samples hold what it writes (reasoning kept or not, and so on).
    options = {f.name: getattr(writer, f.name) for f in dataclasses.fields(writer) if f.init}
    spec = SplitSpec(
        budget=Budget(3000), window=window, output_format=writer.name, writer_options=options
    )
    result = split_conversation(conv, spec)
    for line, sample in zip(writer.lines(result), result.samples, strict=True):
        back = read_back(line)
        assert back.messages == expected_openai(sample, writer)
        assert back.tools == (tuple(openai_tools(sample.tools)) if sample.tools else None)


# -- trl ----------------------------------------------------------------------------------------


def expected_trl(sample: Sample, writer: TRLWriter) -> tuple[Message, ...]:
    split = sample.targets[0]
    out = []
    for k, message in enumerate(sample.messages):
        update: dict[str, Any] = {
            "weight": 0 if k < split and message.role == "assistant" else None
        }
        if not writer.keep_reasoning:
            update["reasoning"] = None
        if writer.arguments == "object" and message.tool_calls:
            update["tool_calls"] = tuple(
                call.model_copy(update={"function": call.function.model_copy(
                    update={"arguments": normal_arguments(call.function.arguments)})})
                for call in message.tool_calls
            )  # fmt: skip
        new = message.model_copy(update=update)
        out.append(new if writer.keep_extras else fields_only(new))
    return tuple(out)


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param(TRLWriter(multi_target="completion"), id="default"),
        pytest.param(
            TRLWriter(
                arguments="string", keep_reasoning=True, keep_extras=True, multi_target="completion"
            ),
            id="keep-all",
        ),
    ],
)
@given(conv=rich_conversations(), window=WINDOWS)
def test_trl_round_trip_through_the_pairs_reader(
    writer: TRLWriter, conv: Conversation, window: Any
) -> None:
    # Split for this writer: samples hold what it writes (reasoning kept or not, and so on).
    options = {f.name: getattr(writer, f.name) for f in dataclasses.fields(writer) if f.init}
    spec = SplitSpec(
        budget=Budget(3000), window=window, output_format=writer.name, writer_options=options
    )
    result = split_conversation(conv, spec)
    for line, sample in zip(writer.lines(result), result.samples, strict=True):
        back = read_back(line, input_format="pairs")
        assert back.messages == expected_trl(sample, writer)
        assert back == read_back(line)  # auto-detection agrees


# -- sharegpt -----------------------------------------------------------------------------------


def expected_sharegpt(sample: Sample, writer: ShareGPTWriter) -> tuple[Message, ...]:
    flags = writer.train_flag == "always" or (
        writer.train_flag == "auto" and len(sample.targets) > 1
    )
    out: list[Message] = []
    for k, message in enumerate(sample.messages):
        calls = None
        if message.role == "assistant" and message.tool_calls:
            calls = tuple(
                ToolCall(
                    id=call.id if writer.keep_fields else None,
                    function=FunctionCall(
                        name=call.function.name,
                        arguments=normal_arguments(call.function.arguments),
                    ),
                    **(call.model_extra or {} if writer.keep_fields else {}),
                )
                for call in message.tool_calls
            )
            content = message.text or None
        else:
            content = message.text
        weight = None
        if flags and message.role == "assistant":
            weight = int(k in sample.targets)
        fields: dict[str, Any] = {
            "role": "system" if message.role == "developer" else message.role,
            "content": content,
            "tool_calls": calls,
            "weight": weight,
        }
        if writer.keep_fields:
            fields.update(name=message.name, tool_call_id=message.tool_call_id,
                          reasoning=message.reasoning, **(message.model_extra or {}))  # fmt: skip
        # A call-only turn after a text-only one is marked separate: it reads back apart.
        out.append(Message.model_validate(fields))
    return tuple(out)


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param(ShareGPTWriter(), id="default"),
        pytest.param(ShareGPTWriter(train_flag="always", keep_fields=True), id="keep-fields"),
        pytest.param(ShareGPTWriter(train_flag="never"), id="no-flags"),
    ],
)
@given(conv=rich_conversations(), window=WINDOWS)
def test_sharegpt_round_trip(writer: ShareGPTWriter, conv: Conversation, window: Any) -> None:
    # Split for this writer: samples hold what it writes (reasoning kept or not, and so on).
    options = {f.name: getattr(writer, f.name) for f in dataclasses.fields(writer) if f.init}
    spec = SplitSpec(
        budget=Budget(3000), window=window, output_format=writer.name, writer_options=options
    )
    result = split_conversation(conv, spec)
    for line, sample in zip(writer.lines(result), result.samples, strict=True):
        back = read_back(line)
        assert back.messages == expected_sharegpt(sample, writer)
        assert back.tools == sample.tools


# -- legacy prompt/completion -------------------------------------------------------------------


def expected_prompt_completion(line: bytes) -> tuple[Message, ...]:
    """The pairs reader's reading of a written pair: the prompt text as a user message, the
    completion text as the assistant's."""
    row = json.loads(line)
    return (
        Message(role="user", content=row["prompt"]),
        Message(role="assistant", content=row["completion"]),
    )


@given(conv=rich_conversations())
def test_prompt_completion_round_trip_through_the_pairs_reader(conv: Conversation) -> None:
    spec = SplitSpec(budget=Budget(3000), output_format="prompt_completion")
    result = split_conversation(conv, spec)
    text = TextWriter().for_spec(spec)
    lines = spec.writer().lines(result)
    for line, rendered in zip(lines, text.lines(result), strict=True):
        back = read_back(line).messages
        assert back == expected_prompt_completion(line)
        row = json.loads(rendered)
        ((start, _),) = row["spans"]
        assert back[0].content == row["text"][:start] and back[1].content == row["text"][start:]


# -- text (no reader: the property is that the spans are exactly the targets) ---------------------


@pytest.mark.parametrize("template", ["chatml", "llama2", "llama3", "plain"])
@given(conv=rich_conversations(), window=WINDOWS)
def test_text_spans_are_exactly_the_targets(template: str, conv: Conversation, window: Any) -> None:
    chat_format = get_chat_format(template)
    assert isinstance(chat_format, TemplateFormat)
    result = split_conversation(
        conv, SplitSpec(budget=Budget(3000), window=window, chat_format=chat_format)
    )
    spans_writer, segments_writer = (
        TextWriter(template=template),
        TextWriter(template=template, layout="segments"),
    )
    lines = zip(
        spans_writer.lines(result), segments_writer.lines(result), result.samples, strict=True
    )
    for line, segments_line, sample in lines:
        record = orjson.loads(line)
        text, spans = record["text"], record["spans"]
        assert text == chat_format.render(sample.messages, sample.tools)
        assert len(spans) == len(sample.targets)
        assert all(
            a <= b <= c for (a, b), (c, _) in zip(spans, [*spans[1:], (len(text), 0)], strict=True)
        )
        for (start, end), k in zip(spans, sample.targets, strict=True):
            after = k > 0 and sample.messages[k - 1].role in ("system", "developer")
            rendered = render_message(chat_format, sample.messages[k], after_instruction=after)
            assert text[start:end] == rendered.text[rendered.start : rendered.end]
        segments = orjson.loads(segments_line)["segments"]
        assert "".join(s["text"] for s in segments) == text
        trained = [False] * len(text)
        for a, b in spans:
            trained[a:b] = [True] * (b - a)
        assert [s["label"] for s in segments for _ in s["text"]] == trained


# -- no turn lost, for every reader x writer ---------------------------------------------------------


def trained_units(writer_name: str, line: bytes) -> list[tuple[str, tuple[str, ...]]]:
    """(text, tool call names) of each trained unit of a line, read from the line itself.

    A unit is a trained message (openai, trl), a run of trained turns (sharegpt: a ``gpt``
    turn and the ``function_call`` turn after it), a span (text) or the completion.
    """
    value = orjson.loads(line)
    if writer_name in ("openai", "trl"):
        messages = value["messages"] if writer_name == "openai" else value["completion"]
        return [
            (_text(m.get("content")), tuple(c["function"]["name"] for c in m.get("tool_calls", ())))
            for m in messages
            if m["role"] == "assistant" and m.get("weight") != 0
        ]
    if writer_name == "sharegpt":
        return _sharegpt_units(value["conversations"])
    if writer_name == "text":
        return [(value["text"][a:b], ()) for a, b in value["spans"]]
    return [(value["completion"], ())]


def _text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(p.get("text") or "" for p in content if p["type"] == "text")


def _sharegpt_units(turns: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    flags = any("train" in t for t in turns)
    groups: list[tuple[str, tuple[str, ...], bool]] = []
    for k, turn in enumerate(turns):
        if turn["from"] == "gpt":
            groups.append((turn["value"], (), turn.get("train", not flags)))
        elif turn["from"] == "function_call":
            value = json.loads(turn["value"])
            names = tuple(c["name"] for c in (value if isinstance(value, list) else [value]))
            train = turn.get("train", not flags)
            previous = turns[k - 1] if k else {}
            if previous.get("from") == "gpt" and previous.get("train", not flags) == train:
                text, _, _ = groups.pop()
                groups.append((text, names, train))
            else:
                groups.append(("", names, turn.get("train", not flags)))
        else:
            groups.append(("", (), False))
    if not flags:  # one target: the last assistant turn group trains
        return [(text, names) for text, names, _ in groups[-1:]]
    return [(text, names) for text, names, trained in groups if trained]


def is_trained_in(
    writer_name: str, message: Message, units: list[tuple[str, tuple[str, ...]]]
) -> bool:
    names = tuple(c.function.name for c in message.tool_calls or ())
    if writer_name in ("openai", "trl"):
        return (message.text, names) in units
    if writer_name == "sharegpt":
        # a text turn and the call-only turn after it read as one group (see the module doc)
        return any(
            (text == message.text or (not message.text and names)) and set(names) <= set(got)
            for text, got in units
        )
    body = message_body(message.without_reasoning() if writer_name != "text" else message)
    return any(body.strip() in text for text, _ in units)


ALL_WRITERS = [
    pytest.param("openai", OpenAIWriter(), True, id="openai"),
    pytest.param("trl", TRLWriter(), False, id="trl"),
    pytest.param("sharegpt", ShareGPTWriter(), True, id="sharegpt"),
    pytest.param("text", TextWriter(), True, id="text"),
    pytest.param("prompt_completion", PromptCompletionWriter(), False, id="prompt_completion"),
]


@pytest.mark.parametrize(("name", "writer", "multi"), ALL_WRITERS)
@given(source=any_records(), chunks=st.booleans())
def test_no_turn_lost_from_any_reader_to_any_writer(
    name: str, writer: Any, multi: bool, source: tuple[str, dict[str, Any]], chunks: bool
) -> None:
    reader, raw = source
    data = json.dumps(raw).encode() + b"\n"
    (record,) = read_records(io.BytesIO(data), role_map=ROLE_MAP)
    assert record.error is None, str(record.error)
    conv = record.conversation
    assert conv is not None
    assert conv.messages == read_back_format(data, reader).messages  # auto == chosen reader
    window = Chunks() if chunks and multi else FullHistory()
    # Split for this writer: samples hold what it writes (reasoning kept or not, and so on).
    options = {f.name: getattr(writer, f.name) for f in dataclasses.fields(writer) if f.init}
    spec = SplitSpec(
        budget=Budget(3000), window=window, output_format=writer.name, writer_options=options
    )
    result = split_conversation(conv, spec)
    lines = list(writer.lines(result))
    assert len(lines) == len(result.samples)
    assistants = [i for i, m in enumerate(conv.messages) if m.role == "assistant"]
    assert [o.message_index for o in result.outcomes] == assistants
    targeted = [o for o in result.outcomes if o.targeted]
    assert len(targeted) + len(result.skipped) == len(assistants) == raw_assistants(reader, raw)
    units = [trained_units(name, line) for line in lines]
    for outcome in targeted:
        assert outcome.sample_index is not None
        message = conv.messages[outcome.message_index]
        assert is_trained_in(name, message, units[outcome.sample_index]), (message, units)
    if name != "sharegpt":  # each line trains exactly its sample's targets
        assert [len(u) for u in units] == [len(s.targets) for s in result.samples]


def read_back_format(data: bytes, reader: str) -> Conversation:
    (record,) = read_records(io.BytesIO(data), input_format=reader, role_map=ROLE_MAP)
    assert record.conversation is not None
    return record.conversation


def raw_assistants(reader: str, raw: dict[str, Any]) -> int:
    """Assistant messages counted in the record as written, independently of the readers."""
    if reader == "openai":
        return sum(m["role"] == "assistant" for m in raw["messages"])
    if reader == "sharegpt":
        return sum(t["from"].lower() in ("gpt", "assistant", "bot", "function_call")
                   for t in raw["conversations"])  # fmt: skip
    if "completion" in raw and isinstance(raw["completion"], list):
        return sum(m["role"] == "assistant" for m in raw["prompt"] + raw["completion"])
    return 1 + len(raw.get("history", []))
