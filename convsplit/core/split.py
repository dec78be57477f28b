"""The pure core: a conversation in, samples and per-turn accounting out. No I/O.

Every assistant message becomes a target, unless it precedes any user message, is marked
``"weight": 0``, is empty, or cannot fit; each of those is recorded with its reason.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping

from convsplit.budget import Budget, check_count, describe
from convsplit.core.layout import Block, Layout
from convsplit.core.truncation import Fit, TruncationStrategy
from convsplit.core.windows import Request
from convsplit.errors import InvalidConversationError, InvalidOptionError, TargetTooLongError
from convsplit.messages import Conversation, Message, parse_conversation
from convsplit.samples import Sample, SkipReason, SplitResult, TurnOutcome, trusted
from convsplit.spec import OnLongTarget, SplitSpec


def split_conversation(
    conversation: Conversation | Mapping[str, object], spec: SplitSpec, *, index: int = 0
) -> SplitResult:
    """Split one conversation into samples that each fit ``spec.budget``.

    Args:
        conversation: the transcript: a :class:`Conversation`, or a mapping in its form
            (``{"messages": [{"role": "user", "content": "Hi"}, ...]}``), validated here.
        spec: how to split (budget, tokenizer, chat format, strategies).
        index: the conversation's position in its stream, copied to samples.

    Returns:
        The samples, and one outcome per assistant message.

    Raises:
        InvalidConversationError: ``conversation`` is not a valid conversation, naming the
            message and field.
        InvalidOptionError: ``spec`` is not a :class:`SplitSpec`, or a bad ``index``.
        TargetTooLongError: with ``on_long_target="error"``, naming the message.

    >>> conv = Conversation(messages=[
    ...     Message(role="system", content="Be brief."),
    ...     Message(role="user", content="Capital of France?"),
    ...     Message(role="assistant", content="Paris."),
    ...     Message(role="user", content="And of Italy?"),
    ...     Message(role="assistant", content="Rome."),
    ... ])
    >>> result = split_conversation(conv, SplitSpec(Budget(max_tokens=30)))
    >>> [[m.content for m in s.messages] for s in result.samples]
    [['Be brief.', 'Capital of France?', 'Paris.'], ['Be brief.', 'And of Italy?', 'Rome.']]
    >>> [s.total_tokens for s in result.samples]
    [24, 24]
    >>> split_conversation({"messages": [{"role": "bot", "content": "Hi"}]}, SplitSpec())
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: conversation #0: message 0: field 'role': \
expected one of system, developer, user, assistant, tool; got 'bot'
    """
    if type(spec) is not SplitSpec:
        _check_spec(spec)
    if type(index) is not int or index < 0:
        index = check_count("index", index, minimum=0)
    if not isinstance(conversation, Conversation):
        conversation = _as_conversation(conversation, index)
    layout = Layout(
        conversation,
        counter=spec.tokenizer,
        chat_format=spec.chat_format,
        keep_reasoning=spec.keep_reasoning,
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

    builder = _SampleBuilder(layout, spec.budget, spec.on_long_target, index)
    samples: list[Sample] = []
    for request in spec.window.requests(layout, trainable, spec.budget):
        for sample_or_skip in builder.build(request, spec.truncation):
            if isinstance(sample_or_skip, Sample):
                for k in sample_or_skip.targets:
                    t = sample_or_skip.source_indices[k]
                    outcomes[t] = trusted(TurnOutcome, message_index=t, sample_index=len(samples))
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


def split_conversations(
    conversations: Iterable[Conversation | Mapping[str, object]], spec: SplitSpec
) -> Iterator[SplitResult]:
    """Split a stream of conversations lazily, one :class:`SplitResult` per conversation.

    The tokenizer's cache carries over from one conversation to the next, so a system
    prompt shared by a file is counted once. The arguments are checked here, before the
    first conversation is read.

    Raises:
        InvalidOptionError: ``conversations`` is not an iterable of conversations (one
            conversation alone is not), or ``spec`` is not a :class:`SplitSpec`.
        InvalidConversationError: (while iterating) a conversation is not valid, naming
            its position in the stream.

    >>> split_conversations(Conversation(messages=()), SplitSpec())
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: conversations must be an iterable of conversations; \
got one Conversation (use split_conversation for one)
    """
    _check_spec(spec)
    if isinstance(conversations, Conversation | Mapping):
        one = "Conversation" if isinstance(conversations, Conversation) else "mapping"
        raise InvalidOptionError(
            f"conversations must be an iterable of conversations; got one {one} "
            "(use split_conversation for one)"
        )
    if isinstance(conversations, str | bytes) or not isinstance(conversations, Iterable):
        raise InvalidOptionError(
            "conversations must be an iterable of conversations (Conversation objects or "
            f"mappings in their form); got {describe(conversations)}"
        )
    return (
        split_conversation(conversation, spec, index=index)
        for index, conversation in enumerate(conversations)
    )


def _check_spec(spec: object) -> None:
    if not isinstance(spec, SplitSpec):
        raise InvalidOptionError(
            f"spec must be a SplitSpec, such as SplitSpec(Budget(4096)); got {describe(spec)}"
        )


def _as_conversation(value: object, index: int) -> Conversation:
    """A mapping validated as a conversation; anything else refused, naming what it is."""
    if not isinstance(value, Mapping):
        raise InvalidConversationError(
            f"conversation #{index}: expected a Conversation or a mapping in its form "
            f"({{'messages': [...]}}); got {describe(value)}"
        )
    try:
        return parse_conversation(dict(value))
    except InvalidConversationError as error:
        raise InvalidConversationError(
            f"conversation #{index}: {error.reason}", field=error.field
        ) from error


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
