"""Validation: every finding code on a hand-made file, the cookbook toy file's deliberate
problems with their lines, and exact counts on the real files."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest

from convsplit import Budget, SplitSpec, get_chat_format
from convsplit.formats import read_records
from convsplit.inspect.findings import FINDING_CODES, Finding, Severity, group_findings
from convsplit.inspect.summaries import format_findings
from convsplit.inspect.validation import special_tokens, validate_records
from tests.format_strategies import data_file


def count_findings(findings: Iterable[Finding]) -> dict[str, int]:
    return dict(Counter(f.code for f in findings))


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def findings_of(lines: list[Any], **options: Any) -> list[Finding]:
    data = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    role_map = options.get("role_map")
    records = read_records(io.BytesIO(data.encode()), name="bad.jsonl", role_map=role_map)
    budget = options.pop("budget", None)
    if "counter" in options:
        options["tokenizer"] = options.pop("counter")
    if not options and budget is None:
        return list(validate_records(records))
    spec = SplitSpec(budget or Budget(4096), **options)
    return list(validate_records(records, spec, check_tokens=budget is not None))


def brief(findings: list[Finding]) -> list[tuple[int, str, int | None]]:
    return [(f.lineno, f.code, f.message_index) for f in findings]


def user(text: str = "Hi") -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str | None = "Hello", **fields: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": text, **fields}


SYSTEM = {"role": "system", "content": "Be brief."}


def test_the_cookbook_toy_file_problems_are_each_reported_with_their_line() -> None:
    """The toy file's deliberate problems: line 3 has no system message, line 4 no user
    message, line 5 an assistant message of about 8,000 tokens (over the cookbook's 4096)."""
    path = data_file("openai_cookbook_toy_chat_fine_tuning.jsonl")
    findings = list(
        validate_records(read_records(path), SplitSpec(budget=Budget(4096)), check_tokens=True)
    )
    assert [(f.lineno, f.code, f.severity.value) for f in findings] == [
        (3, "no_system_message", "info"),
        (4, "no_user_message", "warning"),
        (5, "over_budget", "info"),
        (5, "target_too_long", "warning"),
    ]
    assert [str(f) for f in findings[1:]] == [
        f"{path} line 4: warning: no user message: no assistant turn can be trained "
        "[no_user_message]",
        f"{path} line 5: info: the conversation has 8031 tokens, over the budget of 4096: it "
        "will be split [over_budget]",
        f"{path} line 5: warning: message 2 (assistant) does not fit 4096 tokens even with no "
        "history: it will be skipped (or use on_long_target='truncate'); it needs 8,031 of "
        "4,096 tokens: target 8,004, pinned 17, rest of its turn 10 [target_too_long]",
    ]
    assert not has_errors(findings)


def test_record_level_problems_of_the_cookbook_checks() -> None:
    findings = findings_of(
        [
            '"text"',
            "{oops",
            {"messages": []},
            {"foo": "bar"},
            {"messages": ["hi", {"content": "x"}, {"role": "bot", "content": "y"}]},
            {"messages": [SYSTEM, user(), assistant(), {"role": "user"}]},
            {"messages": [SYSTEM, user(""), assistant("   "), assistant(None)]},
            {"messages": [SYSTEM, user("Q"), assistant(foo=1)], "id": "x"},
            {"messages": [SYSTEM, user()]},
        ]
    )
    assert brief(findings) == [
        (1, "not_an_object", None),
        (2, "invalid_json", None),
        (3, "missing_messages", None),
        (4, "unknown_format", None),
        (5, "message_not_an_object", 0),
        (5, "missing_role", 1),
        (5, "unknown_role", 2),
        (6, "missing_content", 3),
        (7, "empty_content", 1),
        (7, "empty_content", 2),
        (7, "missing_content", 3),
        (8, "unknown_key", None),
        (8, "unknown_key", 2),
        (9, "no_assistant_message", None),
    ]
    assert findings[1].message == (
        "invalid JSON: unexpected character, expected a string key (line 2, column 2)"
    )
    assert str(findings[6]) == (
        "bad.jsonl line 5: error: message 2 has role 'bot'; expected one of system, developer, "
        "user, assistant, tool (map it: role_map={'bot': 'assistant'}) [unknown_role]"
    )
    assert (findings[11].severity, findings[12].severity) == (Severity.INFO, Severity.WARNING)
    assert findings[12].field == "foo"


def test_an_unparsable_record_with_no_structural_finding_says_why_it_failed() -> None:
    findings = findings_of([{"messages": [{"role": "user", "content": "x", "weight": 7}]}])
    assert [(f.code, f.field) for f in findings] == [("invalid_record", "weight")]
    assert findings[0].message.startswith("message 0: field 'weight':")


def test_conversation_level_problems() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    call2 = {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    findings = findings_of(
        [
            {"messages": [SYSTEM, assistant("Hey"), user(), assistant()]},
            {"messages": [user(), {"role": "tool", "tool_call_id": "zz", "content": "1"},
                          assistant(None, tool_calls=[call, call2]),
                          {"role": "tool", "tool_call_id": "c1", "content": ""},
                          assistant("Done")]},
            {"messages": [SYSTEM, user("<|im_start|>system"), assistant("ok [INST]")]},
        ]
    )  # fmt: skip
    assert brief(findings) == [
        (1, "assistant_before_user", 1),
        (2, "no_system_message", None),
        (2, "empty_tool_result", 3),
        (2, "orphan_tool_result", 1),
        (2, "unanswered_tool_call", 2),
        (3, "special_token", 1),
        (3, "special_token", 2),
    ]
    messages = [f.message for f in findings]
    assert messages[3] == (
        "message 1 is a tool result for call id 'zz', which no earlier assistant message made"
    )
    assert messages[4] == (
        "message 2 makes 2 tool call(s) and 1 of them get no result (OpenAI needs one tool "
        "message per call)"
    )
    assert "'<|im_start|>', a chat template marker" in messages[5]


def test_tool_results_without_ids_answer_calls_in_order() -> None:
    call = {"type": "function", "function": {"name": "f", "arguments": "{}"}}
    findings = findings_of(
        [
            {"messages": [SYSTEM, user(), assistant(None, tool_calls=[call, call]),
                          {"role": "tool", "content": "1"}, {"role": "tool", "content": "2"},
                          {"role": "tool", "content": "3"}, assistant()]},
            {"messages": [SYSTEM, user(), {"role": "tool", "content": "1"}, assistant()]},
        ]
    )  # fmt: skip
    assert brief(findings) == [(1, "orphan_tool_result", 5), (2, "orphan_tool_result", 2)]
    assert findings[1].message == (
        "message 2 is a tool result with no earlier tool call left to answer"
    )


def test_duplicates_and_near_duplicates_point_at_the_first_record() -> None:
    base = {"messages": [SYSTEM, user("Q"), assistant("A")]}
    longer = {"messages": [SYSTEM, user("Q"), assistant("A"), user("more"), assistant("B")]}
    findings = findings_of([base, longer, base])
    assert [(f.lineno, f.code, f.related_lineno, f.message) for f in findings] == [
        (2, "near_duplicate", 1, "the same first user and assistant messages as line 1"),
        (3, "duplicate", 1, "the same messages as line 1"),
    ]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"output_format": "sharegpt"}, id="sharegpt"),
        pytest.param({"chat_format": get_chat_format("llama2")}, id="llama2"),
    ],
)
def test_alternation_where_the_output_format_needs_it(options: dict[str, Any]) -> None:
    call = {"type": "function", "function": {"name": "f", "arguments": "{}"}}
    lines = [
        {"messages": [SYSTEM, user("a"), user("b"), assistant()]},
        {"messages": [SYSTEM, user("c"), assistant(), assistant()]},
        {"messages": [SYSTEM, user("d"), assistant("Checking", tool_calls=[call]),
                      {"role": "tool", "content": "1"}, assistant()]},
    ]  # fmt: skip
    assert brief(findings_of(lines, **options)) == [
        (1, "consecutive_same_role", 2),
        (2, "consecutive_same_role", 3),
        (3, "consecutive_same_role", 2),
    ]
    assert brief(findings_of(lines)) == []  # OpenAI allows all three


def test_budget_checks_only_with_a_budget() -> None:
    long = {"messages": [SYSTEM, user("x " * 50), assistant("y " * 300)]}
    assert brief(findings_of([long])) == []
    assert brief(findings_of([long], budget=Budget(100))) == [
        (1, "over_budget", None),
        (1, "target_too_long", 2),
    ]


def test_sharegpt_structure_checks() -> None:
    findings = findings_of(
        [
            {"conversations": [{"from": "human", "value": "a"}, {"from": "bot", "value": "b"},
                               {"value": "c"}, 3, {"from": "gpt", "value": "d", "x": 1}],
             "lang": "en"},
        ]
    )  # fmt: skip
    assert brief(findings) == [
        (1, "unknown_key", None),
        (1, "unknown_role", 1),
        (1, "missing_role", 2),
        (1, "message_not_an_object", 3),
        (1, "unknown_key", 4),
    ]
    mapped = findings_of(
        [{"conversations": [{"from": "human", "value": "a"}, {"from": "bot", "value": "b"}]}],
        role_map={"bot": "assistant"},
    )
    assert brief(mapped) == [(1, "no_system_message", None)]


def test_grouping_helpers() -> None:
    findings = findings_of(
        [{"messages": [user()]}, {"messages": [user()]}, '"x"'],
    )
    assert count_findings(findings) == {
        "no_assistant_message": 2,
        "not_an_object": 1,
        "duplicate": 1,
        "no_system_message": 2,
    }
    groups = group_findings(findings)
    assert list(groups) == [
        (Severity.ERROR, "no_assistant_message"),
        (Severity.ERROR, "not_an_object"),
        (Severity.WARNING, "duplicate"),
        (Severity.INFO, "no_system_message"),
    ]
    assert [f.lineno for f in groups[(Severity.ERROR, "no_assistant_message")]] == [1, 2]
    assert has_errors(findings)


def test_a_code_found_at_two_severities_is_counted_at_each() -> None:
    """A field the format does not define is a note on the record, a warning on a message:
    ``validate`` once grouped both under the first one's severity, so a file whose only
    warning came after such a note printed as clean."""
    findings = findings_of(
        [
            {"messages": [SYSTEM, user(), assistant()], "extra": 1},
            {"messages": [SYSTEM, {**user("Hey"), "foo": 2}, assistant("Other")]},
        ]
    )
    assert [(f.code, f.severity) for f in findings] == [
        ("unknown_key", Severity.INFO),
        ("unknown_key", Severity.WARNING),
    ]
    assert list(group_findings(findings)) == [
        (Severity.WARNING, "unknown_key"),
        (Severity.INFO, "unknown_key"),
    ]
    text, clean = format_findings(findings)
    assert not clean
    assert text.splitlines()[0] == (
        "warning unknown_key: a field the format does not define (dropped on write) (1)"
    )
    assert text.splitlines()[-1] == "0 errors, 1 warning, 1 note"


def test_every_code_is_catalogued_and_special_tokens_come_from_the_templates() -> None:
    assert all(code.islower() and " " not in code for code in FINDING_CODES)
    markers = special_tokens()
    assert {"<|im_start|>", "[INST]", "<|eot_id|>", "<|endoftext|>", "</s>"} <= markers
    assert special_tokens(get_chat_format("llama3")) == get_chat_format("llama3").specials  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "fastchat_dummy_conversation.json",
            {"near_duplicate": 166, "no_system_message": 500},
            id="fastchat",
        ),
        pytest.param(
            "llamafactory_glaive_toolcall_en_demo.json",
            {"duplicate": 35, "near_duplicate": 31, "no_system_message": 300},
            id="glaive",
        ),
        pytest.param(
            "llamafactory_reason_tool_use_demo_50.jsonl",
            {"unanswered_tool_call": 5, "near_duplicate": 3},
            id="reason",
        ),
    ],
)
def test_real_files(name: str, expected: dict[str, int]) -> None:
    findings = list(
        validate_records(
            read_records(data_file(name)), SplitSpec(budget=Budget(4096)), check_tokens=True
        )
    )
    assert count_findings(findings) == expected
    assert not has_errors(findings)


def test_real_files_for_sharegpt_output_alternate() -> None:
    for name in ("fastchat_dummy_conversation.json", "llamafactory_glaive_toolcall_en_demo.json"):
        findings = validate_records(
            read_records(data_file(name)), SplitSpec(output_format="sharegpt")
        )
        assert "consecutive_same_role" not in count_findings(findings)
