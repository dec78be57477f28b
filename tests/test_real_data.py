"""The splitter on the real public conversation files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from convsplit import (
    Budget,
    Chunks,
    Conversation,
    DropOldest,
    FullHistory,
    LastTurns,
    MiddleOut,
    SplitSpec,
    TruncateContent,
    TruncationStrategy,
    WindowStrategy,
    get_chat_format,
    get_counter,
    split_conversation,
)
from convsplit.formats import read_records
from tests.invariants import check_invariants

FILES = [
    "fastchat_dummy_conversation.json",
    "llamafactory_glaive_toolcall_en_demo.json",
    "llamafactory_reason_tool_use_demo_50.jsonl",
    "openai_cookbook_toy_chat_fine_tuning.jsonl",
]


def conversations(folder: Path, name: str, limit: int) -> list[Conversation]:
    records = list(read_records(folder / name))
    assert all(r.error is None for r in records), [str(r.error) for r in records if r.error]
    return [r.conversation for r in records if r.conversation is not None][:limit]


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize(
    ("window", "truncation"),
    [
        pytest.param(FullHistory(), DropOldest(), id="full-drop-oldest"),
        pytest.param(FullHistory(), MiddleOut(), id="full-middle-out"),
        pytest.param(LastTurns(turns=2), TruncateContent(), id="last2-truncate-content"),
        pytest.param(Chunks(carry_tokens=100), DropOldest(), id="chunks-carry"),
    ],
)
@pytest.mark.parametrize("format_name", ["openai", "chatml", "llama2", "llama3"])
def test_invariants_hold_on_real_files(
    shared_data: Path,
    name: str,
    window: WindowStrategy,
    truncation: TruncationStrategy,
    format_name: str,
) -> None:
    budget = Budget(256)
    for conversation in conversations(shared_data, name, limit=60):
        result = split_conversation(
            conversation,
            SplitSpec(
                budget=budget,
                tokenizer=get_counter("o200k_base"),
                chat_format=get_chat_format(format_name),
                window=window,
                truncation=truncation,
            ),
        )
        check_invariants(
            conversation,
            result,
            budget=budget,
            format_name=format_name,
            keep_reasoning=False,
            one_target_per_sample=not isinstance(window, Chunks),
        )


def test_cookbook_toy_file_outcomes(shared_data: Path) -> None:
    """Its deliberate problems: a conversation with no user message, an ~8,000-token answer."""
    toy = conversations(shared_data, "openai_cookbook_toy_chat_fine_tuning.jsonl", limit=10)
    results = [split_conversation(c, SplitSpec(budget=Budget(4096))) for c in toy]
    assert [len(r.samples) for r in results] == [1, 4, 1, 0, 0]
    assert [o.reason.value for r in results for o in r.skipped if o.reason] == [
        "no_user_before",
        "target_too_long",
    ]
    truncated = split_conversation(
        toy[4], SplitSpec(budget=Budget(4096), on_long_target="truncate")
    )
    assert truncated.samples[0].total_tokens <= 4096
    assert truncated.samples[0].truncated == (2,)
