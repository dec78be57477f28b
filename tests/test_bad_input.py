"""The bad-input corpus: each case through the library and the CLI.

For every case: a clear error naming file, line and field where there is one; the bad
record in the rejects file; the run goes on; and the counts add up (records in = split +
rejected, assistant turns = trained + skipped).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from convsplit import Budget, SplitSpec, read_records, split_files
from tests.test_cli import run

GOOD = (
    b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}'
)


def case(name: str, body: bytes) -> pytest.ParameterSet:
    return pytest.param(body, id=name)


# (file contents, [(line, reason starts with, field)] expected in the rejects file)
CASES = [
    pytest.param(GOOD + b"\n{\"messages\": [}\n" + GOOD + b"\n", [(2, "invalid JSON: ", None)], id="invalid-json"),
    pytest.param(GOOD + b"\n" + GOOD + b'\n{"messages": [{"role": "user", "content": "Hi"', [(3, "invalid JSON: ", None)], id="truncated-last-line"),
    pytest.param(b"\xef\xbb\xbf" + GOOD + b"\n" + GOOD + b"\n", [], id="utf8-bom"),
    pytest.param(GOOD + b"\r\n" + GOOD + b"\r\n", [], id="crlf"),
    pytest.param(GOOD + b'\n{"messages": [{"role": "user", "content": "caf\xe9"}]}\n' + GOOD + b"\n", [(2, "invalid JSON: ", None)], id="not-utf8"),
    pytest.param(GOOD + b'\n{"messages": [{"role": 1, "content": "x"}]}\n', [(2, "message 0: field 'role'", "role")], id="role-type"),
    pytest.param(b'{"messages": [{"role": "user", "content": 5}]}\n', [(1, "message 0: field 'content'", "content")], id="content-type"),
    pytest.param(b'{"messages": [{"role": "user", "content": "x", "name": 3}]}\n', [(1, "message 0: field 'name'", "name")], id="name-type"),
    pytest.param(b'{"messages": [{"role": "assistant", "tool_calls": "x"}]}\n', [(1, "message 0: field 'tool_calls'", "tool_calls")], id="tool-calls-type"),
    pytest.param(b'{"messages": [{"role": "tool", "content": "x", "tool_call_id": 5}]}\n', [(1, "message 0: field 'tool_call_id'", "tool_call_id")], id="tool-call-id-type"),
    pytest.param(b'{"messages": [{"role": "assistant", "content": "x", "weight": "a"}]}\n', [(1, "message 0: field 'weight'", "weight")], id="weight-type"),
    pytest.param(b'{"messages": "x"}\n', [(1, "field 'messages'", "messages")], id="messages-type"),
    pytest.param(b'{"messages": [], "tools": 5}\n', [(1, "field 'tools'", "tools")], id="tools-type"),
    pytest.param(b'{"messages": [{"role": "bot", "content": "x"}]}\n', [(1, "message 0: field 'role': expected one of", "role")], id="unknown-role"),
    pytest.param(b'{"messages": [{"role": "user", "content": null}, {"role": "assistant", "content": null}]}\n', [], id="null-content"),
    pytest.param(b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "42", "tool_call_id": "nowhere"}, {"role": "assistant", "content": "42"}]}\n', [], id="tool-result-without-call"),
    pytest.param(b"", [], id="empty-file"),
    pytest.param(b'{"messages": []}\n', [], id="empty-conversation"),
    pytest.param(b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n" + GOOD + b"\n", [(1, "invalid JSON: depth limit exceeded", None)], id="nested-100000-deep"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_library_reads_or_rejects_every_record(
    tmp_path: Path, data: bytes, expected: list[tuple[int, str, str | None]]
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    records = list(read_records(path))
    rejected = [(r.lineno, r.error) for r in records if r.error is not None]
    assert len(rejected) == len(expected)
    for (line, error), (want_line, want_reason, want_field) in zip(rejected, expected, strict=True):
        assert error is not None
        assert (line, error.lineno, error.path) == (want_line, want_line, str(path))
        assert error.reason.startswith(want_reason), error.reason
        assert error.field == want_field
        assert str(error).startswith(f"{path} line {want_line}: ")

    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    report = split_files([path], out, SplitSpec(budget=Budget(100)), rejects=rejects)
    assert report.records == len(records) == report.conversations + report.rejected
    assert report.assistant_turns == report.targeted + sum(report.skipped.values())
    assert report.samples == len(out.read_bytes().splitlines())
    bad = [json.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [(b["path"], b["line"]) for b in bad] == [(str(path), e[0]) for e in expected]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_cli_goes_on_and_keeps_every_bad_record(
    tmp_path: Path, data: bytes, expected: list[tuple[int, str, str | None]]
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    out, rejects, report_path = tmp_path / "o.jsonl", tmp_path / "r.jsonl", tmp_path / "report.json"
    done = run(
        "split", str(path), "-o", str(out), "--rejects", str(rejects), "--report", str(report_path)
    )
    assert b"Traceback" not in done.stderr
    assert done.returncode == (3 if expected else 0), done.stderr.decode()
    report = json.loads(report_path.read_text())
    assert report["records"] == report["conversations"] + report["rejected"]
    assert report["rejected"] == len(expected)
    bad = [json.loads(line) for line in rejects.read_bytes().splitlines()]
    for reject, (line, reason, field) in zip(bad, expected, strict=True):
        assert (reject["line"], reject["field"]) == (line, field)
        assert reject["reason"].startswith(reason)
        if line == 2 and b"caf" in data:  # not UTF-8: kept byte for byte
            assert "record" not in reject
            assert base64.b64decode(reject["record_base64"]) in data
            assert base64.b64decode(reject["record_base64"]).startswith(b'{"messages"')


def test_a_conversation_of_100000_messages(tmp_path: Path) -> None:
    messages = [
        {"role": "user" if k % 2 == 0 else "assistant", "content": f"m{k}"} for k in range(100_000)
    ]
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"messages": messages}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    report = split_files([path], out, SplitSpec(budget=Budget(64)))
    assert report.assistant_turns == 50_000 == report.targeted
    assert report.samples == 50_000


def test_a_record_over_the_size_limit_is_rejected_unread(tmp_path: Path) -> None:
    big = b'{"messages": [{"role": "user", "content": "' + b"x" * 3_000_000 + b'"}]}'
    path = tmp_path / "big.jsonl"
    path.write_bytes(GOOD + b"\n" + big + b"\n" + GOOD + b"\n")
    out, rejects = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
    done = run(
        "split",
        str(path),
        "-o",
        str(out),
        "--rejects",
        str(rejects),
        "--max-record-bytes",
        "1000000",
    )
    assert done.returncode == 3
    (reject,) = [json.loads(line) for line in rejects.read_bytes().splitlines()]
    assert reject["line"] == 2
    assert reject["reason"] == (
        "the record is larger than 1,000,000 bytes (3,000,047 bytes); raise --max-record-bytes "
        "(max_record_bytes=) to read it"
    )
    assert len(reject["record"]) < 2000
    assert len(out.read_bytes().splitlines()) == 2


def test_the_dask_engine_applies_the_same_size_limit(tmp_path: Path) -> None:
    pytest.importorskip(
        "distributed", reason="needs convsplit[dask]: pip install 'convsplit[dask]'"
    )
    from convsplit.integrations.dask import split_files_dask

    big = b'{"messages": [{"role": "user", "content": "' + b"x" * 300_000 + b'"}]}'
    path = tmp_path / "big.jsonl"
    path.write_bytes((GOOD + b"\n") * 50 + big + b"\n" + (GOOD + b"\n") * 50)
    options = SplitSpec(budget=Budget(100), max_record_bytes=100_000)
    local_rejects, dask_rejects = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    local = split_files([path], tmp_path / "o.jsonl", options, rejects=local_rejects)
    remote = split_files_dask(
        [path],
        tmp_path / "parts",
        options,
        rejects=dask_rejects,
        blocksize=4096,
        n_workers=2,
    )
    assert (remote.rejected, remote.samples) == (local.rejected, local.samples) == (1, 100)
    assert dask_rejects.read_bytes() == local_rejects.read_bytes()


def test_a_100_mb_message_is_rejected_with_memory_bounded(tmp_path: Path) -> None:
    """The default limit (64 MiB) rejects it unread; the process never holds it."""
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as out:
        out.write(GOOD + b"\n" + b'{"messages": [{"role": "user", "content": "')
        for _ in range(100):
            out.write(b"y" * 1_000_000)
        out.write(b'"}]}\n' + GOOD + b"\n")
    rejects = tmp_path / "r.jsonl"
    command = [sys.executable, "-m", "convsplit", "split", str(path), "-o", str(tmp_path / "o.jsonl"),
               "--rejects", str(rejects)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, check=False)
    assert done.returncode == 3, done.stderr.decode()
    (reject,) = [json.loads(line) for line in rejects.read_bytes().splitlines()]
    assert reject["line"] == 2
    assert reject["reason"].startswith(
        "the record is larger than 67,108,864 bytes (100,000,047 bytes)"
    )
    assert len(reject["record"]) < 2000
    assert len((tmp_path / "o.jsonl").read_bytes().splitlines()) == 2


def test_reading_past_a_huge_line_holds_a_chunk_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    path.write_bytes(GOOD + b"\n" + b'{"x": "' + b"y" * 30_000_000 + b'"}\n' + GOOD + b"\n")
    tracemalloc.start()
    try:
        records = list(read_records(path, max_record_bytes=1_000_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.error is None for r in records] == [True, False, True]
    assert peak < 10_000_000  # a third of the line: a few chunks, never the whole of it


def test_a_misspelt_role_is_pointed_at_the_role_it_means(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"messages": [{"role": "user", "content": "Hi"}, '
                     b'{"role": "assistent", "content": "Hello"}]}\n')  # fmt: skip
    done = run("split", str(path), "-o", str(tmp_path / "out.jsonl"))
    assert done.returncode == 3
    stderr = done.stderr.decode()
    assert "map it: --role-map assistent=assistant)" in stderr
    assert "assistent=user" not in stderr
