"""What is counted is what is written: every JSON output format x built-in chat format.

Each written line is parsed, the messages its format carries are rebuilt from it, and they
are counted by an independent path (``tests/reference.py``: the formats' published shapes,
tiktoken on the text). The count must equal the sample's reported count and fit the budget.
``--to openai`` output also passes the OpenAI cookbook's format checks.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import Budget, Conversation, Message, SplitSpec, split_conversation
from convsplit.formats import get_writer, read_records
from tests.covers import cover
from tests.format_strategies import data_file, rich_conversations, words
from tests.reference import count_row

ENCODING = "o200k_base"
OUTPUTS = ["openai", "trl", "sharegpt"]
CHAT_FORMATS = ["openai", "chatml", "llama3", "plain"]
REAL_FILES = [
    "llamafactory_glaive_toolcall_en_demo.json",
    "llamafactory_reason_tool_use_demo_50.jsonl",
    "openai_cookbook_toy_chat_fine_tuning.jsonl",
    "fastchat_dummy_conversation.json",
]
TOOL = {"name": "get_weather", "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}  # fmt: skip


def cookbook_errors(rows: list[dict[str, Any]]) -> Counter[str]:
    """The OpenAI cookbook's format checks ("Data preparation and analysis for chat model
    fine-tuning"), extended to the tool messages and weights of the current format."""
    errors: Counter[str] = Counter()
    for row in rows:
        messages = row.get("messages")
        if not messages:
            errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or (
                "content" not in message and not message.get("tool_calls")
            ):
                errors["message_missing_key"] += 1
            allowed = {
                "role",
                "content",
                "name",
                "function_call",
                "tool_calls",
                "tool_call_id",
                "weight",
            }
            if set(message) - allowed:
                errors["message_unrecognized_key"] += 1
            if message.get("role") not in (
                "system",
                "developer",
                "user",
                "assistant",
                "tool",
                "function",
            ):
                errors["unrecognized_role"] += 1
            content = message.get("content")
            calls = message.get("tool_calls") or message.get("function_call")
            # The cookbook flags every empty message; empty user and system messages are the
            # input's own (validate reports them), an empty assistant one would be ours.
            if message.get("role") == "assistant" and not content and not calls:
                errors["missing_content"] += 1
            if not isinstance(content, (str, list, type(None))):
                errors["missing_content"] += 1
            if "weight" in message and (
                message["role"] != "assistant" or message["weight"] not in (0, 1)
            ):
                errors["bad_weight"] += 1
            if message.get("role") == "tool" and not message.get("tool_call_id"):
                errors["tool_result_without_call_id"] += 1
        if not any(m.get("role") == "assistant" for m in messages):
            errors["example_missing_assistant_message"] += 1
        if set(row) - {"messages", "tools", "parallel_tool_calls"}:
            errors["unrecognized_record_key"] += 1
    return errors


def check_written(conversations: list[Conversation], spec: SplitSpec) -> int:
    """Split, write, parse and recount; returns the number of samples checked."""
    writer = get_writer(spec.output_format, **spec.writer_options)
    checked = 0
    for index, conversation in enumerate(conversations):
        result = split_conversation(conversation, spec, index=index)
        rows = [json.loads(line) for line in writer.lines(result)]
        assert len(rows) == len(result.samples)
        for row, sample in zip(rows, result.samples, strict=True):
            counted = count_row(
                row, spec.output_format, encoding_name=ENCODING, format_name=spec.chat_format.name
            )
            assert counted == sample.total_tokens, (row, sample)
            assert counted <= spec.budget.max_tokens
            checked += 1
        if spec.output_format == "openai":
            assert cookbook_errors(rows) == Counter(), rows
    return checked


@st.composite
def reasoning_conversations(draw: st.DrawFn) -> Conversation:
    """Rich conversations with reasoning on assistant messages and tool schemas in either
    input shape (bare functions, as ShareGPT files hold them, or OpenAI's wrapping)."""
    conv = draw(rich_conversations())
    messages = []
    for read in conv.messages:
        message = read
        if read.role == "assistant" and draw(st.booleans()):
            message = read.model_copy(update={"reasoning": draw(words)})
        messages.append(message.model_dump(exclude_none=True))
    tools = draw(st.sampled_from([None, [TOOL], [{"type": "function", "function": TOOL}]]))
    return Conversation(messages=messages, tools=tools)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("chat_format", CHAT_FORMATS)
@given(
    conversation=reasoning_conversations(),
    max_tokens=st.integers(40, 600),
    keep_reasoning=st.booleans(),
)
def test_generated_samples_count_what_is_written(
    output: str, chat_format: str, conversation: Conversation, max_tokens: int,
    keep_reasoning: bool,
) -> None:  # fmt: skip
    spec = SplitSpec(Budget(max_tokens), chat_format=chat_format, output_format=output,
                     keep_reasoning=keep_reasoning)  # fmt: skip
    check_written([conversation], spec)


@pytest.mark.parametrize(
    ("name", "chat_format", "output", "max_tokens"),
    cover(REAL_FILES, CHAT_FORMATS, OUTPUTS, alternate=[256, 1024]),
)
def test_real_files_count_what_is_written(
    name: str, chat_format: str, output: str, max_tokens: int
) -> None:
    """Every file in every chat format and output, at one of the two budgets in turn
    (``tests/covers.py``): each (file, chat format, output) runs, and each budget meets
    every pair of them, so every writer is checked with history dropped (256) and kept
    (1024) under every chat format and on every file."""
    records = list(read_records(data_file(name)))
    conversations = [r.conversation for r in records if r.conversation is not None]
    spec = SplitSpec(Budget(max_tokens), chat_format=chat_format, output_format=output)
    check_written(conversations, spec)  # with reasoning written, none may fit at 256


def test_reasoning_is_counted_where_written_and_keep_reasoning_shows() -> None:
    conversation = Conversation(messages=(
        Message(role="user", content="2+2?"),
        Message(role="assistant", content="4", reasoning="Two and two make four. " * 4),
        Message(role="user", content="And 3+3?"),
        Message(role="assistant", content="6", reasoning="Three and three."),
    ))  # fmt: skip
    totals = {}
    for output in ("openai", "trl"):
        for keep in (False, True):
            spec = SplitSpec(Budget(500), output_format=output, keep_reasoning=keep)
            result = split_conversation(conversation, spec)
            lines = list(get_writer(output).lines(result))[1]  # the second turn's sample
            totals[output, keep] = result.samples[1].total_tokens
            assert (b"Three and three." in lines) is (output == "trl")
            assert (b"Two and two" in lines) is (output == "trl" and keep)
            check_written([conversation], spec)
    assert totals["openai", False] == totals["openai", True] < totals["trl", False]
    assert totals["trl", False] < totals["trl", True]


def test_bare_tool_schemas_are_counted_and_written_wrapped() -> None:
    conversation = Conversation(
        messages=(
            Message(role="user", content="Weather?"),
            Message(role="assistant", content="Sunny."),
        ),
        tools=({"name": "get_weather", "parameters": {"type": "object"}},),
    )
    assert conversation.tools == (
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    )
    for output in OUTPUTS:
        check_written(
            [conversation], SplitSpec(Budget(300), chat_format="chatml", output_format=output)
        )
