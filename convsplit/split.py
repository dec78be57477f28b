"""The pure core: a conversation in, samples and per-turn accounting out. No I/O.

Every assistant message becomes a target, unless it precedes any user message, is marked
``"weight": 0``, is empty, or cannot fit; each of those is recorded with its reason.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

from convsplit.budget import Budget
from convsplit.errors import TargetTooLongError
from convsplit.layout import Block, Layout
from convsplit.messages import Conversation, Message
from convsplit.samples import Sample, SkipReason, SplitResult, TurnOutcome, trusted
from convsplit.tokens.chat_formats import ChatFormat, get_chat_format
from convsplit.tokens.counters import TokenCounter, get_counter
from convsplit.truncation import DropOldest, Fit, TruncationStrategy
from convsplit.windows import FullHistory, Request, WindowStrategy

OnLongTarget = Literal["skip", "truncate", "error"]
"""What to do with a target that does not fit even with no history: record it as skipped,
cut its end off (the sample is flagged in ``truncated``), or raise."""


def split_conversation(
    conversation: Conversation,
    *,
    budget: Budget,
    counter: TokenCounter | None = None,
    chat_format: ChatFormat | None = None,
    window: WindowStrategy = FullHistory(),
    truncation: TruncationStrategy = DropOldest(),
    on_long_target: OnLongTarget = "skip",
    keep_reasoning: bool = False,
    conversation_index: int = 0,
) -> SplitResult:
    """Split one conversation into samples that each fit ``budget``.

    Args:
        conversation: the transcript.
        budget: the token budget of every sample.
        counter: the tokenizer; o200k_base when omitted.
        chat_format: the template whose overhead is counted; ``openai`` when omitted.
        window: which targets each sample has and how far back its history may go.
        truncation: what gives way when the history does not fit.
        on_long_target: a target that does not fit even alone: skip, truncate or error.
        keep_reasoning: keep the reasoning of assistant messages used as context
            (targets always keep theirs).
        conversation_index: the conversation's position in its stream, copied to samples.

    Returns:
        The samples, and one outcome per assistant message.

    Raises:
        TargetTooLongError: with ``on_long_target="error"``, naming the message.

    >>> conv = Conversation(messages=[
    ...     Message(role="system", content="Be brief."),
    ...     Message(role="user", content="Capital of France?"),
    ...     Message(role="assistant", content="Paris."),
    ...     Message(role="user", content="And of Italy?"),
    ...     Message(role="assistant", content="Rome."),
    ... ])
    >>> result = split_conversation(conv, budget=Budget(max_tokens=30))
    >>> [[m.content for m in s.messages] for s in result.samples]
    [['Be brief.', 'Capital of France?', 'Paris.'], ['Be brief.', 'And of Italy?', 'Rome.']]
    >>> [s.total_tokens for s in result.samples]
    [24, 24]
    """
    split = Splitter(
        budget,
        counter=counter,
        chat_format=chat_format,
        window=window,
        truncation=truncation,
        on_long_target=on_long_target,
        keep_reasoning=keep_reasoning,
    )
    return split(conversation, conversation_index)


def split_conversations(
    conversations: Iterable[Conversation],
    *,
    budget: Budget,
    counter: TokenCounter | None = None,
    chat_format: ChatFormat | None = None,
    window: WindowStrategy = FullHistory(),
    truncation: TruncationStrategy = DropOldest(),
    on_long_target: OnLongTarget = "skip",
    keep_reasoning: bool = False,
) -> Iterator[SplitResult]:
    """Split a stream of conversations lazily, one :class:`SplitResult` per conversation.

    Takes the same options as :func:`split_conversation`; the counter's cache carries over
    from one conversation to the next, so a system prompt shared by a file is counted once.
    """
    split = Splitter(
        budget,
        counter=counter,
        chat_format=chat_format,
        window=window,
        truncation=truncation,
        on_long_target=on_long_target,
        keep_reasoning=keep_reasoning,
    )
    for index, conversation in enumerate(conversations):
        yield split(conversation, index)


@dataclass(frozen=True, init=False)
class Splitter:
    """:func:`split_conversation` with its options bound, for code that splits many
    conversations (streams, reports, the pipeline) without spelling them out each time.

    Takes the options of :func:`split_conversation`, with the same defaults.

    >>> split = Splitter(Budget(30))
    >>> conv = Conversation(messages=(Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Yo")))
    >>> split(conv).samples[0].total_tokens
    13
    >>> split.counter.name, split.chat_format.name
    ('o200k_base', 'openai')
    """

    budget: Budget
    counter: TokenCounter
    chat_format: ChatFormat
    window: WindowStrategy
    truncation: TruncationStrategy
    on_long_target: OnLongTarget
    keep_reasoning: bool

    def __init__(
        self,
        budget: Budget,
        *,
        counter: TokenCounter | None = None,
        chat_format: ChatFormat | None = None,
        window: WindowStrategy = FullHistory(),
        truncation: TruncationStrategy = DropOldest(),
        on_long_target: OnLongTarget = "skip",
        keep_reasoning: bool = False,
    ) -> None:
        options = {
            "budget": budget,
            "counter": counter or get_counter(),
            "chat_format": chat_format or get_chat_format("openai"),
            "window": window,
            "truncation": truncation,
            "on_long_target": on_long_target,
            "keep_reasoning": keep_reasoning,
        }
        for name, value in options.items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    def __call__(self, conversation: Conversation, index: int = 0) -> SplitResult:
        """Split ``conversation``, the ``index``-th of its stream."""
        layout = Layout(
            conversation,
            counter=self.counter,
            chat_format=self.chat_format,
            keep_reasoning=self.keep_reasoning,
        )
        outcomes: dict[int, TurnOutcome] = {}
        trainable: list[int] = []
        for i, message in enumerate(conversation.messages):
            if message.role != "assistant":
                continue
            reason = _untrainable(layout, i, message)
            if reason is None:
                trainable.append(i)
            else:
                outcomes[i] = trusted(TurnOutcome, message_index=i, reason=reason)

        builder = _SampleBuilder(layout, self.budget, self.on_long_target, index)
        samples: list[Sample] = []
        for request in self.window.requests(layout, trainable, self.budget):
            for sample_or_skip in builder.build(request, self.truncation):
                if isinstance(sample_or_skip, Sample):
                    for k in sample_or_skip.targets:
                        t = sample_or_skip.source_indices[k]
                        outcomes[t] = trusted(
                            TurnOutcome, message_index=t, sample_index=len(samples)
                        )
                    samples.append(sample_or_skip)
                else:
                    outcomes[sample_or_skip.message_index] = sample_or_skip
        return trusted(
            SplitResult,
            conversation_id=conversation.id,
            conversation_index=index,
            samples=tuple(samples),
            outcomes=tuple(outcomes[i] for i in sorted(outcomes)),
        )

    def with_budget(self, budget: Budget) -> Splitter:
        """The same options under another budget (a window sweep)."""
        return replace(self, budget=budget)


def _untrainable(layout: Layout, index: int, message: Message) -> SkipReason | None:
    if layout.first_user is None or index < layout.first_user:
        return SkipReason.NO_USER_BEFORE
    if message.weight == 0:
        return SkipReason.WEIGHT_ZERO
    if not (message.text or message.tool_calls or message.reasoning):
        return SkipReason.EMPTY_TARGET
    return None


class _SampleBuilder:
    """Turns requests into samples under one budget and long-target policy."""

    def __init__(
        self, layout: Layout, budget: Budget, on_long_target: OnLongTarget, index: int
    ) -> None:
        self.layout = layout
        self.budget = budget
        self.on_long_target = on_long_target
        self.conversation_index = index
        first_user = layout.first_user or 0
        self._preamble = sum(1 for i in range(first_user) if not layout.instruction[i])

    def build(
        self, request: Request, truncation: TruncationStrategy
    ) -> Iterator[Sample | TurnOutcome]:
        layout, budget = self.layout, self.budget
        required: tuple[Block, ...] = ((request.required_start, request.targets[-1] + 1),)
        cost = layout.cost(required, request.targets, reserve=budget.reserve_target)
        if cost <= budget.max_tokens:
            yield from self._finish(request, truncation.fit(layout, request, budget))
            return
        if len(request.targets) > 1:  # a custom window asked too much: one sample per target
            for t in request.targets:
                start = layout.unit_start(t)
                assert start is not None  # targets always follow a user message
                single = Request((t,), start, request.history_start, request.history_cap)
                yield from self.build(single, truncation)
            return
        (target,) = request.targets
        if self.on_long_target == "error":
            name = layout.conversation.id or f"#{self.conversation_index}"
            raise TargetTooLongError(
                f"conversation {name}: message {target} needs {cost} tokens with its turn "
                f"and pinned messages; max_tokens is {budget.max_tokens} "
                f"(use on_long_target='skip' or 'truncate')"
            )
        cut = self._cut_target(target, required) if self.on_long_target == "truncate" else None
        if cut is None:
            yield trusted(TurnOutcome, message_index=target, reason=SkipReason.TARGET_TOO_LONG)
        else:
            yield from self._finish(request, Fit(required, {target: cut}))

    def _cut_target(self, target: int, blocks: tuple[Block, ...]) -> Message | None:
        """The target with its text cut at the end to the most tokens that fit, if any do."""
        layout, budget = self.layout, self.budget
        message = layout.messages[target]
        tokens = layout.counter.encode(message.text)

        def cut(keep: int) -> Message:
            return message.model_copy(update={"content": layout.counter.decode(tokens[:keep])})

        def fits(candidate: Message) -> bool:
            return (
                layout.cost(blocks, (target,), reserve=budget.reserve_target,
                            replacements={target: candidate})
                <= budget.max_tokens
            )  # fmt: skip

        best = cut(0)
        if not fits(best):
            return None
        lo, hi = 0, len(tokens)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            candidate = cut(mid)
            if fits(candidate):
                lo, best = mid, candidate
            else:
                hi = mid - 1
        return best

    def _finish(self, request: Request, fit: Fit) -> Iterator[Sample | TurnOutcome]:
        layout = self.layout
        targets = request.targets
        replacements = fit.replacements
        indices, messages = layout.select(fit.blocks)
        for t in targets:
            messages[bisect_left(indices, t)] = layout.messages[t]
        truncated = sorted(bisect_left(indices, i) for i in replacements) if replacements else []
        for k in truncated:
            messages[k] = replacements[indices[k]]
        total = layout.cost(fit.blocks, targets, replacements=replacements)
        if replacements:
            target_tokens = sum(
                layout.replacement_cost(t, replacements[t])
                if t in replacements
                else layout.target_cost(t)
                for t in targets
            )
        else:
            target_tokens = sum(map(layout.target_cost, targets))
        history_tokens, dropped_messages, dropped_tokens = layout.history(fit.blocks, targets)
        history_cut = dropped_messages > self._preamble or bool(replacements)
        if history_cut and total - target_tokens < self.budget.min_context:
            for t in targets:
                yield trusted(TurnOutcome, message_index=t, reason=SkipReason.TOO_LITTLE_CONTEXT)
            return
        yield trusted(
            Sample,
            messages=tuple(messages),
            targets=tuple(bisect_left(indices, t) for t in targets),
            source_indices=tuple(indices),
            tools=layout.conversation.tools,
            conversation_id=layout.conversation.id,
            conversation_index=self.conversation_index,
            total_tokens=total,
            context_tokens=total - target_tokens,
            target_tokens=target_tokens,
            dropped_messages=dropped_messages,
            dropped_tokens=dropped_tokens,
            history_tokens=history_tokens,
            truncated=tuple(truncated),
        )
