"""Windowing strategies: which messages a sample trains, and how far back its history may go.

A window turns a laid-out conversation into :class:`Request` s: the targets of one sample,
the unit that must be kept whole (the one holding the first target), the earliest unit
the history may reach back to, and an optional cap on history tokens. A truncation
strategy then decides what of that history fits.

Register your own with :func:`register_window`; find one by name with :func:`get_window`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from convsplit.budget import Budget, check_count
from convsplit.core.layout import Layout
from convsplit.registry import Registered, Registry, StrategyOption


@dataclass(frozen=True)
class Request:
    """One sample to build: its targets and the history it may draw on.

    Attributes:
        targets: indices of the assistant messages it trains, ascending.
        required_start: start of the unit holding the first target; kept whole.
        history_start: the earliest window start the history may reach back to.
        history_cap: at most this many tokens of history before ``required_start``.
    """

    targets: tuple[int, ...]
    required_start: int
    history_start: int
    history_cap: int | None = None


@runtime_checkable
class WindowStrategy(Protocol):
    """Plans the samples of one conversation."""

    @property
    def name(self) -> str:
        """The name it is registered under."""
        ...

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        """One request per sample, covering each of ``targets`` (trainable) exactly once."""
        ...


@dataclass(frozen=True)
class FullHistory:
    """One sample per target, with as much of the whole history as fits (the default).

    >>> FullHistory().name
    'full'
    """

    name: str = "full"

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        first = layout.starts[0] if layout.starts else 0
        for t in targets:
            start = layout.unit_start(t)
            if start is not None:
                yield Request((t,), required_start=start, history_start=first)


@dataclass(frozen=True)
class LastTurns:
    """One sample per target, with at most ``turns`` user turns (the target's own included).

    Trains on the context length production will see when it keeps only recent turns.

    Raises:
        InvalidOptionError: ``turns`` is not a whole number >= 1.

    >>> LastTurns(turns=0)
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: LastTurns turns must be an int >= 1; got 0
    """

    turns: int = 4
    name: str = "last-turns"

    def __post_init__(self) -> None:
        turns = check_count("LastTurns turns", self.turns, minimum=1)
        object.__setattr__(self, "turns", turns)  # frozen: normalised once, here

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        for t in targets:
            start = layout.unit_start(t)
            if start is None:
                continue
            k = layout.start_position(start)
            earliest = layout.starts[max(0, k - self.turns + 1)]
            yield Request((t,), required_start=start, history_start=earliest)


@dataclass(frozen=True)
class Chunks:
    """Several targets per sample: every assistant message trained exactly once.

    A chunk grows unit by unit while it fits; all assistant messages in it are targets.
    The next chunk starts at the next unit and may carry up to ``carry_tokens`` of earlier
    units as untrained context. A unit too long for any chunk falls back to one sample per
    target. The last chunk is always emitted: no final round is lost.

    Raises:
        InvalidOptionError: ``carry_tokens`` is not a whole number >= 0.
    """

    carry_tokens: int = 0
    name: str = "chunks"

    def __post_init__(self) -> None:
        carry = check_count("Chunks carry_tokens", self.carry_tokens, minimum=0)
        object.__setattr__(self, "carry_tokens", carry)  # frozen: normalised once, here

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        starts = layout.starts
        if not starts:
            return
        by_unit: list[list[int]] = [[] for _ in starts]
        for t in targets:
            start = layout.unit_start(t)
            if start is not None:
                by_unit[layout.start_position(start)].append(t)
        cap = self.carry_tokens

        def fits(chunk: list[int], start: int, room: int) -> bool:
            end = chunk[-1] + 1
            cost = layout.cost(((start, end),), chunk, reserve=budget.reserve_target)
            return cost + room <= budget.max_tokens

        k = 0
        while k < len(starts):
            if not by_unit[k]:
                k += 1
                continue
            start = starts[k]
            room = self._carry_room(layout, k)
            if room and not fits(by_unit[k], start, room):
                room = 0
            if not fits(by_unit[k], start, room):
                for t in by_unit[k]:
                    yield Request((t,), start, starts[0], cap)
                k += 1
                continue
            chunk = list(by_unit[k])
            j = k + 1
            while j < len(starts) and (not by_unit[j] or fits(chunk + by_unit[j], start, room)):
                chunk += by_unit[j]
                j += 1
            yield Request(tuple(chunk), start, starts[0], cap)
            k = j

    def _carry_room(self, layout: Layout, position: int) -> int:
        """Tokens of whole units, newest first, that fit in ``carry_tokens`` before a chunk."""
        if not self.carry_tokens or position == 0:
            return 0
        end = layout.starts[position]
        used = 0
        for k in range(position - 1, -1, -1):
            cost = layout.plain_tokens(layout.starts[k], end)
            if cost > self.carry_tokens:
                break
            used = cost
        return used


WindowFactory = Callable[..., WindowStrategy]
_TURNS = StrategyOption(
    "turns", "turns kept, the target's included", minimum=1, default=4, metavar="K"
)
_CARRY = StrategyOption(
    "carry_tokens", "history tokens carried into each chunk", minimum=0, default=0
)
_WINDOWS: Registry[WindowStrategy] = Registry(
    "window",
    {
        "full": Registered(FullHistory),
        "last-turns": Registered(LastTurns, (_TURNS,)),
        "chunks": Registered(Chunks, (_CARRY,)),
    },
)


def register_window(
    name: str, factory: WindowFactory, *, options: Sequence[StrategyOption] = ()
) -> None:
    """Make ``get_window(name, **options)`` return ``factory(**options)``.

    ``options`` are the keyword arguments ``factory`` takes that the command line offers as
    flags (``--window NAME --OPTION VALUE``); without them the command line builds it with
    no arguments.
    """
    _WINDOWS.register(name, factory, options)


def window_names() -> tuple[str, ...]:
    """The registered window names, sorted."""
    return _WINDOWS.names()


def window_options(name: str) -> tuple[StrategyOption, ...]:
    """The options the window registered as ``name`` declares.

    >>> [option.flag for option in window_options("last-turns")]
    ['--turns']

    Raises:
        UnknownNameError: listing the known names.
    """
    return _WINDOWS.options(name)


def get_window(name: str, **options: Any) -> WindowStrategy:
    """The window strategy registered as ``name``, built with ``options``.

    >>> get_window("last-turns", turns=2)
    LastTurns(turns=2, name='last-turns')

    Raises:
        UnknownNameError: listing the known names.
    """
    return _WINDOWS.get(name, **options)
