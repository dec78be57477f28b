"""The splitter's invariants as one check, shared by the Hypothesis and real-data tests."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from convsplit import Budget, Conversation, Message, SplitResult, get_chat_format, get_counter
from convsplit.formats import get_writer
from convsplit.formats.protocols import written_message
from tests.reference import count_sample

ENCODING = "o200k_base"


def call_of(conversation: Conversation, tool_index: int) -> int | None:
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


INSTRUCTION = ("system", "developer")


def alone(message: Message, format_name: str, *, after_instruction: bool = False) -> int:
    """A message's own cost where it stands (after an instruction or not)."""
    chat_format = get_chat_format(format_name)
    return chat_format.message_cost(
        message, get_counter(ENCODING), after_instruction=after_instruction
    )


def check_invariants(
    conversation: Conversation,
    result: SplitResult,
    *,
    budget: Budget,
    format_name: str,
    keep_reasoning: bool,
    one_target_per_sample: bool,
    output_format: str = "openai",
) -> None:
    """Properties 1-4: no turn lost, exact fit, fidelity, integrity.

    Samples hold messages as ``output_format`` writes them (its written form: reasoning
    kept or not, tool schemas in one shape); messages it would write as nothing (an
    assistant message with nothing left, a tool result that answers no call) are left out.
    """
    form = get_writer(output_format).written_form
    messages = conversation.messages

    def left_out(j: int) -> bool:
        written = written_message(messages[j], form)
        if written.role == "tool":
            return True  # a result travels with its call; one that answers none is left out
        return written.role == "assistant" and not (
            written.text or written.tool_calls or written.reasoning
        )

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
    if one_target_per_sample:
        assert all(len(s.targets) == 1 for s in result.samples)

    for sample in result.samples:
        src = sample.source_indices
        last_target = src[sample.targets[-1]]
        # 2. Fits, and the count is what the tokenizer gives on the rendered sample.
        independent = count_sample(sample, encoding_name=ENCODING, format_name=format_name)
        assert sample.total_tokens == independent
        assert sample.total_tokens == sample.context_tokens + sample.target_tokens
        shortfall = sum(
            max(
                0,
                budget.reserve_target
                - alone(
                    sample.messages[k],
                    format_name,
                    after_instruction=k > 0 and sample.messages[k - 1].role in INSTRUCTION,
                ),
            )
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
            expected = written_message(messages[i], form)
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
            gap = [j for j in range(before + 1, after) if j not in pinned and not left_out(j)]
            if gap:
                assert messages[after].role == "user"
        first_user = next(i for i, m in enumerate(messages) if m.role == "user")
        for i in src:
            if messages[i].role == "tool":
                call = call_of(conversation, i)
                if call is not None and call >= first_user:
                    assert call in kept
