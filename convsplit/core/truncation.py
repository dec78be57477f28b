"""Truncation strategies: what of a window's history gives way when it does not fit.

A strategy receives a :class:`~convsplit.core.windows.Request` whose required part (pinned
instructions, the first target's unit up to the last target) is known to fit, and returns
the :class:`Fit`: the blocks of plain messages to keep, and any messages it shortened.
Whole units are dropped, so a context never starts with an assistant reply or a tool
result cut off from its call; instructions are never dropped.

Register your own with :func:`register_truncation`; find one with :func:`get_truncation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from convsplit.budget import Budget
from convsplit.core.layout import Block, Layout
from convsplit.core.windows import Request
from convsplit.messages import Message
from convsplit.registry import Registered, Registry, StrategyOption


@dataclass(frozen=True, slots=True)
class Fit:
    """The history a sample keeps: blocks of plain messages, and shortened messages by index."""

    blocks: tuple[Block, ...]
    replacements: Mapping[int, Message] = field(default_factory=dict)


@runtime_checkable
class TruncationStrategy(Protocol):
    """Chooses the history that fits the budget."""

    @property
    def name(self) -> str:
        """The name it is registered under."""
        ...

    def fit(self, layout: Layout, request: Request, budget: Budget) -> Fit:
        """The history to keep; the request's required part is known to fit."""
        ...


@dataclass(slots=True)
class _Search:
    """The drop-oldest answer, shared by every strategy: the latest start that must go.

    Attributes:
        end: where the request's last target ends.
        lowest, position: the earliest start position the history may reach, and the one
            the search found.
        limit: the tokens the sample may have (the budget, or less under a history cap).
    """

    layout: Layout
    request: Request
    budget: Budget
    end: int
    lowest: int
    position: int
    limit: int

    @classmethod
    def run(cls, layout: Layout, request: Request, budget: Budget) -> _Search:
        end = request.targets[-1] + 1
        lowest = layout.start_position(request.history_start)
        highest = layout.start_position(request.required_start)
        limit = budget.max_tokens
        if request.history_cap is not None:
            required = layout.cost(
                ((request.required_start, end),), request.targets, reserve=budget.reserve_target
            )
            limit = min(limit, required + request.history_cap)

        def fits(start: int) -> bool:
            return cls.cost_of(layout, request, budget, ((start, end),)) <= limit

        guess = layout.guess_start(
            lowest, highest, end, request.targets, reserve=budget.reserve_target, limit=limit
        )
        if layout.exact_guesses:  # the guess is the answer: no need to check it
            position = guess
        else:
            position = layout.earliest(lowest, highest, fits, guess=guess)
        return cls(layout, request, budget, end=end, lowest=lowest, position=position, limit=limit)

    @staticmethod
    def cost_of(
        layout: Layout,
        request: Request,
        budget: Budget,
        blocks: tuple[Block, ...],
        replacements: Mapping[int, Message] | None = None,
    ) -> int:
        return layout.cost(
            blocks, request.targets, reserve=budget.reserve_target, replacements=replacements
        )

    def fits(self, blocks: tuple[Block, ...], replacements: Mapping[int, Message]) -> bool:
        return self.cost_of(self.layout, self.request, self.budget, blocks, replacements) <= (
            self.limit
        )

    @property
    def start(self) -> int:
        return self.layout.starts[self.position]

    @property
    def dropped_nothing(self) -> bool:
        return self.position == self.lowest


@dataclass(frozen=True)
class DropOldest:
    """Drop the oldest whole units until the sample fits (the default).

    The kept history is maximal: adding back the next older unit would exceed the budget.
    """

    name: str = "drop-oldest"

    def fit(self, layout: Layout, request: Request, budget: Budget) -> Fit:
        search = _Search.run(layout, request, budget)
        return Fit(((search.start, search.end),))


@dataclass(frozen=True)
class MiddleOut:
    """Keep the first unit (the task statement) and the most recent units; drop the middle.

    Falls back to drop-oldest when the first unit and the required part do not fit together.
    """

    name: str = "middle-out"

    def fit(self, layout: Layout, request: Request, budget: Budget) -> Fit:
        search = _Search.run(layout, request, budget)
        plain = Fit(((search.start, search.end),))
        highest = layout.start_position(request.required_start)
        if search.dropped_nothing or search.lowest + 1 > highest:
            return plain
        first = (layout.starts[search.lowest], layout.unit_end(search.lowest))
        if not search.fits((first, (request.required_start, search.end)), {}):
            return plain
        position = layout.earliest(
            search.lowest + 1, highest, lambda s: search.fits((first, (s, search.end)), {})
        )
        return Fit((first, (layout.starts[position], search.end)))


@dataclass(frozen=True)
class TruncateContent:
    """Drop the oldest whole units, then fill the rest of the budget with the newest one cut.

    The dropped unit comes back with its oldest text cut at a token boundary and a visible
    marker (``[... 120 tokens truncated ...]``) where the cut is; tool calls stay whole.
    """

    name: str = "truncate-content"

    def fit(self, layout: Layout, request: Request, budget: Budget) -> Fit:
        search = _Search.run(layout, request, budget)
        plain = Fit(((search.start, search.end),))
        if search.dropped_nothing:
            return plain
        unit_start = layout.starts[search.position - 1]
        blocks = ((unit_start, search.end),)
        shortenable = [
            i
            for i in range(unit_start, search.start)
            if not layout.instruction[i] and layout.context_forms[i].text
        ]
        replacements: dict[int, Message] = {}
        for i in shortenable:
            tokens = layout.context_tokens(i)
            replacements[i] = _cut(layout, i, tokens, keep=0)
            if search.fits(blocks, replacements):
                earlier = dict(replacements)

                def fits(cut: Message, i: int = i, earlier: dict[int, Message] = earlier) -> bool:
                    return search.fits(blocks, {**earlier, i: cut})

                replacements[i] = _most_that_fits(layout, i, tokens, fits)
                return Fit(blocks, replacements)
        return plain


def truncation_marker(tokens_cut: int) -> str:
    """The visible marker put where text was cut out of a context message."""
    return f"[... {tokens_cut} tokens truncated ...] "


def _cut(layout: Layout, index: int, tokens: Sequence[int], *, keep: int) -> Message:
    """Message ``index`` (context form) keeping only the last ``keep`` of its ``tokens``.

    Made once per conversation (:attr:`Layout.cuts`): the search for every target that cuts
    the message probes the same first cuts (half the message, a quarter, ...), and the same
    message object is counted from the counter's cache.
    """
    made = layout.cuts.get((index, keep))
    if made is None:
        message = layout.context_forms[index]
        kept = layout.counter.decode(tokens[len(tokens) - keep :]) if keep else ""
        content = truncation_marker(len(tokens) - keep) + kept
        made = layout.cuts[index, keep] = message.model_copy(update={"content": content})
    return made


def _most_that_fits(
    layout: Layout, index: int, tokens: Sequence[int], fits: Callable[[Message], bool]
) -> Message:
    """The cut of message ``index`` keeping the most tokens that still fits (``keep=0`` does).

    ``tokens`` are the message's, encoded once: a long message is not encoded again at every
    step of the search.
    """
    lo, hi = 0, len(tokens) - 1  # keeping everything never fits, or the unit would not be dropped
    best = _cut(layout, index, tokens, keep=0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        candidate = _cut(layout, index, tokens, keep=mid)
        if fits(candidate):
            lo, best = mid, candidate
        else:
            hi = mid - 1
    return best


TruncationFactory = Callable[..., TruncationStrategy]
_TRUNCATIONS: Registry[TruncationStrategy] = Registry(
    "truncation",
    {
        "drop-oldest": Registered(DropOldest),
        "middle-out": Registered(MiddleOut),
        "truncate-content": Registered(TruncateContent),
    },
)


def register_truncation(
    name: str, factory: TruncationFactory, *, options: Sequence[StrategyOption] = ()
) -> None:
    """Make ``get_truncation(name, **options)`` return ``factory(**options)``.

    ``options`` are the keyword arguments ``factory`` takes that the command line offers as
    flags (``--truncation NAME --OPTION VALUE``); without them the command line builds it
    with no arguments.
    """
    _TRUNCATIONS.register(name, factory, options)


def truncation_names() -> tuple[str, ...]:
    """The registered truncation names, sorted."""
    return _TRUNCATIONS.names()


def truncation_options(name: str) -> tuple[StrategyOption, ...]:
    """The options the truncation strategy registered as ``name`` declares.

    >>> truncation_options("drop-oldest")
    ()

    Raises:
        UnknownNameError: listing the known names.
    """
    return _TRUNCATIONS.options(name)


def get_truncation(name: str, **options: Any) -> TruncationStrategy:
    """The truncation strategy registered as ``name``, built with ``options``.

    >>> get_truncation("middle-out")
    MiddleOut(name='middle-out')

    Raises:
        UnknownNameError: listing the known names.
    """
    return _TRUNCATIONS.get(name, **options)
