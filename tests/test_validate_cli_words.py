"""What ``validate`` and ``report`` print suggests the command line's flags, as ``split`` does
(``--field messages=dialog``, not ``fields={'messages': 'dialog'}``), through the real
command line; the library's findings keep the keyword arguments."""

from __future__ import annotations

import io
from pathlib import Path

from convsplit import Budget, SplitSpec, collect_report, validate_records
from convsplit.formats import read_records
from tests.test_cli import run, write_jsonl

UNKNOWN = (
    "cannot tell the format from the keys 'dialog': expected 'messages' (openai), "
    "'conversations' (sharegpt), 'contents' with 'parts' (gemini), 'prompt' and 'completion', "
    "'instruction' and 'output', or a user and an assistant field such as 'user' and "
    "'assistant' (pairs); 'dialog' holds a list of messages: read it with "
)
LONG = (
    "message 1 (assistant) does not fit 20 tokens even with no history: it will be skipped "
    "(or use {}); it needs 32 of 20 tokens: target 24, rest of its turn 8"
)
RECORDS: list[object] = [
    {"dialog": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
    {
        "messages": [
            {"role": "user", "content": "Hi"},
            {
                "role": "assistant",
                "content": "Hello there, this is a long answer that will not fit in a tiny "
                "budget of tokens at all",
            },
        ]
    },
    {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
]


def test_validate_words_its_remedies_as_flags(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "data.jsonl", RECORDS)
    done = run("validate", str(source), "--max-tokens", "20")
    lines = done.stdout.decode().splitlines()
    assert f"  {source}:1: {UNKNOWN}--field messages=dialog" in lines
    assert f"  {source}:2 message 1: {LONG.format('--on-long-target truncate')}" in lines
    refused = (
        "a preference record (chosen and rejected answers) is not SFT data: the rejected "
        "answer would be lost and the prompt's own answers trained; write it with --to "
        "preference"
    )
    assert f"  {source}:3: {refused}" in lines
    assert not [line for line in lines if "=" in line and "--" not in line]
    # The library keeps its words.
    found = {
        f.lineno: f.message
        for f in validate_records(read_records(source), SplitSpec(Budget(20)), check_tokens=True)
        if f.severity.value != "info"
    }
    assert found[1] == UNKNOWN + "fields={'messages': 'dialog'}"
    assert found[2] == LONG.format("on_long_target='truncate'")
    assert found[3].endswith("write it with output_format='preference'")


def test_validate_words_a_role_map_remedy_as_the_flag(tmp_path: Path) -> None:
    gemini = {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "bot", "parts": [{"text": "Hello"}]},
        ]
    }
    source = write_jsonl(tmp_path / "g.jsonl", [gemini])
    reason = "message 1: field 'role': expected one of user, model, function; got 'bot' (map it: "
    lines = run("validate", str(source)).stdout.decode().splitlines()
    assert f"  {source}:1: {reason}--role-map bot=assistant)" in lines
    (finding,) = validate_records(read_records(source))
    assert finding.message == reason + "role_map={'bot': 'assistant'})"
    # the OpenAI and ShareGPT structural checks word it alike
    openai = {"messages": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Yo"}]}
    sharegpt = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "bot", "value": "Yo"}]}
    source = write_jsonl(tmp_path / "o.jsonl", [openai, sharegpt])
    lines = run("validate", str(source)).stdout.decode().splitlines()
    assert sum(line.endswith("(map it: --role-map bot=assistant)") for line in lines) == 2
    messages = [f.message for f in validate_records(read_records(source))]
    assert sum(m.endswith("(map it: role_map={'bot': 'assistant'})") for m in messages) == 2


def test_report_words_its_remedies_as_flags(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "data.jsonl", RECORDS)
    page = tmp_path / "report.html"
    done = run("report", str(source), "-o", str(page), "--check-tokens", "20")
    assert done.returncode == 3
    html = page.read_text(encoding="utf-8")
    # each finding twice: in its kind's list and beside its record
    assert html.count("read it with --field messages=dialog") == 2
    assert html.count("(or use --on-long-target truncate)") == 2
    assert html.count("write it with --to preference") == 2
    assert "fields={" not in html and "on_long_target=" not in html
    assert "output_format=" not in html
    # ReportData, the library's, keeps the keyword arguments.
    data = collect_report(
        read_records(io.BytesIO(source.read_bytes()), name="data.jsonl"),
        budgets=[Budget(512)],
        check_budget=Budget(20),
    )
    messages = [f.message for listed in data.findings.values() for f in listed]
    assert any(m.endswith("fields={'messages': 'dialog'}") for m in messages)
    assert any(m.endswith("write it with output_format='preference'") for m in messages)
