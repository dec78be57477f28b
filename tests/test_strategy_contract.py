"""A user's window or truncation strategy cannot write wrong samples unnoticed: a turn
planned twice or never, a sample over the budget or without its own turn ends the run with
a StrategyError naming the strategy, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from convsplit import (
    Budget,
    ConvsplitError,
    DropOldest,
    Fit,
    FullHistory,
    Layout,
    Request,
    SplitSpec,
    StrategyError,
    split_conversation,
    split_files,
)

_CONVERSATION = {
    "id": "c1",
    "messages": [
        {"role": "user", "content": "What is the capital of France? " * 3},
        {"role": "assistant", "content": "Paris is the capital of France. " * 3},
        {"role": "user", "content": "And of Italy? " * 3},
        {"role": "assistant", "content": "Rome is the capital of Italy. " * 3},
    ],
}


@dataclass(frozen=True)
class _NoRequests:
    name: str = "no-requests"

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        return iter(())


@dataclass(frozen=True)
class _Twice:
    name: str = "twice"

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        yield from FullHistory().requests(layout, targets, budget)
        yield from FullHistory().requests(layout, targets, budget)


@dataclass(frozen=True)
class _NotATarget:
    name: str = "not-a-target"

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        yield Request((0,), required_start=0, history_start=0)  # the user's message


@dataclass(frozen=True)
class _NoTarget:
    name: str = "no-target"

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        yield Request((), required_start=0, history_start=0)


@dataclass(frozen=True)
class _IgnoresBudget:
    name: str = "ignores-budget"

    def fit(self, layout: Layout, request: Request, budget: Budget) -> Fit:
        return Fit(((request.history_start, request.targets[-1] + 1),))


@dataclass(frozen=True)
class _DropsTheTarget:
    name: str = "drops-the-target"

    def fit(self, layout: Layout, request: Request, budget: Budget) -> Fit:
        return Fit(((request.history_start, request.targets[-1]),))


CASES = [
    (SplitSpec(Budget(200), window=_NoRequests()),
     "window strategy 'no-requests' planned no sample for assistant message(s) 1, 3 in "
     "conversation c1"),
    (SplitSpec(Budget(200), window=_Twice()),
     "window strategy 'twice' planned assistant message 1 twice in conversation c1"),
    (SplitSpec(Budget(200), window=_NotATarget()),
     "window strategy 'not-a-target' planned assistant message 0 out of order or not one it "
     "may train in conversation c1"),
    (SplitSpec(Budget(200), window=_NoTarget()),
     "window strategy 'no-target' planned a sample with no target in conversation c1"),
    (SplitSpec(Budget(60), truncation=_IgnoresBudget()),
     "truncation strategy 'ignores-budget' kept 98 tokens for a sample of conversation c1; "
     "max_tokens is 60"),
    (SplitSpec(Budget(200), truncation=_DropsTheTarget()),
     "truncation strategy 'drops-the-target' left out part of the turn a sample must keep "
     "whole (messages 0..1) in conversation c1"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "message"), CASES, ids=[m.split("'")[1] for _, m in CASES])
def test_a_broken_contract_is_a_strategy_error(spec: SplitSpec, message: str) -> None:
    with pytest.raises(StrategyError) as caught:
        split_conversation(_CONVERSATION, spec)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ConvsplitError)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_run_with_a_broken_strategy_writes_nothing(tmp_path: Path, jobs: int) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps(_CONVERSATION) + "\n", encoding="utf-8")
    with pytest.raises(StrategyError, match="planned assistant message 1 twice"):
        split_files([data], tmp_path / "out.jsonl", SplitSpec(Budget(200), window=_Twice()),
                    jobs=jobs)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_the_stock_strategies_keep_the_contract() -> None:
    """Under a budget that drops history, the built-in ones raise nothing."""
    result = split_conversation(_CONVERSATION, SplitSpec(Budget(60), truncation=DropOldest()))
    assert [o.reason for o in result.outcomes] == [None, None]
    assert [s.dropped_messages for s in result.samples] == [0, 2]
    assert all(s.total_tokens <= 60 for s in result.samples)
