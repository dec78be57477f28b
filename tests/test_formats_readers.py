"""Readers: every documented field of every input format, errors that name file, line and
field, auto-detection, and the real files read with zero errors."""

from __future__ import annotations

import copy
import io
import json
from collections import Counter
from typing import Any

import pytest

from convsplit import ContentPart, Message, UnknownNameError
from convsplit.formats import (
    Record,
    detect_format,
    get_reader,
    read_openai,
    read_pairs,
    read_records,
    read_sharegpt,
    reader_names,
)
from tests.format_strategies import data_file, tool_call


def read_one(line: dict[str, Any] | str, **options: Any) -> Record:
    data = line if isinstance(line, str) else json.dumps(line)
    (record,) = read_records(io.BytesIO(data.encode() + b"\n"), name="in.jsonl", **options)
    return record


def error_text(line: dict[str, Any] | str, **options: Any) -> str:
    record = read_one(line, **options)
    assert record.conversation is None and record.error is not None
    return str(record.error)


# -- OpenAI ----------------------------------------------------------------------------------


def test_openai_every_documented_field() -> None:
    record = {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "What's this?"},
                                         {"type": "image_url", "image_url": {"url": "x.png"}}],
             "name": "ann"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "look", "arguments": "{\"q\": 1}"}}], "weight": 1},
            {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
            {"role": "assistant", "content": "A cat.", "weight": 0, "refusal": None},
        ],
        "tools": [{"type": "function", "function": {"name": "look"}}],
        "parallel_tool_calls": False,
    }  # fmt: skip
    original = copy.deepcopy(record)
    conv = read_openai(record)
    assert record == original  # the caller's data is never changed
    m = conv.messages
    assert [x.role for x in m] == ["developer", "user", "assistant", "tool", "assistant"]
    assert m[1].name == "ann"
    assert m[1].content == (
        ContentPart(type="text", text="What's this?"),
        ContentPart.model_validate({"type": "image_url", "image_url": {"url": "x.png"}}),
    )
    assert m[2].tool_calls == (tool_call("look", '{"q": 1}', "c1"),)
    assert (m[2].weight, m[4].weight) == (1, 0)
    assert m[3].tool_call_id == "c1"
    assert m[4].model_extra == {"refusal": None}
    assert conv.tools == ({"type": "function", "function": {"name": "look"}},)
    assert conv.model_extra == {"parallel_tool_calls": False}


def test_openai_legacy_function_calling_becomes_tool_calls() -> None:
    conv = read_openai(
        {
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None,
                 "function_call": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}},
                {"role": "function", "name": "weather", "content": "Rain"},
                {"role": "assistant", "content": "Rain.", "weight": 1.0},
            ],
            "functions": [{"name": "weather", "parameters": {"type": "object"}}],
        }
    )  # fmt: skip
    m = conv.messages
    assert m[1].tool_calls == (tool_call("weather", '{"city": "Oslo"}'),)
    assert "function_call" not in (m[1].model_extra or {})
    assert (m[2].role, m[2].name, m[2].content) == ("tool", "weather", "Rain")
    assert m[3].weight == 1
    assert conv.tools == (
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}},
    )


def test_openai_tool_call_arguments_given_as_an_object_become_the_json_string() -> None:
    conv = read_openai({"messages": [{"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"a": [1, "é"]}}}]}]})  # fmt: skip
    assert conv.messages[0].tool_calls == (tool_call("f", '{"a": [1, "é"]}'),)


def test_llamafactory_v1_content_parts() -> None:
    conv = read_openai(
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "value": "Area of r=2?"}]},
                {"role": "assistant", "content": [
                    {"type": "reasoning", "value": "Use pi r^2."},
                    {"type": "tool_call", "value": '{"name": "area", "arguments": {"r": 2}}'},
                    {"type": "tool_call", "value": '{"name": "area", "arguments": {"r": 3}}'}],
                 "loss_weight": 1.0},
                {"role": "tool", "content": [{"type": "text", "value": "12.57"},
                                             {"type": "text", "value": "28.27"}]},
            ],
            "tools": '[{"type": "function", "function": {"name": "area"}}]',
        }
    )  # fmt: skip
    user, assistant, tool = conv.messages
    assert user.content == "Area of r=2?"
    assert assistant.content is None
    assert assistant.reasoning == "Use pi r^2."
    assert assistant.tool_calls == (
        tool_call("area", '{"r": 2}'),
        tool_call("area", '{"r": 3}'),
    )
    assert assistant.weight == 1 and not assistant.model_extra
    assert tool.content == (
        ContentPart(type="text", text="12.57"),
        ContentPart(type="text", text="28.27"),
    )
    assert conv.tools == ({"type": "function", "function": {"name": "area"}},)


def test_reasoning_content_is_reasoning() -> None:
    conv = read_openai(
        {"messages": [{"role": "assistant", "content": "4", "reasoning_content": "2+2"}]}
    )
    assert conv.messages[0].reasoning == "2+2"
    assert not conv.messages[0].model_extra


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            {"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "yo"}]},
            "in.jsonl line 1: message 1: field 'role': expected one of system, developer, user, "
            "assistant, tool; got 'bot' (map it: role_map={'bot': 'assistant'})",
            id="unknown-role",
        ),
        pytest.param(
            {"messages": [{"content": "hi"}]},
            "in.jsonl line 1: message 0: field 'role' is required",
            id="no-role",
        ),
        pytest.param(
            {"messages": "hi"},
            "in.jsonl line 1: field 'messages': expected a list of messages; got a string",
            id="messages-not-list",
        ),
        pytest.param(
            {"messages": ["hi"]},
            "in.jsonl line 1: message 0: expected an object with 'role' and 'content'; got a "
            "string",
            id="message-not-object",
        ),
        pytest.param(
            {"messages": [{"role": "user", "content": 3}]},
            "in.jsonl line 1: message 0: field 'content': expected a string, a list of content "
            "parts or null; got 3",
            id="content-type",
        ),
        pytest.param(
            {
                "messages": [
                    {"role": "assistant", "content": [{"type": "tool_call", "value": "{not json"}]}
                ]
            },
            "in.jsonl line 1: message 0: content part 0: the tool call is not valid JSON "
            "(unexpected character, expected a string key); got '{not json'",
            id="v1-bad-tool-call",
        ),
        pytest.param(
            {"messages": [], "tools": "[oops"},
            "in.jsonl line 1: field 'tools': not valid JSON (unexpected character, expected a "
            "JSON value)",
            id="tools-string",
        ),
        pytest.param(
            '"hello"',
            "in.jsonl line 1: expected a JSON object (a conversation); got a string",
            id="not-an-object",
        ),
        pytest.param(
            '{"messages": [',
            "in.jsonl line 1: invalid JSON: unexpected end of data (line 1, column 15)",
            id="invalid-json",
        ),
    ],
)
def test_openai_errors_name_file_line_and_field(line: dict[str, Any] | str, expected: str) -> None:
    assert error_text(line) == expected


def test_errors_carry_path_line_and_field_attributes() -> None:
    data = b'{"messages": []}\n\n{"messages": [{"role": "bot"}]}\n'
    records = list(read_records(io.BytesIO(data), name="d.jsonl"))
    assert [r.lineno for r in records] == [1, 3]
    error = records[1].error
    assert error is not None
    assert (error.path, error.lineno, error.field) == ("d.jsonl", 3, "role")
    assert records[1].raw == '{"messages": [{"role": "bot"}]}'


def test_role_map_applies_to_openai_messages() -> None:
    record = read_one(
        {"messages": [{"role": "human", "content": "hi"}, {"role": "bot", "content": "yo"}]},
        role_map={"human": "user", "bot": "assistant"},
    )
    assert record.conversation is not None
    assert [m.role for m in record.conversation.messages] == ["user", "assistant"]


def test_role_map_renames_our_own_role_names_too() -> None:
    """A message already in the plain shape is still read through the role map (the plain
    shape is taken as it stands only when the map leaves its role alone)."""
    record = read_one(
        {"messages": [{"role": "system", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
        role_map={"system": "user"},
    )
    assert record.conversation is not None
    assert [m.role for m in record.conversation.messages] == ["user", "assistant"]


def test_role_map_values_must_be_roles() -> None:
    with pytest.raises(UnknownNameError, match="unknown role 'asistant'; expected one of"):
        list(read_records(io.BytesIO(b""), role_map={"bot": "asistant"}))


# -- ShareGPT --------------------------------------------------------------------------------


def test_sharegpt_fastchat_and_llamafactory_turns() -> None:
    conv = read_sharegpt(
        {
            "id": 7,
            "system": "Be kind.",
            "conversations": [
                {"from": "human", "value": "Sum 1 and 2, and 3 and 4."},
                {"from": "function_call", "value": json.dumps(
                    [{"name": "add", "arguments": {"a": 1, "b": 2}},
                     {"name": "add", "arguments": {"a": 3, "b": 4}}])},
                {"from": "observation", "value": "[3, 7]"},
                {"from": "gpt", "value": "3 and 7."},
            ],
            "tools": json.dumps([{"name": "add", "parameters": {"type": "object"}}]),
            "source": "test",
        }
    )  # fmt: skip
    assert conv.id == "7"
    assert [(m.role, m.content) for m in conv.messages] == [
        ("system", "Be kind."),
        ("user", "Sum 1 and 2, and 3 and 4."),
        ("assistant", None),
        ("tool", "[3, 7]"),
        ("assistant", "3 and 7."),
    ]
    assert conv.messages[2].tool_calls == (
        tool_call("add", '{"a": 1, "b": 2}'),
        tool_call("add", '{"a": 3, "b": 4}'),
    )
    # Bare functions are read into OpenAI's shape, the one counted and written.
    assert conv.tools == (
        {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}},
    )
    assert conv.model_extra == {"source": "test"}


def test_sharegpt_role_map_case_role_content_keys_and_train_flags() -> None:
    conv = read_sharegpt(
        {"conversations": [
            {"role": "Human", "content": "hi"},
            {"from": "bot", "value": "hello", "train": False},
            {"from": "user", "value": "again"},
            {"from": "bot", "value": "hello!", "train": True, "note": 1},
        ]},
        role_map={"bot": "assistant"},
    )  # fmt: skip
    assert [(m.role, m.content, m.weight) for m in conv.messages] == [
        ("user", "hi", None),
        ("assistant", "hello", 0),
        ("user", "again", None),
        ("assistant", "hello!", 1),
    ]
    assert conv.messages[3].model_extra == {"note": 1}


def test_sharegpt_text_then_call_turn_is_one_assistant_message() -> None:
    conv = read_sharegpt({"conversations": [
        {"from": "human", "value": "Weather?"},
        {"from": "gpt", "value": "Let me check."},
        {"from": "function_call", "value": '{"name": "w", "arguments": {}}'},
    ]})  # fmt: skip
    assert len(conv.messages) == 2
    assert conv.messages[1].content == "Let me check."
    assert conv.messages[1].tool_calls == (tool_call("w", "{}"),)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            {"conversations": [{"from": "bot", "value": "hi"}]},
            "in.jsonl line 1: message 0: field 'from': expected one of human, user, gpt, "
            "assistant, chatgpt, model, system, developer, function_call, observation, tool, "
            "function; got 'bot' (map it: role_map={'bot': 'assistant'})",
            id="unknown-from",
        ),
        pytest.param(
            {"conversations": [{"from": "human"}]},
            "in.jsonl line 1: message 0: field 'value' is required",
            id="no-value",
        ),
        pytest.param(
            {"conversations": [{"from": "function_call", "value": "call it"}]},
            "in.jsonl line 1: message 0: field 'value': the tool call is not valid JSON "
            "(unexpected character, expected a JSON value); got 'call it'",
            id="bad-function-call",
        ),
        pytest.param(
            {"conversations": [{"from": "gpt", "value": "x", "train": "yes"}]},
            "in.jsonl line 1: message 0: field 'train': expected true or false; got a string",
            id="bad-train",
        ),
        pytest.param(
            {"conversations": {"from": "gpt"}},
            "in.jsonl line 1: field 'conversations': expected a list of turns; got an object",
            id="not-a-list",
        ),
    ],
)
def test_sharegpt_errors(line: dict[str, Any], expected: str) -> None:
    assert error_text(line) == expected


# -- pairs -----------------------------------------------------------------------------------


def test_legacy_prompt_completion_keeps_the_text_exactly() -> None:
    conv = read_pairs({"prompt": "Q?\n\n###\n\n", "completion": " A. END", "id": 3})
    assert [(m.role, m.content) for m in conv.messages] == [
        ("user", "Q?\n\n###\n\n"),
        ("assistant", " A. END"),
    ]
    assert conv.id == "3"


def test_alpaca_with_system_and_history() -> None:
    conv = read_pairs({"instruction": "Add", "input": "2 3", "output": "5", "system": "Math.",
                       "history": [["Add 1 1", "2"]], "category": "math"})  # fmt: skip
    assert [(m.role, m.content) for m in conv.messages] == [
        ("system", "Math."),
        ("user", "Add 1 1"),
        ("assistant", "2"),
        ("user", "Add\n2 3"),
        ("assistant", "5"),
    ]
    assert conv.model_extra == {"category": "math"}


def test_dictionary_pairs_default_names_and_role_map() -> None:
    conv = read_pairs({"question": "Why?", "answer": "Because.", "id": "q1"})
    assert [m.content for m in conv.messages] == ["Why?", "Because."]
    record = read_one({"asker": "Hi", "agent": "Hello"}, role_map={"asker": "user"})
    assert record.conversation is not None
    assert [(m.role, m.content) for m in record.conversation.messages] == [
        ("user", "Hi"),
        ("assistant", "Hello"),
    ]


def test_trl_prompt_completion_marks_prompt_assistants_untrained() -> None:
    conv = read_pairs(
        {
            "prompt": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Bye"},
            ],
            "completion": [{"role": "assistant", "content": "Bye!"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        }
    )
    assert [(m.role, m.weight) for m in conv.messages] == [
        ("user", None),
        ("assistant", 0),
        ("user", None),
        ("assistant", None),
    ]
    assert conv.tools == ({"type": "function", "function": {"name": "f"}},)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            {"prompt": "Hi", "completion": [{"role": "assistant", "content": "x"}]},
            "in.jsonl line 1: fields 'prompt' and 'completion': expected two strings (legacy "
            "completions) or two lists of messages (TRL); got a string and a list",
            id="mixed",
        ),
        pytest.param(
            {"prompt": [{"role": "user", "content": "x"}], "completion": [{"role": "robot"}]},
            "in.jsonl line 1: completion message 0: field 'role': expected one of system, "
            "developer, user, assistant, tool; got 'robot' (map it: role_map={'robot': "
            "'assistant'})",
            id="trl-bad-role",
        ),
        pytest.param(
            {"instruction": "x", "output": 5},
            "in.jsonl line 1: field 'output': expected a string; got a number",
            id="alpaca-output",
        ),
    ],
)
def test_pairs_errors(line: dict[str, Any], expected: str) -> None:
    assert error_text(line) == expected


# -- detection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"messages": []}, "openai"),
        ({"prompt": [], "completion": []}, "pairs"),
        ({"conversations": []}, "sharegpt"),
        ({"prompt": "a", "completion": "b"}, "pairs"),
        ({"instruction": "a", "output": "b"}, "pairs"),
        ({"user": "a", "assistant": "b"}, "pairs"),
        ({"human": "a", "gpt": "b", "id": 1}, "pairs"),
    ],
)
def test_detect_format(record: dict[str, Any], expected: str) -> None:
    assert detect_format(record) == expected


def test_a_record_of_no_known_shape_is_rejected_with_the_shapes_that_would_do() -> None:
    text = error_text({"text": "hello", "label": 1})
    assert text.startswith("in.jsonl line 1: cannot tell the format from the keys 'text', 'label'")
    assert "choose one with input_format=..." in text


def test_a_pair_with_extra_columns_reads_and_keeps_them() -> None:
    record = read_one({"question": "a", "answer": "b", "source": "faq", "score": 3})
    assert record.conversation is not None
    assert [(m.role, m.content) for m in record.conversation.messages] == [
        ("user", "a"),
        ("assistant", "b"),
    ]
    assert record.conversation.model_extra == {"source": "faq", "score": 3}


def test_fields_that_do_not_hold_text_do_not_make_a_pair() -> None:
    assert error_text({"user": {"a": 1}, "assistant": "b"}).startswith(
        "in.jsonl line 1: cannot tell the format"
    )


def test_mixed_formats_in_one_file_are_read_per_record() -> None:
    lines = [
        {"messages": [{"role": "user", "content": "a"}]},
        {"conversations": [{"from": "human", "value": "b"}]},
        {"prompt": "c", "completion": "d"},
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    records = list(read_records(io.BytesIO(data)))
    assert [r.conversation.messages[0].content for r in records if r.conversation] == [
        "a",
        "b",
        "c",
    ]


def test_a_chosen_format_is_used_for_every_record() -> None:
    assert error_text({"prompt": "c", "completion": "d"}, input_format="openai") == (
        "in.jsonl line 1: field 'messages' is required"
    )
    with pytest.raises(UnknownNameError, match="unknown input format 'csv'; expected one of auto,"):
        list(read_records(io.BytesIO(b""), input_format="csv"))
    assert reader_names() == ("auto", "gemini", "kto", "openai", "pairs", "preference", "sharegpt")
    assert get_reader("sharegpt") is read_sharegpt


# -- the real files --------------------------------------------------------------------------


def read_all(name: str) -> list[Record]:
    records = list(read_records(data_file(name)))
    assert [str(r.error) for r in records if r.error] == []
    return records


def role_counts(records: list[Record]) -> Counter[str]:
    return Counter(m.role for r in records if r.conversation for m in r.conversation.messages)


def test_fastchat_file_reads_with_zero_errors() -> None:
    records = read_all("fastchat_dummy_conversation.json")
    assert len(records) == 500
    assert role_counts(records) == Counter(user=1000, assistant=1000)
    assert records[0].conversation is not None
    assert records[0].conversation.id == "identity_0"
    assert records[0].conversation.messages[0] == Message(role="user", content="Who are you?")


def test_glaive_file_reads_with_zero_errors_and_calls_intact() -> None:
    name = "llamafactory_glaive_toolcall_en_demo.json"
    records = read_all(name)
    raw = json.loads(data_file(name).read_text(encoding="utf-8"))
    assert len(records) == 300
    assert role_counts(records) == Counter(user=746, assistant=957, tool=211)
    for record, source in zip(records, raw, strict=True):
        conv = record.conversation
        assert conv is not None
        assert len(conv.messages) == len(source["conversations"])
        assert list(conv.tools or ()) == [
            {"type": "function", "function": tool} for tool in json.loads(source["tools"] or "[]")
        ]
        for message, turn in zip(conv.messages, source["conversations"], strict=True):
            if turn["from"] == "function_call":
                (call,) = message.tool_calls or ()
                value = json.loads(turn["value"])
                assert call.function.name == value["name"]
                assert json.loads(call.function.arguments) == value["arguments"]
            else:
                assert message.content == turn["value"]


def test_reasoning_tool_use_file_reads_with_zero_errors() -> None:
    records = read_all("llamafactory_reason_tool_use_demo_50.jsonl")
    assert len(records) == 50
    assert role_counts(records) == Counter(assistant=112, user=70, system=50, tool=42)
    messages = [m for r in records if r.conversation for m in r.conversation.messages]
    assistants = [m for m in messages if m.role == "assistant"]
    assert sum(m.reasoning is not None for m in assistants) == 112
    assert sum(len(m.tool_calls or ()) for m in assistants) == 68
    assert all(isinstance(m.content, str) for m in messages if m.role != "assistant")


def test_cookbook_toy_file_reads_with_zero_errors() -> None:
    records = read_all("openai_cookbook_toy_chat_fine_tuning.jsonl")
    assert [len(r.conversation.messages) for r in records if r.conversation] == [3, 9, 2, 2, 3]


def test_formats_all_is_sorted_and_complete() -> None:
    from convsplit import formats

    assert formats.__all__ == sorted(formats.__all__)
    assert all(hasattr(formats, name) for name in formats.__all__)


def test_sharegpt_round_trip_keeps_a_speaking_and_a_calling_message_apart() -> None:
    from convsplit import Budget, Conversation, SplitSpec, split_conversation
    from convsplit.formats import ShareGPTWriter
    from convsplit.messages import FunctionCall, Message, ToolCall

    call = (ToolCall(function=FunctionCall(name="f", arguments="{}")),)
    user = Message(role="user", content="Hi")
    result = Message(role="tool", content="ok")
    apart = (user, Message(role="assistant", content="Let me see."),
             Message(role="assistant", tool_calls=call), result)  # fmt: skip
    joined = (user, Message(role="assistant", content="Let me see.", tool_calls=call), result)
    for messages in (apart, joined):
        conv = Conversation(messages=(*messages, Message(role="assistant", content="Done.")))
        lines = list(ShareGPTWriter().lines(split_conversation(conv, SplitSpec(Budget(500)))))
        back = read_sharegpt(json.loads(lines[-1]))
        assert [(m.role, m.text, bool(m.tool_calls)) for m in back.messages] == [
            (m.role, m.text, bool(m.tool_calls)) for m in conv.messages
        ]
