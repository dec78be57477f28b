"""The splitter's invariants, for every window x truncation combination (Hypothesis).

1. no turn lost   2. fits, and the reported count is the rendered count   3. fidelity
4. integrity      5. maximality (drop-oldest)                              6. determinism
"""

from __future__ import annotations

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
    MiddleOut,
    SplitResult,
    SplitSpec,
    TruncateContent,
    TruncationStrategy,
    WindowStrategy,
    get_chat_format,
    get_counter,
    split_conversation,
)
from convsplit.testing import conversations
from tests.invariants import check_invariants
from tests.reference import count_rendered

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
    spec = SplitSpec(
        budget,
        tokenizer=get_counter(ENCODING),
        chat_format=get_chat_format(format_name),
        window=window,
        truncation=truncation,
        **options,
    )
    return split_conversation(conversation, spec)


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
    check_invariants(
        conversation, result, budget=budget, format_name=format_name,
        keep_reasoning=keep_reasoning, one_target_per_sample=not isinstance(window, Chunks),
    )  # fmt: skip

    # 6. Determinism.
    again = _split(conversation, window, truncation, format_name, budget, **options)
    assert again == result


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


def _validated(model: Any) -> Any:
    """The same model built through pydantic's validation."""
    return type(model)(**{name: getattr(model, name) for name in type(model).model_fields})


@given(conv=conversations(), max_tokens=st.integers(20, 400))
def test_results_built_without_validation_equal_validated_ones(
    conv: Conversation, max_tokens: int
) -> None:
    result = split_conversation(conv, SplitSpec(budget=Budget(max_tokens)))
    for model in (result, *result.samples, *result.outcomes):
        again = _validated(model)
        assert again == model
        assert again.model_dump_json() == model.model_dump_json()
