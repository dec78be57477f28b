"""Named fields, extra columns, system and tools columns, LLaMA-Factory's tool roles in
``messages``: the shapes of issue 18 that people's data has, each read as the canonical
record it stands for, or refused with the option that would read it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from convsplit import Budget, SplitSpec
from convsplit.errors import InvalidConversationError, InvalidOptionError, UnknownNameError
from convsplit.formats import (
    Record,
    check_fields,
    metadata_lines,
    parse_record,
    read_records,
    rename_fields,
)
from convsplit.inspect.findings import FINDING_CODES, Severity
from convsplit.inspect.summaries import format_findings
from convsplit.inspect.validation import validate_records
from convsplit.messages import Conversation
from convsplit.run.records import RecordSplitter
from convsplit.samples import record_columns

CANONICAL = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ]
}


def read(record: object, **options: Any) -> Record:
    data = (json.dumps(record) + "\n").encode()
    (found,) = read_records(io.BytesIO(data), name="in.jsonl", **options)
    return found


def conversation(record: object, **options: Any) -> Conversation:
    found = read(record, **options)
    assert found.error is None, str(found.error)
    assert found.conversation is not None
    return found.conversation


def split_bytes(record: object, **options: Any) -> bytes:
    """What ``convsplit split`` writes for one record: the run's own unit of work."""
    splitter = RecordSplitter(SplitSpec(Budget(200), **options))
    result = splitter.split(splitter.parse(record), 0)
    return b"".join(splitter.writer.lines(result))


def turns(conv: Conversation) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in conv.messages]


# -- named fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "fields"),
    [
        pytest.param({"dialog": CANONICAL["messages"]}, {"messages": "dialog"}, id="dialog"),
        pytest.param(
            {"conversation": CANONICAL["messages"]}, {"messages": "conversation"}, id="conversation"
        ),
        pytest.param(
            {
                "turns": [
                    {"speaker": m["role"], "text": m["content"]} for m in CANONICAL["messages"]
                ]
            },
            {"messages": "turns", "role": "speaker", "content": "text"},
            id="speaker-text",
        ),
        pytest.param(
            {"system_prompt": "You are terse.", "messages": CANONICAL["messages"][1:]},
            {"system": "system_prompt"},
            id="system-column-named",
        ),
    ],
)
def test_named_fields_split_as_the_canonical_record(
    record: dict[str, Any], fields: dict[str, str]
) -> None:
    assert split_bytes(record, fields=fields) == split_bytes(CANONICAL)


def test_gemini_contents_with_parts_read_with_two_fields() -> None:
    record = {
        "contents": [
            {"role": "user", "parts": [{"text": "2+2?"}]},
            {"role": "model", "parts": [{"text": "4"}]},
        ]
    }
    conv = conversation(record, fields={"messages": "contents", "content": "parts"})
    assert turns(conv) == [("user", "2+2?"), ("assistant", "4")]


def test_messages_with_from_and_value_read_as_sharegpt_turns() -> None:
    record = {
        "messages": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}],
        "system": "You are terse.",
    }
    assert split_bytes(record) == split_bytes(CANONICAL)


def test_alpaca_system_prompt_column_with_a_field_name() -> None:
    record = {"instruction": "2+2?", "output": "4", "system_prompt": "You are terse."}
    assert split_bytes(record, fields={"system": "system_prompt"}) == split_bytes(CANONICAL)


def test_an_unreadable_list_names_the_field_that_would_read_it() -> None:
    found = read({"dialog": CANONICAL["messages"], "source": "web"})
    assert found.error is not None
    assert str(found.error).endswith(
        "'dialog' holds a list of messages: read it with fields={'messages': 'dialog'}"
    )
    assert found.error.hints[0].values == ("messages=dialog",)


def test_a_message_without_role_lists_its_keys_and_the_fields_that_read_them() -> None:
    found = read({"messages": [{"speaker": "user", "text": "Hi"}]})
    assert str(found.error) == (
        "in.jsonl line 1: message 0: field 'role' is required; it has the keys 'speaker', "
        "'text': read them with fields={'role': 'speaker'} and fields={'content': 'text'}"
    )


def test_the_command_line_words_the_hint_as_the_flag(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    said = [{"speaker": "user", "text": "Hi"}, {"speaker": "assistant", "text": "Hello"}]
    data.write_text(json.dumps({"dialog": said}) + "\n")
    out = tmp_path / "o.jsonl"
    command = [sys.executable, "-m", "convsplit", "split", str(data), "-o", str(out)]
    first = subprocess.run(command, capture_output=True, check=False)
    assert first.returncode == 3
    assert b"read it with --field messages=dialog" in first.stderr
    second = subprocess.run(
        [*command, "--field", "messages=dialog"], capture_output=True, check=False
    )
    assert b"read them with --field role=speaker and --field content=text" in second.stderr
    third = subprocess.run(
        [*command, "--field", "messages=dialog", "--field", "role=speaker", "--field",
         "content=text"],
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert third.returncode == 0, third.stderr
    assert json.loads(out.read_text()) == {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    }


def test_fields_are_checked_when_the_spec_is_made() -> None:
    with pytest.raises(UnknownNameError, match="unknown field 'turns'"):
        SplitSpec(fields={"turns": "dialog"})
    with pytest.raises(InvalidOptionError, match="key 'x' is given for both 'messages' and"):
        check_fields({"messages": "x", "system": "x"})
    with pytest.raises(InvalidOptionError, match="must be a non-empty key"):
        check_fields({"messages": ""})


def test_a_named_key_beside_the_canonical_one_is_refused_not_dropped() -> None:
    with pytest.raises(InvalidConversationError, match="the record also has 'messages'"):
        parse_record({"dialog": [], "messages": []}, fields={"messages": "dialog"})


def test_renaming_never_modifies_the_callers_record() -> None:
    record = {"dialog": [{"speaker": "user", "text": "Hi"}]}
    before = json.dumps(record)
    rename_fields(record, {"messages": "dialog", "role": "speaker", "content": "text"})
    assert json.dumps(record) == before


def test_validate_reads_the_named_fields() -> None:
    data = json.dumps({"dialog": CANONICAL["messages"]}).encode() + b"\n"
    spec = SplitSpec(fields={"messages": "dialog"})
    records = read_records(io.BytesIO(data), name="d.jsonl", fields=spec.fields)
    codes = {f.code for f in validate_records(records, spec)}
    assert codes == set()


# -- extra, system and tools columns ---------------------------------------------------------


def test_a_system_column_beside_messages_is_the_first_message() -> None:
    record = {"messages": CANONICAL["messages"][1:], "system": "You are terse."}
    assert split_bytes(record) == split_bytes(CANONICAL)
    for output in ("openai", "trl", "sharegpt"):
        assert b"You are terse." in split_bytes(record, output_format=output)


def test_a_system_column_equal_to_the_first_message_is_not_doubled() -> None:
    record = {**CANONICAL, "system": "You are terse."}
    assert turns(conversation(record))[:2] == [("system", "You are terse."), ("user", "2+2?")]


def test_validate_no_longer_calls_a_system_column_unknown() -> None:
    data = json.dumps({"messages": CANONICAL["messages"][1:], "system": "Be terse."}).encode()
    findings = list(validate_records(read_records(io.BytesIO(data + b"\n"), name="d.jsonl")))
    assert [f.code for f in findings] == []


TOOL = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    "record",
    [
        pytest.param({**CANONICAL, "tools": [TOOL]}, id="openai"),
        pytest.param({**CANONICAL, "tools": json.dumps([TOOL])}, id="openai-json-text"),
        pytest.param(
            {"instruction": "2+2?", "output": "4", "system": "You are terse.", "tools": [TOOL]},
            id="alpaca",
        ),
        pytest.param(
            {
                "question": "2+2?",
                "answer": "4",
                "system": "You are terse.",
                "tools": json.dumps([TOOL]),
            },
            id="question-answer",
        ),
    ],
)
def test_a_tools_column_is_read_for_every_format_that_can_have_it(record: dict[str, Any]) -> None:
    conv = conversation(record)
    assert conv.tools is not None
    assert conv.tools[0]["function"]["name"] == "add"
    assert split_bytes(record) == split_bytes({**CANONICAL, "tools": [TOOL]})


def test_extra_columns_of_a_pair_are_kept_as_metadata_not_trained() -> None:
    record = {"question": "2+2?", "answer": "4", "source": "faq/../../etc/passwd", "id": 7}
    conv = conversation(record)
    assert conv.id == "7"
    assert conv.model_extra == {"source": "faq/../../etc/passwd"}
    assert turns(conv) == [("user", "2+2?"), ("assistant", "4")]
    written = split_bytes(record, writer_options={"keep_extras": True})
    assert json.loads(written)["messages"][-1] == {"role": "assistant", "content": "4"}


# -- LLaMA-Factory's tool roles in messages --------------------------------------------------

LF_TOOLS = {
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Let me look."},
        {"role": "function_call", "content": json.dumps({"name": "weather", "arguments": {"city": "Paris"}})},
        {"role": "observation", "content": "Sunny"},
        {"role": "assistant", "content": "Sunny in Paris."},
    ]
}  # fmt: skip


def test_llamafactory_tool_roles_read_as_the_sharegpt_reader_reads_them() -> None:
    conv = conversation(LF_TOOLS)
    assert [m.role for m in conv.messages] == ["user", "assistant", "tool", "assistant"]
    call = conv.messages[1]
    assert call.content == "Let me look."  # the call joins the speaking turn before it
    assert call.tool_calls is not None
    assert call.tool_calls[0].function.arguments == '{"city": "Paris"}'
    sharegpt = {
        "conversations": [
            {"from": {"user": "human", "assistant": "gpt"}.get(m["role"], m["role"]),
             "value": m["content"]}
            for m in LF_TOOLS["messages"]
        ]
    }  # fmt: skip
    assert split_bytes(LF_TOOLS) == split_bytes(sharegpt)
    written = [json.loads(line) for line in split_bytes(LF_TOOLS).splitlines()]
    last = written[-1]["messages"]
    assert last[1]["tool_calls"][0]["id"] == last[2]["tool_call_id"]


def test_role_hints_never_suggest_training_user_text() -> None:
    found = read({"messages": [{"role": "User", "content": "Hi"}]})
    assert "role_map={'User': 'user'}" in str(found.error)
    assert "assistant" not in found.error.hints[0].values[0]
    found = read({"messages": [{"role": "narrator", "content": "Once"}]})
    assert "role_map={'narrator': 'user'} or {'narrator': 'assistant'}" in str(found.error)
    found = read({"messages": [{"role": "Bot", "content": "Hi"}]})
    assert "role_map={'Bot': 'assistant'}" in str(found.error)


# -- axolotl's training flags ----------------------------------------------------------------


def flagged(assistant: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": "2+2?", **(user or {})},
            {"role": "assistant", **assistant},
            {"role": "user", "content": "3+3?"},
            {"role": "assistant", "content": "6"},
        ]
    }


def part(text: str, **flags: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, **flags}


@pytest.mark.parametrize(
    ("assistant", "weight"),
    [
        pytest.param({"content": "4", "train": False}, 0, id="message-train-false"),
        pytest.param({"content": "4", "train": True}, 1, id="message-train-true"),
        pytest.param(
            {"content": [part("4", train=False), part("!", train=False)]}, 0, id="parts-off"
        ),
        pytest.param({"content": [part("4", train=True), part("!")]}, 1, id="parts-on"),
        pytest.param({"content": [part("4", weight=0)]}, 0, id="part-weight-0"),
    ],
)
def test_training_flags_are_honoured_and_not_written(
    assistant: dict[str, Any], weight: int
) -> None:
    conv = conversation(flagged(assistant))
    assert conv.messages[1].weight == weight
    written = split_bytes(flagged(assistant), writer_options={"keep_extras": True})
    assert b'"train"' not in written
    samples = [json.loads(line) for line in written.splitlines()]
    trained = [s["messages"][-1]["content"] for s in samples]
    assert ("6" in trained) and (len(trained) == 1 + weight)


def test_an_assistant_message_trained_in_part_is_refused_naming_the_parts() -> None:
    found = read(flagged({"content": [part("4"), part(" (a guess)", train=False)]}))
    assert str(found.error) == (
        "in.jsonl line 1: message 1: content part(s) 1 are marked untrained and the others "
        "trained; convsplit trains whole messages: split the message in two, or drop the "
        "part flags"
    )
    assert found.error is not None and found.error.field == "content.1.train"


def test_a_flag_that_is_not_a_boolean_is_an_error() -> None:
    found = read(flagged({"content": "4", "train": "no"}))
    assert str(found.error).endswith(
        "message 1: field 'train': expected true or false (or 0 or 1); got a string"
    )


def validate_codes(record: object) -> list[tuple[str, str]]:
    data = json.dumps(record).encode() + b"\n"
    return [
        (f.code, f.severity.value)
        for f in validate_records(read_records(io.BytesIO(data), name="d.jsonl"))
    ]


def test_train_true_on_a_user_message_is_a_validate_warning_and_not_written() -> None:
    record = flagged({"content": "4"}, user={"train": True})
    assert ("unhonoured_flag", "warning") in validate_codes(record)
    assert b'"train"' not in split_bytes(record, writer_options={"keep_extras": True})
    parts = flagged({"content": "4"}, user={"content": [part("2+2?", train=True)]})
    assert ("unhonoured_flag", "warning") in validate_codes(parts)
    sharegpt = {"conversations": [{"from": "human", "value": "Hi", "train": True},
                                  {"from": "gpt", "value": "Hello"}]}  # fmt: skip
    assert ("unhonoured_flag", "warning") in validate_codes(sharegpt)


def test_an_unhonoured_flag_is_a_known_finding_code_with_its_meaning() -> None:
    record = flagged({"content": "4"}, user={"train": True})
    data = json.dumps(record).encode() + b"\n"
    findings = validate_records(read_records(io.BytesIO(data), name="d.jsonl"))
    text, clean = format_findings(findings)
    assert FINDING_CODES["unhonoured_flag"][0] is Severity.WARNING
    assert "warning unhonoured_flag: a training flag (axolotl's train, weight) read but not " \
        "honoured as written (1)" in text  # fmt: skip
    assert not clean


def test_flags_convsplit_honours_raise_no_finding() -> None:
    assert validate_codes(flagged({"content": "4", "train": False}, user={"train": False})) == [
        ("no_system_message", "info")
    ]


def test_two_text_fields_no_reader_knows_name_the_fields_that_read_them_as_a_pair() -> None:
    found = read({"q": "2+2?", "a": "4"})
    assert str(found.error).endswith(
        "for a prompt and its answer: fields={'prompt': 'q'} and fields={'completion': 'a'}"
    )
    pair = {"q": "2+2?", "a": "4"}
    assert turns(conversation(pair, fields={"prompt": "q", "completion": "a"})) == [
        ("user", "2+2?"),
        ("assistant", "4"),
    ]


# -- Gemini's tuning format, detected ---------------------------------------------------------


def test_gemini_records_are_detected_and_split_as_their_openai_form() -> None:
    gemini = {
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "tools": [{"functionDeclarations": [{"name": "weather", "parameters": {"type": "object"}}]}],
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in "}, {"text": "Paris?"}]},
            {"role": "model", "parts": [{"text": "Checking.", "thought": True},
                                        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "weather",
                                                             "response": {"sky": "clear"}}}]},
            {"role": "model", "parts": [{"text": "Clear."}]},
        ],
        "source": "vertex",
    }  # fmt: skip
    canonical = {
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "reasoning": "Checking.", "tool_calls": [
                {"type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "name": "weather", "content": '{"sky": "clear"}'},
            {"role": "assistant", "content": "Clear."},
        ],
    }  # fmt: skip
    conv = conversation(gemini)
    assert conv.model_extra == {"source": "vertex"}
    for output in ("openai", "trl", "sharegpt"):
        assert split_bytes(gemini, output_format=output) == split_bytes(
            canonical, output_format=output
        )


def test_a_gemini_part_convsplit_cannot_count_is_refused_naming_it() -> None:
    image = {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}
    found = read({"contents": [{"role": "user", "parts": [{"text": "What is it?"}, image]},
                               {"role": "model", "parts": [{"text": "A cat."}]}]})  # fmt: skip
    assert str(found.error) == (
        "in.jsonl line 1: message 0: part 1: expected a text, functionCall or functionResponse "
        "part; got 'inlineData'"
    )


def test_validate_notes_the_columns_of_a_pair_no_output_writes() -> None:
    record = {"question": "2+2?", "answer": "4", "source": "faq", "id": 3, "system": "Be terse."}
    data = json.dumps(record).encode() + b"\n"
    findings = list(validate_records(read_records(io.BytesIO(data), name="d.jsonl")))
    assert [(f.code, f.severity.value, f.field) for f in findings] == [
        ("unknown_key", "info", "source")
    ]


# -- extra columns carried where the output has a place ----------------------------------------

COLUMNS = {"source": "faq/../../etc/passwd", "category": "math", "metadata": {"rank": 2}}
WITH_COLUMNS = [
    pytest.param({**CANONICAL, **COLUMNS}, id="openai"),
    pytest.param({"conversations": [{"from": "system", "value": "You are terse."},
                                    {"from": "human", "value": "2+2?"},
                                    {"from": "gpt", "value": "4"}], **COLUMNS}, id="sharegpt"),
    pytest.param({"question": "2+2?", "answer": "4", "system": "You are terse.", **COLUMNS},
                 id="pairs"),
]  # fmt: skip


def rows(record: object, output_format: str, **writer_options: Any) -> list[dict[str, Any]]:
    data = split_bytes(record, output_format=output_format, writer_options=writer_options)
    return [json.loads(line) for line in data.splitlines()]


@pytest.mark.parametrize("record", WITH_COLUMNS)
def test_extra_columns_are_written_where_the_output_has_a_place(record: dict[str, Any]) -> None:
    (row,) = rows(record, "openai", metadata="inline")
    assert row["metadata"]["columns"] == COLUMNS
    (row,) = rows(record, "sharegpt", keep_fields=True)
    assert {k: row[k] for k in COLUMNS} == COLUMNS and set(row) == {"conversations", *COLUMNS}
    (row,) = rows(record, "trl", keep_columns=True)
    assert row["metadata"] == COLUMNS
    canonical = {k: v for k, v in record.items() if k not in COLUMNS}
    for output in ("openai", "sharegpt", "trl", "text", "prompt_completion"):
        # By default no output writes them: the rows are the canonical record's.
        assert split_bytes(record, output_format=output) == split_bytes(
            canonical, output_format=output
        )


def test_a_record_without_columns_writes_no_columns() -> None:
    (row,) = rows(CANONICAL, "openai", metadata="inline")
    assert "columns" not in row["metadata"]
    (row,) = rows(CANONICAL, "trl", keep_columns=True)
    assert "metadata" not in row


def test_sharegpt_keep_fields_round_trips_the_columns() -> None:
    record = {**CANONICAL, **COLUMNS}
    written = split_bytes(record, output_format="sharegpt", writer_options={"keep_fields": True})
    again = split_bytes(json.loads(written), output_format="sharegpt",
                        writer_options={"keep_fields": True})  # fmt: skip
    assert again == written
    assert record_columns(conversation(json.loads(written))) == COLUMNS


def test_the_metadata_sidecar_carries_the_columns() -> None:
    splitter = RecordSplitter(SplitSpec(Budget(200)))
    result = splitter.split(splitter.parse({**CANONICAL, **COLUMNS}), 0)
    (line,) = metadata_lines(result)
    assert json.loads(line)["columns"] == COLUMNS


# -- axolotl's train_detail ------------------------------------------------------------------


def detail(*ranges: tuple[int, int, bool]) -> list[dict[str, Any]]:
    return [{"begin_offset": b, "end_offset": e, "train": t} for b, e, t in ranges]


@pytest.mark.parametrize(
    ("assistant", "weight"),
    [
        pytest.param({"content": "It is 4", "train_detail": detail((0, 6, True))}, 1, id="all"),
        pytest.param(
            {"content": "It is 4", "train_detail": detail((0, 2, True), (3, 6, True))},
            1,
            id="all-in-two",
        ),
        pytest.param({"content": "It is 4", "train_detail": detail((0, 6, False))}, 0, id="none"),
        pytest.param({"content": "It is 4", "train_detail": []}, 0, id="empty-list"),
        pytest.param(
            {"content": "It is 4", "train_detail": detail((0, 99, True))}, 1, id="past-the-end"
        ),
        pytest.param(
            {"content": [part("It "), part("is 4")], "train_detail": detail((0, 6, True))},
            1,
            id="parts",
        ),
        pytest.param(
            {"content": "It is 4", "train": False, "train_detail": detail((0, 6, True))},
            0,
            id="train-false-wins",
        ),
    ],
)
def test_train_detail_covering_all_or_nothing_is_honoured_and_not_written(
    assistant: dict[str, Any], weight: int
) -> None:
    assert conversation(flagged(assistant)).messages[1].weight == weight
    written = split_bytes(flagged(assistant), writer_options={"keep_extras": True})
    assert b"train_detail" not in written and b"begin_offset" not in written
    trained = [json.loads(line)["messages"][-1]["content"] for line in written.splitlines()]
    assert len(trained) == 1 + weight
    expected = {**flagged(assistant)}
    canonical = {k: v for k, v in assistant.items() if k not in ("train_detail", "train")}
    expected["messages"][1] = {"role": "assistant", **canonical, "weight": weight}
    assert written == split_bytes(expected)
    assert ("unknown_key", "warning") not in validate_codes(flagged(assistant))


def test_train_detail_training_part_of_a_message_refuses_the_record_naming_it() -> None:
    record = flagged({"content": "It is 4", "train_detail": detail((0, 6, False), (6, 6, True))})
    found = read(record)
    assert str(found.error) == (
        "in.jsonl line 1: message 1: field 'train_detail': trains characters 6-6 of the "
        "message's 7 and not the rest; convsplit trains whole messages: split the message in "
        "two, or train all of it or none"
    )
    assert found.error is not None and found.error.field == "train_detail"
    holes = read(
        flagged({"content": "It is 4", "train_detail": detail((0, 1, True), (4, 6, True))})
    )
    assert "trains characters 0-1, 4-6 of the message's 7" in str(holes.error)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            "all", "field 'train_detail': expected a list of ranges; got a string", id="not-a-list"
        ),
        pytest.param(
            [3],
            "range 0: expected an object with begin_offset, end_offset and train; got a number",
            id="not-an-object",
        ),
        pytest.param(
            [{"begin_offset": -1, "end_offset": 2, "train": True}],
            "range 0: begin_offset must be a whole number >= 0; got a number",
            id="negative",
        ),
        pytest.param(
            [{"begin_offset": 0, "end_offset": 2}],
            "range 0: field 'train': expected true or false (or 0 or 1); got null",
            id="no-train",
        ),
    ],
)
def test_a_malformed_train_detail_is_an_error_naming_the_range(value: object, message: str) -> None:
    found = read(flagged({"content": "It is 4", "train_detail": value}))
    assert str(found.error).endswith(message)


def test_a_trained_range_on_a_user_message_is_a_validate_warning() -> None:
    record = flagged({"content": "4"}, user={"train_detail": detail((0, 3, True))})
    assert ("unhonoured_flag", "warning") in validate_codes(record)
    assert b"train_detail" not in split_bytes(record, writer_options={"keep_extras": True})
    untrained = flagged({"content": "4"}, user={"train_detail": detail((0, 3, False))})
    assert validate_codes(untrained) == [("no_system_message", "info")]
