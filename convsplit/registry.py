"""A registry of strategies by name: how to build each, and the options it declares.

Windows and truncation strategies are found the same way (``get_window("last-turns",
turns=2)``), list their names the same way, and declare the keyword arguments their
factories take, so the command line offers each as a flag for that strategy. Token
counters and chat formats (:mod:`convsplit.tokens.registry`) build on it too, so it sits
beside ``errors`` and ``budget``, below both ``tokens/`` and ``core/``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from convsplit.errors import InvalidOptionError, UnknownNameError

Strategy = TypeVar("Strategy")


@dataclass(frozen=True)
class StrategyOption:
    """An option a registered strategy's factory takes, declared so that the command line
    offers it as a flag (``turns`` -> ``--turns``) for that strategy.

    Attributes:
        name: the factory's keyword argument.
        help: what it sets, for ``--help``.
        type: how the flag's text is read: ``int``, ``float`` or ``str``.
        minimum: the least number accepted (numbers only).
        default: the value the command line passes when the flag is not given, and shows
            in ``--help`` (None: the factory's own default, not shown).
        metavar: the value's placeholder in ``--help`` (default ``N`` for numbers).

    >>> StrategyOption("carry_tokens", "history tokens carried", minimum=0).flag
    '--carry-tokens'
    """

    name: str
    help: str
    type: type[int] | type[float] | type[str] = int
    minimum: int | None = None
    default: int | float | str | None = None
    metavar: str | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise InvalidOptionError(f"a strategy option's name is a keyword; got {self.name!r}")

    @property
    def flag(self) -> str:
        """The command-line flag."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Registered:
    """A registered strategy: how to build it, and the options it takes."""

    factory: Callable[..., Any]
    options: tuple[StrategyOption, ...] = ()


class Registry(Generic[Strategy]):
    """Strategies of one kind (``"window"``), by name.

    >>> registry: Registry[str] = Registry("greeting", {"hi": Registered(lambda: "hi")})
    >>> registry.get("hi"), registry.names()
    ('hi', ('hi',))
    >>> registry.get("yo")
    Traceback (most recent call last):
    ...
    convsplit.errors.UnknownNameError: unknown greeting 'yo'; expected one of hi
    """

    def __init__(self, kind: str, entries: Mapping[str, Registered]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def register(
        self,
        name: str,
        factory: Callable[..., Strategy],
        options: Sequence[StrategyOption] = (),
    ) -> None:
        """Make ``get(name, **options)`` return ``factory(**options)``."""
        self._entries[name] = Registered(factory, tuple(options))

    def names(self) -> tuple[str, ...]:
        """The registered names, sorted."""
        return tuple(sorted(self._entries))

    def options(self, name: str) -> tuple[StrategyOption, ...]:
        """The options the strategy registered as ``name`` declares."""
        return self._registered(name).options

    def get(self, name: str, **options: Any) -> Strategy:
        """The strategy registered as ``name``, built with ``options``.

        Raises:
            UnknownNameError: no strategy is registered as ``name``.
            InvalidOptionError: an option its factory does not take, naming those it does.
        """
        factory = self._registered(name).factory
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # a builtin without one: let the call say
            signature = None
        if signature is not None:
            try:
                signature.bind(**options)
            except TypeError as error:
                takes = [
                    p.name for p in signature.parameters.values()
                    if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "name"
                ]  # fmt: skip
                raise InvalidOptionError(
                    f"{self.kind} {name!r}: {error}; it takes "
                    + (", ".join(takes) if takes else "no options")
                ) from None
        strategy: Strategy = factory(**options)
        return strategy

    def _registered(self, name: str) -> Registered:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries) from None
