"""Requests in, samples out: one sample's messages and costs under one budget.

The window strategy says which targets a sample has and how far back its history may go
(:class:`~convsplit.core.windows.Request`); the truncation strategy makes the history fit;
this puts the sample together, or records why a target has none (too long even alone, or
too little context left), with the long-target policy's error or cut.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from convsplit.budget import Budget
from convsplit.core.layout import Block, Layout
from convsplit.core.truncation import Fit, TruncationStrategy
from convsplit.core.windows import Request
from convsplit.errors import OptionHint, StrategyError, TargetTooLongError
from convsplit.messages import Message
from convsplit.samples import Sample, SkipReason, TurnOutcome, record_columns, trusted
from convsplit.spec import OnLongTarget


class SampleBuilder:
    """Turns requests into samples under one budget and long-target policy."""

    def __init__(
        self,
        layout: Layout,
        budget: Budget,
        on_long_target: OnLongTarget,
        index: int,
        original: Sequence[int] | None = None,
    ) -> None:
        self.layout = layout
        self.original = original
        self.budget = budget
        self.on_long_target = on_long_target
        self.conversation_index = index
        first_user = layout.first_user or 0
        self._preamble = sum(1 for i in range(first_user) if not layout.instruction[i])
        self._columns = record_columns(layout.conversation)  # the same for every sample

    def build(
        self, request: Request, truncation: TruncationStrategy
    ) -> Iterator[Sample | TurnOutcome]:
        layout, budget = self.layout, self.budget
        required: tuple[Block, ...] = ((request.required_start, request.targets[-1] + 1),)
        cost = layout.cost(required, request.targets, reserve=budget.reserve_target)
        if cost <= budget.max_tokens:
            fit = truncation.fit(layout, request, budget)
            yield from self._finish(request, fit, f"truncation strategy {truncation.name!r}")
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
            name = self._name()
            at = target if self.original is None else self.original[target]
            hint = OptionHint("on_long_target", ("skip", "truncate"))
            parts = layout.needs(target, reserve=budget.reserve_target)
            listed = ", ".join(f"{part} {n}" for part, n in parts.items())
            raise TargetTooLongError(
                f"conversation {name}: message {at} needs {cost} tokens with its turn "
                f"and pinned messages ({listed}); max_tokens is {budget.max_tokens} "
                f"(use {hint})",
                hints=[hint],
            )
        cut = self._cut_target(target, required) if self.on_long_target == "truncate" else None
        if cut is None:
            yield trusted(TurnOutcome, message_index=target, reason=SkipReason.TARGET_TOO_LONG)
        else:
            yield from self._finish(request, Fit(required, {target: cut}), "the target's cut")

    def _name(self) -> str:
        return self.layout.conversation.id or f"#{self.conversation_index}"

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

    def _finish(self, request: Request, fit: Fit, by: str) -> Iterator[Sample | TurnOutcome]:
        """The sample of ``fit`` (made ``by`` a strategy), or the outcome of its targets."""
        layout = self.layout
        targets = request.targets
        replacements = fit.replacements
        indices, messages = layout.select(fit.blocks)
        end = targets[-1] + 1
        kept = bisect_left(indices, end) - bisect_left(indices, request.required_start)
        if kept != end - request.required_start:
            raise StrategyError(
                f"{by} left out part of the turn a sample must keep whole (messages "
                f"{request.required_start}..{end - 1}) in conversation {self._name()}"
            )
        for t in targets:
            messages[bisect_left(indices, t)] = layout.messages[t]
        truncated = sorted(bisect_left(indices, i) for i in replacements) if replacements else []
        for k in truncated:
            messages[k] = replacements[indices[k]]
        total = layout.cost(fit.blocks, targets, replacements=replacements)
        if total > self.budget.max_tokens:
            raise StrategyError(
                f"{by} kept {total:,} tokens for a sample of conversation {self._name()}; "
                f"max_tokens is {self.budget.max_tokens:,}"
            )
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
            source_indices=tuple(
                indices if self.original is None else map(self.original.__getitem__, indices)
            ),
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
            columns=self._columns,
        )
