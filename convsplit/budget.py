"""The token budget a sample must fit."""

from __future__ import annotations

import numbers
import reprlib
from dataclasses import dataclass

from convsplit.errors import InvalidOptionError


def check_count(
    option: str,
    value: object,
    *,
    minimum: int,
    maximum: int | None = None,
    maximum_is: str | None = None,
) -> int:
    """``value`` as an ``int`` if it is a whole number (not a bool) in ``[minimum, maximum]``.

    Args:
        option: the option's name, as the caller spells it (``"Budget max_tokens"``).
        value: what the caller passed.
        minimum, maximum: the accepted range (``maximum`` None: no upper bound).
        maximum_is: what ``maximum`` stands for, shown beside it (``"max_tokens"``).

    Returns:
        The value as a plain ``int`` (a NumPy integer becomes one).

    Raises:
        InvalidOptionError: naming ``option``, the accepted range and what was given.

    >>> check_count("Budget max_tokens", "100", minimum=1)
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: Budget max_tokens must be an int >= 1; got str '100'
    """
    if maximum is None:
        accepted = f"an int >= {minimum}"
    else:
        accepted = f"an int from {minimum} to {maximum}"
        accepted += f" ({maximum_is})" if maximum_is else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidOptionError(f"{option} must be {accepted}; got {describe(value)}")
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        raise InvalidOptionError(f"{option} must be {accepted}; got {number}")
    return number


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


def describe(value: object) -> str:
    """A wrong value for an error message: its type, and its repr cut short.

    >>> describe("4096"), describe(None), describe(list(range(100)))
    ("str '4096'", 'None', 'list [0, 1, 2, 3, 4, 5, ...]')
    """
    shown = _SHORT.repr(value)
    kind = type(value).__name__
    return shown if value is None or shown.startswith(kind) else f"{kind} {shown}"


@dataclass(frozen=True)
class Budget:
    """How many tokens a sample may have.

    Args:
        max_tokens: the context window a sample must fit, template tokens included.
        reserve_target: count every target as at least this many tokens, so the context
            leaves room for a reply of that length (as serving will).
        min_context: where history had to be cut, skip a sample left with fewer context
            tokens than this (reason ``too_little_context``) rather than train on a stub.

    Raises:
        InvalidOptionError: a value that is not a whole number, or out of its range
            (``max_tokens`` >= 1, ``reserve_target`` from 0 to ``max_tokens``,
            ``min_context`` >= 0).

    >>> Budget(4096)
    Budget(max_tokens=4096, reserve_target=0, min_context=0)
    >>> Budget(4096, reserve_target=5000)
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: Budget reserve_target must be an int from 0 to 4096 \
(max_tokens); got 5000
    """

    max_tokens: int
    reserve_target: int = 0
    min_context: int = 0

    def __post_init__(self) -> None:
        max_tokens = check_count("Budget max_tokens", self.max_tokens, minimum=1)
        checked = {
            "max_tokens": max_tokens,
            "reserve_target": check_count(
                "Budget reserve_target",
                self.reserve_target,
                minimum=0,
                maximum=max_tokens,
                maximum_is="max_tokens",
            ),
            "min_context": check_count("Budget min_context", self.min_context, minimum=0),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: normalised once, here
