"""Errors raised by convsplit.

Every error convsplit raises on purpose is a :class:`ConvsplitError`, so a pipeline can
catch one class and let real bugs through::

    ConvsplitError
    ├── InvalidConversationError   (also ValueError) a record is not a valid conversation
    ├── InvalidOptionError         (also ValueError, TypeError) an option of the wrong type
    │                                 or value
    ├── UnknownNameError           (also KeyError)   no strategy/tokenizer/format by that name
    ├── TokenizerDataError         (also RuntimeError) vocabulary file missing or corrupt
    ├── ChatFormatError            (also ValueError) a format cannot render these messages
    │   └── UnsupportedSampleError   a writer's format cannot mark this sample's targets
    ├── TargetTooLongError         (also ValueError) on_long_target="error" met a long target
    ├── OutputError                (also OSError) an output file could not be written
    ├── WorkerError                (also RuntimeError) a worker process died
    └── MissingExtraError          (also ImportError) an optional dependency is not installed
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OptionHint:
    """A setting of one option that would avoid an error, kept as data beside the message so
    that each interface words it in its own syntax: ``str()`` is the library's keyword
    argument, the command line words it as the flag that sets the option.

    Attributes:
        option: the library's keyword (a :class:`~convsplit.spec.SplitSpec` field).
        values: the settings that would do, as alternatives; ``KEY=VALUE`` for an option
            that maps keys to values; none: any value. ``<field>`` marks a placeholder.
        mapping: the option maps keys to values (``role_map``, ``writer_options``).

    >>> str(OptionHint("on_long_target", ("skip", "truncate")))
    "on_long_target='skip' or 'truncate'"
    >>> str(OptionHint("role_map", ("bot=assistant",), mapping=True))
    "role_map={'bot': 'assistant'}"
    """

    option: str
    values: tuple[str, ...] = ()
    mapping: bool = False

    def __str__(self) -> str:
        if not self.values:
            return f"{self.option}=..."
        if self.mapping:
            pairs = (value.partition("=") for value in self.values)
            shown = [f"{{{key!r}: {value!r}}}" for key, _, value in pairs]
        else:
            shown = [repr(value) for value in self.values]
        return f"{self.option}={' or '.join(shown)}"


class ConvsplitError(Exception):
    """Base class of every error convsplit raises on purpose.

    ``hints``: the option settings its message suggests (each worded in the message as its
    ``str()``), so that the command line can word them as flags.
    """

    hints: tuple[OptionHint, ...] = ()

    def __init__(self, *args: object, hints: Iterable[OptionHint] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # ImportError's name=, for MissingExtraError
        if hints:
            self.hints = tuple(hints)


class InvalidConversationError(ConvsplitError, ValueError):
    """A record that cannot be read as a conversation.

    The message names where the problem is (message index and field) and what was expected;
    ``path`` and ``lineno`` are filled in by readers that know the file.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        lineno: int | None = None,
        field: str | None = None,
        hints: Iterable[OptionHint] = (),
    ) -> None:
        self.reason = message
        self.path = path
        self.lineno = lineno
        self.field = field
        super().__init__(message, hints=hints)

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.lineno is None else f"{self.path} line {self.lineno}"
        elif self.lineno is not None:
            where = f"line {self.lineno}"
        return f"{where}: {self.reason}" if where else self.reason

    def located(self, *, path: str | None, lineno: int | None) -> InvalidConversationError:
        """The same error, placed in a file and line."""
        return InvalidConversationError(
            self.reason, path=path, lineno=lineno, field=self.field, hints=self.hints
        )


class InvalidOptionError(ConvsplitError, ValueError, TypeError):
    """A library option of the wrong type or out of range; the message names the option and
    what it accepts.

    Both a ``ValueError`` and a ``TypeError``: code that caught either from these options
    before they were checked keeps working.
    """


class UnknownNameError(ConvsplitError, KeyError):
    """A name that no registry knows; the message lists the names it does know."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(f"unknown {kind} {name!r}; expected one of {', '.join(self.known)}")

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        """Made again from its own arguments: a process pool can send it back."""
        return type(self), (self.kind, self.name, self.known), self.__dict__


class TokenizerDataError(ConvsplitError, RuntimeError):
    """A tokenizer's vocabulary could not be found offline, or failed its checksum."""


class ChatFormatError(ConvsplitError, ValueError):
    """A chat format cannot render (and so cannot count) the given messages exactly."""


class UnsupportedSampleError(ChatFormatError):
    """A writer's format cannot say which messages of this sample are trained."""


class TargetTooLongError(ConvsplitError, ValueError):
    """An assistant turn does not fit the budget and ``on_long_target="error"`` was chosen."""


class StrategyError(ConvsplitError, RuntimeError):
    """A window or truncation strategy broke its contract (an assistant turn planned twice or
    never, a sample over the budget or without its own turn); the message names it. Checked
    on every conversation, so a user's strategy cannot write wrong samples unnoticed."""


class OutputError(ConvsplitError, OSError):
    """An output file could not be created, written or put in place (full disk, no folder)."""


class WorkerError(ConvsplitError, RuntimeError):
    """A worker process died (killed, out of memory); the run stops rather than hang."""


class MissingExtraError(ConvsplitError, ImportError):
    """An optional dependency is not installed; the message names the ``pip install`` to run.

    Also an :class:`ImportError`, so code that already guards an import keeps working.
    """

    def __init__(self, module: str, *, extra: str, purpose: str | None = None) -> None:
        self.module = module
        self.extra = extra
        self.purpose = purpose
        self.install = f"pip install 'convsplit[{extra}]'"
        needed = f" ({purpose} needs it)" if purpose else ""
        super().__init__(f"{module} is not installed{needed}; run: {self.install}", name=module)

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        """Made again from its own arguments: a process pool can send it back."""
        made = functools.partial(type(self), extra=self.extra, purpose=self.purpose)
        return made, (self.module,), self.__dict__
