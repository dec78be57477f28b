"""Containers: JSONL, JSON arrays, concatenated objects, gzip, stdin; lines and raw text."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import InvalidConversationError
from convsplit.formats import read_records
from convsplit.formats.containers import Source, iter_raw_records
from tests.format_strategies import data_file, words


def raw(data: bytes) -> list[tuple[int, object, str | None, bytes]]:
    return [
        (r.lineno, r.value, r.error, r.text) for r in iter_raw_records(io.BytesIO(data), path="x")
    ]


def test_jsonl_lines_blank_lines_and_crlf() -> None:
    data = b'{"a": 1}\r\n\n  \n{"a": 2}\n{"a": 3}'
    assert raw(data) == [
        (1, {"a": 1}, None, b'{"a": 1}'),
        (4, {"a": 2}, None, b'{"a": 2}'),
        (5, {"a": 3}, None, b'{"a": 3}'),
    ]


def test_jsonl_bad_line_is_one_error_record_and_reading_goes_on() -> None:
    data = b'{"a": 1}\n{"a": \n{"a": 3}\n'
    assert raw(data) == [
        (1, {"a": 1}, None, b'{"a": 1}'),
        (2, None, "invalid JSON: unexpected end of data (line 2, column 7)", b'{"a": '),
        (3, {"a": 3}, None, b'{"a": 3}'),
    ]


def test_json_array_records_start_lines_and_raw_text() -> None:
    data = b'[\n  {\n    "a": "x,]}\\" [{"\n  },\n  {"a": 2}\n]\n'
    assert raw(data) == [
        (2, {"a": 'x,]}" [{'}, None, b'{\n    "a": "x,]}\\" [{"\n  }'),
        (5, {"a": 2}, None, b'{"a": 2}'),
    ]


def test_json_array_odd_but_complete_shapes() -> None:
    assert raw(b"[]") == []
    assert raw(b"\xef\xbb\xbf[1]") == [(1, 1, None, b"1")]
    assert raw(b"[1,,2]")[1] == (
        1,
        None,
        "invalid JSON: an empty record (two commas in a row)",
        b"",
    )
    assert raw(b"[1,2,]")[2][2] == "invalid JSON: an empty record (a comma before ']')"
    assert raw(b"[1] [2]") == [(1, 1, None, b"1"), (1, 2, None, b"2")]
    assert raw(b'[{"a":1}]\njunk') == [
        (1, {"a": 1}, None, b'{"a":1}'),
        (2, None, "invalid JSON: unexpected text outside the JSON array", b"junk"),
    ]


def test_a_cut_off_json_array_keeps_the_records_before_and_rejects_the_one_cut() -> None:
    data = b'[\n{"a": 1},\n{"b": [1,\n2\n'
    assert raw(data) == [
        (2, {"a": 1}, None, b'{"a": 1}'),
        (3, None, "invalid JSON: the JSON array is cut off: the file ends inside this record "
         "(was it truncated?)", b'{"b": [1,\n2'),
    ]  # fmt: skip


def test_a_json_array_cut_between_records_says_so_after_the_last() -> None:
    data = b'[{"a": 1}, {"a": 2}\n'
    assert raw(data) == [
        (1, {"a": 1}, None, b'{"a": 1}'),
        (1, {"a": 2}, None, b'{"a": 2}'),
        (2, None, "invalid JSON: the JSON array is cut off: the file ends before its closing "
         "bracket (was it truncated?)", b""),
    ]  # fmt: skip


def test_a_cut_off_record_over_the_size_limit_is_rejected_as_cut() -> None:
    data = b'[{"a": 1}, {"b": "' + b"x" * 200
    records = list(iter_raw_records(io.BytesIO(data), path="x", max_record_bytes=64))
    assert [r.value for r in records] == [{"a": 1}, None]
    assert records[1].error is not None and "is cut off" in records[1].error


def test_pretty_printed_objects_one_after_another() -> None:
    data = b'{\n  "a": 1\n}\n{\n  "a": 2\n}\n'
    assert [(r.lineno, r.value) for r in iter_raw_records(io.BytesIO(data), path="x")] == [
        (1, {"a": 1}),
        (4, {"a": 2}),
    ]


def test_a_huge_array_streams_in_chunks_with_exact_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    from convsplit.formats import _sniff

    monkeypatch.setattr(_sniff, "CHUNK", 64)  # force many refills and compactions
    records = [{"id": k, "text": "line\n" * (k % 7) + '"quoted" ]}[{'} for k in range(300)]
    data = ("[\n" + ",\n".join(json.dumps(r, indent=1) for r in records) + "\n]\n").encode()
    got = list(iter_raw_records(io.BytesIO(data), path="x"))
    assert [r.value for r in got] == records
    lines = data.decode().split("\n")
    assert all(lines[r.lineno - 1].lstrip().startswith("{") for r in got)
    assert [json.loads(r.text) for r in got] == records


@given(st.lists(st.dictionaries(words, words | st.integers(), max_size=3), max_size=8),
       st.sampled_from(["jsonl", "array", "pretty"]))  # fmt: skip
def test_every_container_gives_back_every_record_with_its_line(
    records: list[dict[str, object]], container: str
) -> None:
    if container == "jsonl":
        text = "".join(json.dumps(r) + "\n" for r in records)
        starts = list(range(1, len(records) + 1))
    else:
        chunks = [json.dumps(r, indent=2) for r in records]
        starts, line = [], 2
        for chunk in chunks:
            starts.append(line)
            line += chunk.count("\n") + 1
        text = "[\n" + ",\n".join(chunks) + "\n]\n"
    got = list(iter_raw_records(io.BytesIO(text.encode()), path="x"))
    assert [r.value for r in got] == records
    assert [r.lineno for r in got] == starts


def test_gzip_by_magic_bytes_and_by_name(tmp_path: Path) -> None:
    payload = b'{"messages": []}\n{"messages": []}\n'
    (tmp_path / "plain-named.jsonl").write_bytes(gzip.compress(payload))
    (tmp_path / "d.json.gz").write_bytes(
        gzip.compress(b"[" + payload.replace(b"\n", b",", 1) + b"]")
    )
    for name in ("plain-named.jsonl", "d.json.gz"):
        records = list(read_records(tmp_path / name))
        assert [r.lineno for r in records] == [1, 1] if name.endswith("gz") else [1, 2]
        assert all(r.conversation is not None for r in records)
        assert records[0].path == str(tmp_path / name)


def test_a_truncated_gzip_file_is_a_container_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"messages": []}\n' * 1000)[:-20])
    with pytest.raises(InvalidConversationError, match=r"cut.jsonl.gz: cannot read: "):
        list(read_records(path))


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidConversationError, match=r"nope\.jsonl: cannot open: No such file"):
        list(read_records(tmp_path / "nope.jsonl"))


def test_streams_are_read_but_not_closed() -> None:
    stream = io.BytesIO(b'{"messages": []}\n')
    records = list(read_records(stream, name="mem.jsonl"))
    assert records[0].path == "mem.jsonl"
    assert not stream.closed
    with Source.open(io.BytesIO(b"")) as source:
        assert source.path == "<stream>"
        assert list(source.records()) == []


def test_standard_input_is_dash() -> None:
    code = (
        "from convsplit.formats import read_records; "
        "print([(r.path, r.lineno, r.conversation.messages[0].content) "
        "for r in read_records('-')])"
    )
    data = gzip.compress(b'{"conversations": [{"from": "human", "value": "hi"}]}\n')
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True)
    assert out.stdout.decode().strip() == "[('<stdin>', 1, 'hi')]"


@pytest.mark.parametrize(
    ("name", "count", "first_line", "last_line"),
    [
        pytest.param("fastchat_dummy_conversation.json", 500, 2, 10489, id="fastchat"),
        pytest.param("llamafactory_glaive_toolcall_en_demo.json", 300, 2, 9137, id="glaive"),
        pytest.param("llamafactory_reason_tool_use_demo_50.jsonl", 50, 1, 50, id="reason"),
        pytest.param("openai_cookbook_toy_chat_fine_tuning.jsonl", 5, 1, 5, id="toy"),
    ],
)
def test_real_files_record_lines_match_the_file(
    name: str, count: int, first_line: int, last_line: int
) -> None:
    path = data_file(name)
    records = list(iter_raw_records(path.open("rb"), path=name))
    assert len(records) == count
    assert (records[0].lineno, records[-1].lineno) == (first_line, last_line)
    lines = path.read_text(encoding="utf-8").split("\n")
    for record in records:
        assert lines[record.lineno - 1].lstrip().startswith("{")
        assert json.loads(record.text) == record.value
    if name.endswith(".json"):
        assert [r.value for r in records] == json.loads(path.read_text(encoding="utf-8"))


def test_a_jsonl_file_whose_first_line_is_broken_still_reads_line_by_line() -> None:
    data = b'{"messages": [\n{"a": 2}\n{"a": 3}\n'
    assert [
        (r.lineno, r.value, r.error is None) for r in iter_raw_records(io.BytesIO(data), path="x")
    ] == [
        (1, None, False),
        (2, {"a": 2}, True),
        (3, {"a": 3}, True),
    ]


def test_integers_beyond_64_bits_are_read_exactly() -> None:
    data = b'{"n": 123456789012345678901234, "m": -9223372036854775809, "f": 1.5}\n'
    assert raw(data)[0][1] == {"n": 123456789012345678901234, "m": -9223372036854775809, "f": 1.5}
    array = b'[{"n": 18446744073709551616}]'
    assert raw(array)[0][1] == {"n": 18446744073709551616}


def test_a_large_json_array_is_never_held_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracemalloc

    from convsplit.formats import _sniff

    monkeypatch.setattr(_sniff, "CHUNK", 1 << 16)

    record = {"messages": [{"role": "user", "content": "x" * 1000},
                           {"role": "assistant", "content": "y" * 1000}]}  # fmt: skip
    path = tmp_path / "big.json"
    with path.open("w") as out:
        out.write("[\n" + ",\n".join(json.dumps(record) for _ in range(3000)) + "\n]\n")
    size = path.stat().st_size
    assert size > 6_000_000
    tracemalloc.start()
    try:
        count = sum(1 for r in read_records(path) if r.conversation is not None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 3000
    assert peak < size / 8  # a few read chunks, never the file
