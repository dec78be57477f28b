"""The token budget a sample must fit."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """How many tokens a sample may have.

    Args:
        max_tokens: the context window a sample must fit, template tokens included.
        reserve_target: count every target as at least this many tokens, so the context
            leaves room for a reply of that length (as serving will).
        min_context: where history had to be cut, skip a sample left with fewer context
            tokens than this (reason ``too_little_context``) rather than train on a stub.

    >>> Budget(4096)
    Budget(max_tokens=4096, reserve_target=0, min_context=0)
    """

    max_tokens: int
    reserve_target: int = 0
    min_context: int = 0

    def __post_init__(self) -> None:
        if self.max_tokens <= 0:
            raise ValueError(f"max_tokens must be positive; got {self.max_tokens}")
        if not 0 <= self.reserve_target <= self.max_tokens:
            raise ValueError(
                f"reserve_target must be between 0 and max_tokens ({self.max_tokens}); "
                f"got {self.reserve_target}"
            )
        if self.min_context < 0:
            raise ValueError(f"min_context must be >= 0; got {self.min_context}")
