"""The splitter's invariants, for every window x truncation combination (Hypothesis).

1. no turn lost   2. fits, and the reported count is the rendered count   3. fidelity
4. integrity      5. maximality (drop-oldest)                              6. determinism
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import (
    Budget,
    Chunks,
    Conversation,
    DropOldest,
    FullHistory,
    LastTurns,
    Layout,
    Message,
    MiddleOut,
    SplitResult,
    TruncateContent,
    TruncationStrategy,
    WindowStrategy,
    get_chat_format,
    get_counter,
    split_conversation,
)
from convsplit.testing import conversations
from tests.reference import count_rendered, count_sample

WINDOWS = [
    pytest.param(FullHistory(), id="full"),
    pytest.param(LastTurns(turns=2), id="last2"),
    pytest.param(Chunks(), id="chunks"),
    pytest.param(Chunks(carry_tokens=60), id="chunks-carry"),
]
TRUNCATIONS = [
    pytest.param(DropOldest(), id="drop-oldest"),
    pytest.param(MiddleOut(), id="middle-out"),
    pytest.param(TruncateContent(), id="truncate-content"),
]
FORMATS = st.sampled_from(["openai", "chatml", "llama2", "llama3", "plain"])
ENCODING = "o200k_base"


def _split(
    conversation: Conversation,
    window: WindowStrategy,
    truncation: TruncationStrategy,
    format_name: str,
    budget: Budget,
    **options: Any,
) -> SplitResult:
    return split_conversation(
        conversation,
        budget=budget,
        counter=get_counter(ENCODING),
        chat_format=get_chat_format(format_name),
        window=window,
        truncation=truncation,
        **options,
    )


def _call_of(conversation: Conversation, tool_index: int) -> int | None:
    """The assistant message whose call a tool result answers (by id, else the latest caller)."""
    messages = conversation.messages
    wanted = messages[tool_index].tool_call_id
    latest = None
    owner = None
    for i in range(tool_index):
        m = messages[i]
        if m.role == "assistant" and m.tool_calls:
            latest = i
            if any(c.id == wanted for c in m.tool_calls if c.id is not None):
                owner = i
    return owner if owner is not None else latest


budgets = st.builds(
    Budget,
    max_tokens=st.integers(20, 1500),
    reserve_target=st.sampled_from([0, 0, 0, 8]),
    min_context=st.sampled_from([0, 0, 0, 30]),
)


@pytest.mark.parametrize("truncation", TRUNCATIONS)
@pytest.mark.parametrize("window", WINDOWS)
@given(
    conversation=conversations(),
    format_name=FORMATS,
    budget=budgets,
    keep_reasoning=st.booleans(),
    on_long_target=st.sampled_from(["skip", "truncate"]),
)
def test_invariants(
    window: WindowStrategy,
    truncation: TruncationStrategy,
    conversation: Conversation,
    format_name: str,
    budget: Budget,
    keep_reasoning: bool,
    on_long_target: Any,
) -> None:
    options = {"keep_reasoning": keep_reasoning, "on_long_target": on_long_target}
    result = _split(conversation, window, truncation, format_name, budget, **options)
    messages = conversation.messages
    assistants = [i for i, m in enumerate(messages) if m.role == "assistant"]

    # 1. No turn lost: each assistant message is trained exactly once or skipped with a reason.
    assert [o.message_index for o in result.outcomes] == assistants
    trained = Counter(s.source_indices[k] for s in result.samples for k in s.targets)
    for outcome in result.outcomes:
        if outcome.targeted:
            assert outcome.reason is None
            assert trained[outcome.message_index] == 1
            sample = result.samples[outcome.sample_index]  # type: ignore[index]
            assert outcome.message_index in {sample.source_indices[k] for k in sample.targets}
        else:
            assert outcome.reason is not None
            assert trained[outcome.message_index] == 0
    assert sum(trained.values()) == sum(o.targeted for o in result.outcomes)
    if not isinstance(window, Chunks):
        assert all(len(s.targets) == 1 for s in result.samples)

    for sample in result.samples:
        src = sample.source_indices
        last_target = src[sample.targets[-1]]
        # 2. Fits, and the count is what the tokenizer gives on the rendered sample.
        independent = count_sample(sample, encoding_name=ENCODING, format_name=format_name)
        assert sample.total_tokens == independent
        assert sample.total_tokens == sample.context_tokens + sample.target_tokens
        shortfall = sum(
            max(0, budget.reserve_target - _alone(sample.messages[k], format_name))
            for k in sample.targets
        )
        assert sample.total_tokens + shortfall <= budget.max_tokens

        # 3. Fidelity: an order-preserving subsequence of the history, ending at the target.
        assert list(src) == sorted(set(src))
        assert src[-1] == last_target
        for k, (i, m) in enumerate(zip(src, sample.messages, strict=True)):
            if k in sample.truncated:
                assert m.role == messages[i].role
                continue
            expected = messages[i]
            if k not in sample.targets and not keep_reasoning and expected.role == "assistant":
                expected = expected.without_reasoning()
            assert m == expected

        # 4. Integrity: instructions before the end are all there; plain history starts at a
        # user message after every gap; every tool result travels with its call.
        kept = set(src)
        pinned = {i for i in range(last_target) if messages[i].role in ("system", "developer")}
        assert pinned <= kept
        plain = [i for i in src if i not in pinned]
        assert messages[plain[0]].role == "user"
        for before, after in pairwise(plain):
            gap = [j for j in range(before + 1, after) if j not in pinned]
            if gap:
                assert messages[after].role == "user"
        first_user = next(i for i, m in enumerate(messages) if m.role == "user")
        for i in src:
            if messages[i].role == "tool":
                call = _call_of(conversation, i)
                if call is not None and call >= first_user:
                    assert call in kept

    # 6. Determinism.
    again = _split(conversation, window, truncation, format_name, budget, **options)
    assert again == result


def _alone(message: Message, format_name: str) -> int:
    chat_format = get_chat_format(format_name)
    return chat_format.message_cost(message, get_counter(ENCODING), after_instruction=False)


@given(conversation=conversations(), format_name=FORMATS, max_tokens=st.integers(20, 1500))
def test_drop_oldest_keeps_the_most_history_that_fits(
    conversation: Conversation, format_name: str, max_tokens: int
) -> None:
    """5. Maximality: adding back the next older unit would exceed the budget."""
    budget = Budget(max_tokens)
    result = _split(conversation, FullHistory(), DropOldest(), format_name, budget)
    layout = Layout(
        conversation, counter=get_counter(ENCODING), chat_format=get_chat_format(format_name)
    )
    messages = conversation.messages
    for sample in result.samples:
        src = sample.source_indices
        target = src[sample.targets[0]]
        first_plain = next(i for i in src if messages[i].role not in ("system", "developer"))
        earlier = [s for s in layout.starts if s < first_plain]
        if not earlier:
            continue
        grown = sorted(set(src) | set(range(earlier[-1], first_plain)))
        forms = [
            messages[i]
            if i == target
            else (
                messages[i].without_reasoning() if messages[i].role == "assistant" else messages[i]
            )
            for i in grown
        ]
        bigger = count_rendered(
            forms, conversation.tools, encoding_name=ENCODING, format_name=format_name
        )
        assert bigger > max_tokens
