"""Reading robustness: one depth limit every stage handles, one record size, containers told
by name, broken records rejected with the scan going on, exact record bytes, checked limits,
and Conversations that every writer can write."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import (
    Budget,
    Conversation,
    InvalidConversationError,
    Message,
    SplitSpec,
    read_records,
    split_files,
)
from convsplit.errors import InvalidOptionError
from convsplit.formats import Source
from convsplit.formats.containers import iter_raw_records
from convsplit.formats.json_text import JSONTooDeepError, parse_json
from convsplit.formats.preference import sft_writer_names
from convsplit.messages import MAX_JSON_DEPTH, FunctionCall, ToolCall
from tests.test_cli import run

USER = {"role": "user", "content": "Hi"}
REPLY = {"role": "assistant", "content": "Hello"}
GOOD = {"messages": [USER, REPLY]}


def nest(levels: int) -> object:
    """A JSON value ``levels`` containers deep."""
    value: object = 1
    for _ in range(levels):
        value = {"k": value}
    return value


def deep_records(over: int) -> list[dict[str, object]]:
    """Records whose deepest part sits at ``MAX_JSON_DEPTH + over`` levels, one per place a
    deep value can hide: metadata, an extra key, tool parameters, tool-call arguments (as
    an object and as a JSON string)."""
    limit = MAX_JSON_DEPTH + over
    call = {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}
    answer = [{"role": "tool", "content": "1"}, {"role": "assistant", "content": "Done"}]

    def arguments(value: object) -> dict[str, object]:
        function = {"name": "f", "arguments": value}
        return {"messages": [USER, {**call, "tool_calls": [{"function": function}]}, *answer]}

    tool = {"type": "function", "function": {"name": "f", "parameters": nest(limit - 4)}}
    return [
        {"messages": [USER, REPLY], "metadata": nest(limit - 1)},
        {"messages": [USER, {**REPLY, "extra": nest(limit - 3)}]},
        {"messages": [USER, REPLY], "tools": [tool]},
        arguments(nest(limit - 6)),  # record: 1, messages 2, message 3, calls 4, call 5, fn 6
        arguments(json.dumps(nest(limit - 6))),  # parsed back by writers at level 7
    ]


def write_jsonl(path: Path, records: list[object], *, ending: str = "\n") -> Path:
    path.write_bytes("".join(json.dumps(r) + ending for r in records).encode())
    return path


def raw(data: bytes, name: str = "x", **options: object) -> list[tuple[int, bytes, str | None]]:
    with Source.open(io.BytesIO(data), name=name) as source:
        return [(r.lineno, r.text, r.error) for r in source.records(**options)]  # type: ignore[arg-type]


# -- 1. one depth limit ----------------------------------------------------------------------


def test_parse_json_reads_the_limit_and_refuses_one_level_more() -> None:
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(JSONTooDeepError) as caught:
        parse_json(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert (caught.value.lineno, caught.value.colno) == (1, MAX_JSON_DEPTH + 1)
    with pytest.raises(JSONTooDeepError):  # past orjson's own 1,024: the same error
        parse_json("[" * 2000 + "]" * 2000)


@pytest.mark.parametrize("writer", sft_writer_names())
def test_records_at_the_depth_limit_go_through_every_writer_and_one_more_is_rejected(
    tmp_path: Path, writer: str
) -> None:
    records: list[object] = [GOOD]
    for at, over in zip(deep_records(0), deep_records(1), strict=True):
        records += [at, over]
    source = write_jsonl(tmp_path / "deep.jsonl", records)
    options = SplitSpec(
        budget=Budget(5000),
        output_format=writer,
        # Token ids need a chat format that renders; the others write openai's counts.
        chat_format="plain" if writer == "tokens" else None,
        writer_options={"keep_extras": True} if writer == "openai" else {},
    )
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    report = split_files([source], out, options, rejects=rejects)
    assert (report.records, report.rejected) == (11, 5)
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in rejected] == [3, 5, 7, 9, 11]
    assert all(f"deeper than {MAX_JSON_DEPTH} levels" in r["reason"] for r in rejected)
    lines = source.read_bytes().splitlines()
    assert [r["record"].encode() for r in rejected] == [lines[k - 1] for k in (3, 5, 7, 9, 11)]
    # What was written is JSON within the limit; in a chat format, it reads back.
    assert all(isinstance(parse_json(line), dict) for line in out.read_bytes().splitlines())
    if writer in ("openai", "trl", "sharegpt"):
        assert all(r.error is None for r in read_records(out))


def test_one_deep_record_among_600_is_rejected_with_its_reason_in_every_engine(
    tmp_path: Path,
) -> None:
    good = json.dumps(GOOD)
    deep = '{"messages": [], "metadata": ' + '{"k": ' * 990 + "1" + "}" * 991
    source = tmp_path / "many.jsonl"
    source.write_text("\n".join([good] * 300 + [deep] + [good] * 300) + "\n")
    for jobs in (1, 2):
        rejects = tmp_path / f"rejects{jobs}.jsonl"
        report = split_files(
            [source],
            tmp_path / f"out{jobs}.jsonl",
            SplitSpec(budget=Budget(100)),
            rejects=rejects,
            jobs=jobs,
        )
        assert (report.records, report.rejected) == (601, 1)
        (reject,) = [json.loads(line) for line in rejects.read_text().splitlines()]
        assert reject["line"] == 301
        assert reject["reason"].startswith(
            f"invalid JSON: depth limit exceeded (nested deeper than {MAX_JSON_DEPTH} levels at "
            "line 301, column "
        )


@pytest.mark.parametrize("over", [0, 1], ids=["at-limit", "past-limit"])
def test_the_cli_commands_read_deep_records_or_reject_them(tmp_path: Path, over: int) -> None:
    source = write_jsonl(tmp_path / "deep.jsonl", [GOOD, *deep_records(over)])
    rejects = tmp_path / "rejects.jsonl"
    commands = [
        ["split", str(source), "-o", str(tmp_path / "o.jsonl"), "--rejects", str(rejects)],
        ["split", str(source), "-o", str(tmp_path / "t.jsonl"), "--to", "trl", "--jobs", "2"],
        ["validate", str(source)],
        ["stats", str(source)],
        ["report", str(source), "-o", str(tmp_path / "r.html")],
    ]
    for command in commands:
        done = run(*command, "--max-tokens", "5000")
        stderr = done.stderr.decode()
        assert "Traceback" not in stderr and "RecursionError" not in stderr, stderr
        if command[0] == "validate":  # warnings (unknown keys) make a record unclean
            assert f"\n{5 if over else 0} errors, " in done.stdout.decode()
            assert done.returncode == 3 if over else done.returncode in (0, 3)
        else:  # 3: records were rejected
            assert done.returncode == (3 if over else 0), stderr
    assert len(rejects.read_text().splitlines()) == (5 if over else 0)


def test_a_conversation_built_in_python_is_held_to_the_same_limit() -> None:
    messages = (Message(role="user", content="Hi"), Message(role="assistant", content="Yo"))
    Conversation(messages=messages, metadata={"k": nest(MAX_JSON_DEPTH - 2)})
    with pytest.raises(InvalidConversationError) as caught:
        Conversation(messages=messages, metadata={"k": nest(MAX_JSON_DEPTH - 1)})
    assert str(caught.value).startswith(
        f"field 'metadata': JSON nested deeper than {MAX_JSON_DEPTH} levels"
    )
    assert caught.value.field == "metadata"
    fits = json.dumps(nest(MAX_JSON_DEPTH - 6))
    call = Message(
        role="assistant", tool_calls=(ToolCall(function=FunctionCall(name="f", arguments=fits)),)
    )
    Conversation(messages=(messages[0], call))
    too_deep = json.dumps(nest(MAX_JSON_DEPTH - 5))
    call = Message(
        role="assistant",
        tool_calls=(ToolCall(function=FunctionCall(name="f", arguments=too_deep)),),
    )
    with pytest.raises(
        InvalidConversationError,
        match=r"^message 1: field 'tool_calls\.0\.function\.arguments': JSON nested",
    ):
        Conversation(messages=(messages[0], call))  # fmt: skip
    with pytest.raises(InvalidConversationError, match=r"^message 1: field 'extra': JSON nested"):
        Conversation(messages=(messages[0], Message(role="assistant", extra=nest(MAX_JSON_DEPTH - 2))))  # type: ignore[call-arg]  # fmt: skip


# -- 2. one record size ----------------------------------------------------------------------

OBJECT = {"messages": [{"role": "user", "content": "x" * 40}]}
COMPACT = json.dumps(OBJECT).encode()
PRETTY = json.dumps(OBJECT, indent=2).encode()
CRLF = PRETTY.replace(b"\n", b"\r\n")

SIZES = [
    pytest.param("a.jsonl", COMPACT + b"\n" + COMPACT + b"\n", COMPACT, id="jsonl"),
    pytest.param("a.jsonl", COMPACT + b"\r\n" + COMPACT + b"\r\n", COMPACT, id="jsonl-crlf"),
    pytest.param("-", COMPACT + b"\r\n" + COMPACT, COMPACT, id="stdin-crlf-no-last-newline"),
    pytest.param("a.json", b"[" + COMPACT + b"," + COMPACT + b"]", COMPACT, id="array"),
    pytest.param("a.json", b"[\r\n" + CRLF + b",\r\n" + CRLF + b"\r\n]\r\n", CRLF, id="array-crlf"),
    pytest.param("a.json", PRETTY + b"\n" + PRETTY + b"\n", PRETTY, id="pretty-objects"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "record"), SIZES)
def test_the_size_limit_counts_a_records_own_bytes_in_every_container(
    name: str, data: bytes, record: bytes
) -> None:
    size = len(record)
    fits = raw(data, name, max_record_bytes=size)
    assert fits == [(fits[0][0], record, None), (fits[1][0], record, None)]
    over = raw(data, name, max_record_bytes=size - 1)
    assert [error for _, _, error in over] == [
        f"the record is larger than {size - 1:,} bytes ({size:,} bytes); raise "
        "--max-record-bytes (max_record_bytes=) to read it"
    ] * 2


def test_a_json_array_record_over_the_limit_is_rejected_below_the_read_chunk() -> None:
    record = json.dumps({"messages": [{"role": "user", "content": "y" * 5000}]}).encode()
    data = b"[" + record + b",\n" + json.dumps(GOOD).encode() + b"]"
    (lineno, text, error), good = raw(data, "a.json", max_record_bytes=1000)
    assert error == (
        f"the record is larger than 1,000 bytes ({len(record):,} bytes); raise "
        "--max-record-bytes (max_record_bytes=) to read it"
    )
    assert (lineno, text) == (1, record[:1024])
    assert good[2] is None


# -- 3. containers and broken records ---------------------------------------------------------


@pytest.mark.parametrize("name", ["d.jsonl", "d.ndjson", "d.jsonl.gz", "D.NDJSON.GZ"])
def test_a_jsonl_name_is_read_line_by_line_whatever_the_first_line(name: str) -> None:
    data = b"[1, 2, 3]\n" + json.dumps(GOOD).encode() + b"\n{\n" + json.dumps(GOOD).encode()
    if name.lower().endswith(".gz"):
        data = gzip.compress(data)
    records = list(read_records(io.BytesIO(data), name=name))
    assert [(r.lineno, r.raw, r.error is None) for r in records] == [
        (1, "[1, 2, 3]", False),
        (2, json.dumps(GOOD), True),
        (3, "{", False),
        (4, json.dumps(GOOD), True),
    ]
    assert str(records[0].error) == (
        f"{name} line 1: message 0: expected an object with 'role' and 'content'; got a number"
    )


@pytest.mark.parametrize("name", ["d.jsonl", "<stdin>", "d.json"])
def test_a_bare_list_of_messages_is_a_conversation(name: str) -> None:
    line = json.dumps([USER, REPLY]).encode()
    for data in (line + b"\n", line + b"\n" + line + b"\n"):
        records = list(read_records(io.BytesIO(data), name=name))
        assert [r.conversation.messages[1].content for r in records if r.conversation] == [
            "Hello"
        ] * data.count(b"\n")


BROKEN_ARRAYS = [
    pytest.param(b'[\n  {"a": 1},\n  {"b": 2,\n  {"c": 3}\n]\n', id="missing-brace"),
    pytest.param(b'[\n  {"a": 1},\n  {"b": "x},\n  {"c": 3}\n]\n', id="open-string"),
    pytest.param(b'[\n  {"a": 1},\n  {"b": [1},\n  {"c": 3}\n]\n', id="wrong-bracket"),
    pytest.param(b'[\n  {"a": 1},\n  {"b": 2}}\n  ,{"c": 3}\n]\n', id="extra-brace"),
    pytest.param(b'{\n  "a": 1\n}\n{\n  "b": {\n}\n{\n  "c": 3\n}\n', id="objects-missing-brace"),
    pytest.param(b'{\n  "a": 1\n}\n{\n  "b": "x\n}\n{\n  "c": 3\n}\n', id="objects-open-string"),
]


@pytest.mark.parametrize("data", BROKEN_ARRAYS)
def test_a_broken_record_is_rejected_at_its_line_and_the_scan_goes_on(data: bytes) -> None:
    records = list(iter_raw_records(io.BytesIO(data), path="x.json"))
    good = [r.value for r in records if r.error is None]
    assert good == [{"a": 1}, {"c": 3}]
    (bad,) = [r for r in records if r.error is not None]
    lines = data.split(b"\n")
    assert bad.lineno in (3, 4)
    first_line = lines[bad.lineno - 1].strip()
    assert bad.text.startswith(first_line) or bad.text == first_line.rstrip(b",")
    assert bad.error is not None and bad.error.startswith("invalid JSON: ")
    assert bad.text in data  # its exact bytes


def test_a_lone_brace_on_the_first_line_of_an_unnamed_stream_is_one_rejected_record() -> None:
    line = json.dumps(GOOD).encode()
    data = b"{\n" + line + b"\n" + line + b"\n"
    records = list(read_records(io.BytesIO(data)))
    assert [(r.lineno, r.raw, r.error is None) for r in records] == [
        (1, "{", False),
        (2, line.decode(), True),
        (3, line.decode(), True),
    ]


def test_a_broken_record_through_split_files_is_a_reject_not_a_failed_run(tmp_path: Path) -> None:
    good = json.dumps(GOOD)
    path = tmp_path / "chats.json"
    path.write_text(f'[\n  {good},\n  {{"messages": [\n  {good}\n]\n')
    rejects = tmp_path / "rejects.jsonl"
    report = split_files(
        [path], tmp_path / "o.jsonl", SplitSpec(budget=Budget(100)), rejects=rejects
    )
    assert (report.records, report.rejected) == (3, 1)
    (reject,) = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (reject["line"], reject["record"]) == (3, '{"messages": [')


# -- 4. exact bytes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'{"messages": 1}\r\n{"messages": \t2 }\r\n', id="crlf"),
        pytest.param(b'\xef\xbb\xbf{"messages": "\xe9"}\n', id="bom-latin1"),
        pytest.param(b'[\r\n  {"messages":\r\n    1},\r\n  {"messages": [}\r\n]', id="array-crlf"),
        pytest.param(b'{\n  "messages": 1\n}\n{"oops": }\n', id="objects"),
    ],
)
def test_every_record_keeps_its_exact_bytes(data: bytes) -> None:
    records = list(iter_raw_records(io.BytesIO(data), path="x"))
    assert records
    body = data.removeprefix(b"\xef\xbb\xbf")
    position = 0
    for record in records:
        found = body.find(record.text, position)
        assert found >= 0, record.text
        before = body[:found]
        assert before.count(b"\n") + 1 == record.lineno
        assert record.text == record.text.strip(b" \t\r\n,")  # no line ending or separator
        position = found + len(record.text)


# -- 5. the size limit is checked ------------------------------------------------------------


@pytest.mark.parametrize("limit", [-1, 1.5, "100", True])
def test_a_size_limit_that_is_not_a_whole_number_is_refused(limit: object) -> None:
    with (
        Source.open(io.BytesIO(b'{"a": 1}\n'), name="x.jsonl") as source,
        pytest.raises(InvalidOptionError, match=r"^max_record_bytes must be an int >= 0; got "),
    ):
        source.records(max_record_bytes=limit)  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError):
        iter_raw_records(io.BytesIO(b"{}"), path="x", max_record_bytes=limit)  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError):
        list(read_records(io.BytesIO(b"{}"), max_record_bytes=limit))  # type: ignore[arg-type]


# -- 6. what a writer cannot write is refused where it is built ----------------------------------


def test_a_lone_surrogate_is_refused_naming_the_message_and_field() -> None:
    user = Message(role="user", content="Hi")
    with pytest.raises(InvalidConversationError) as caught:
        Conversation(messages=(user, Message(role="assistant", content="bad \ud800")))
    assert str(caught.value).startswith(
        "message 1: field 'content': holds a lone surrogate '\\ud800' (character 4)"
    )
    assert caught.value.field == "content"
    with pytest.raises(InvalidConversationError, match=r"^message 0: field 'note'"):
        Conversation(messages=(Message(role="user", content="x", note=["\udfff"]),))  # type: ignore[call-arg]
    with pytest.raises(InvalidConversationError, match=r"^field 'metadata'"):
        Conversation(messages=(user,), metadata={"k\udc80": 1})


def test_a_content_part_of_the_wrong_shape_is_a_reject_not_a_crash() -> None:
    data = b"".join(
        json.dumps({"messages": [{"role": "user", "content": content}, REPLY]}).encode() + b"\n"
        for content in (
            [{"type": "text", "value": "x"}, {"foo": 1}],
            [{"type": "text", "value": 5}],
            [{"type": "text", "value": "x"}, "y"],
        )
    )
    errors = [str(r.error) for r in read_records(io.BytesIO(data), name="p.jsonl")]
    assert errors == [
        "p.jsonl line 1: message 0: content part 1: field 'type' is required",
        "p.jsonl line 2: message 0: content part 0: field 'text': input should be a valid "
        "string; got a number",
        "p.jsonl line 3: message 0: content part 1: expected a content part object with "
        "'type'; got a string",
    ]


# -- no input stops the scan or changes a record ----------------------------------------------

PIECES = st.sampled_from(
    [b"{", b"}", b"[", b"]", b",", b'"', b"\\", b"\n", b"\r\n", b"  ", b":", b"1", b'"a"',
     b'{"a": 1}', b'[1, 2]', b"\xef\xbb\xbf", json.dumps(GOOD).encode()]
)  # fmt: skip


@given(st.lists(PIECES, max_size=40), st.sampled_from(["f.json", "f.jsonl", "<stdin>"]))
def test_any_bytes_read_as_records_and_rejects(pieces: list[bytes], name: str) -> None:
    data = b"".join(pieces)
    records = list(iter_raw_records(io.BytesIO(data), path=name, max_record_bytes=64))
    for record in records:
        assert (record.value is None) or (record.error is None)
        assert record.text in data
        assert record.lineno >= 1
        assert record.lineno <= data.count(b"\n") + 1
