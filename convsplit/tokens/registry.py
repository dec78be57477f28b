"""The registry of token counters and chat formats: :class:`~convsplit.registry.Registry`
that builds each name once and shares it.

Windows and truncation strategies are small values: their registry builds a new one on
every call, with the options given, and they pickle by value. A counter or a chat format
is a costly resource (a vocabulary, a compiled template and its caches) that pickles by
its name, as tiktoken's ``Encoding`` does; so each name is built once, lazily, and the
same instance is returned for the life of the process: that is what lets a name alone
find it again (:meth:`SharedRegistry.is_shared`). Names with a prefix (``hf:``) are built
by the module that owns them, imported only when such a name is asked for.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from convsplit.errors import ConvsplitError, InvalidOptionError, UnknownNameError
from convsplit.registry import Registered, Registry, StrategyOption

Shared = TypeVar("Shared")


class SharedRegistry(Registry[Shared]):
    """A :class:`~convsplit.registry.Registry` whose names are built once and shared.

    Args:
        kind: what it holds (``"chat format"``), for the unknown-name error.
        entries: the names registered at first, each with its factory (no options).
        prefixes: name prefixes (``"hf:"``) whose instances another module builds,
            ``"module:function"``, called with the whole name the first time it is asked.
        unknown: what to do with a name neither registered nor prefixed: return the name
            it stands for (an OpenAI model's encoding), or raise; by default the error
            lists the registered names and ``placeholders`` (``"hf:<folder>"``).

    >>> registry: SharedRegistry[list[int]]
    >>> registry = SharedRegistry("list", {"one": Registered(lambda: [1])})
    >>> registry.get("one") is registry.get("one")
    True
    >>> registry.get("two")
    Traceback (most recent call last):
    ...
    convsplit.errors.UnknownNameError: unknown list 'two'; expected one of one
    """

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, Registered],
        *,
        prefixes: Mapping[str, str] | None = None,
        unknown: Callable[[str], str] | None = None,
        placeholders: Sequence[str] = (),
    ) -> None:
        super().__init__(kind, entries)
        self.prefixes: Mapping[str, str] = dict(prefixes or {})
        self._unknown = unknown
        self._placeholders = tuple(placeholders)
        self._instances: dict[str, Shared] = {}
        # Reentrant: building one name may ask this registry for another (a model's encoding).
        self._lock = threading.RLock()

    def register(
        self,
        name: str,
        factory: Callable[..., Shared],
        options: Sequence[StrategyOption] = (),
    ) -> None:
        """Make ``get(name)`` return what ``factory()`` builds (called once, lazily)."""
        if options:
            raise InvalidOptionError(
                f"a shared {self.kind} is built once, without options; got {len(options)}"
            )
        with self._lock:
            super().register(name, factory)
            self._instances.pop(name, None)

    def get(self, name: str, **options: Any) -> Shared:
        """The one instance of ``name``, built the first time it is asked for."""
        if options:
            raise InvalidOptionError(
                f"a shared {self.kind} is built once, without options; got "
                + ", ".join(sorted(options))
            )
        with self._lock:
            instance = self._instances.get(name)
            if instance is None:
                instance = self._instances[name] = self._build(name)
            return instance

    def _build(self, name: str) -> Shared:
        if name in self._entries:
            built: Shared = self._entries[name].factory()
            return built
        prefix = next((p for p in self.prefixes if name.startswith(p)), None)
        if prefix is not None:
            module, _, function = self.prefixes[prefix].partition(":")
            loader: Callable[[str], Shared] = getattr(importlib.import_module(module), function)
            return loader(name)
        target = None if self._unknown is None else self._unknown(name)
        if target is None or target not in self._entries:
            raise UnknownNameError(self.kind, name, [*self._entries, *self._placeholders])
        return self.get(target)  # the name it stands for, shared with it

    def is_shared(self, instance: object, name: str) -> bool:
        """Whether ``instance`` is what ``get(name)`` returns, so that its name alone finds it
        again (how counters and chat formats pickle). A name registered but not built yet
        is built to see (its factory may return this very instance, built beforehand)."""
        with self._lock:
            if self._instances.get(name) is instance:
                return True
            if name not in self._entries or name in self._instances:
                return False
        try:
            return self.get(name) is instance
        except ConvsplitError:
            return False
