"""What a reader and a writer of an outside format are: the two protocols every format fills
in, and the one place a writer written before ``chunks`` existed is given it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

from convsplit.errors import InvalidOptionError
from convsplit.messages import Conversation
from convsplit.samples import SplitResult


@runtime_checkable
class Reader(Protocol):
    """Parses one JSON record of a format into a Conversation."""

    def __call__(
        self, record: object, *, role_map: Mapping[str, str] | None = None
    ) -> Conversation:
        """Raises InvalidConversationError naming the message and field."""
        ...


@runtime_checkable
class SampleWriter(Protocol):
    """Writes the samples of one conversation as JSON lines of one outside format.

    Every writer has :meth:`lines` and :meth:`chunks`; a writer that subclasses this
    protocol gets ``chunks`` from it (the lines themselves), and one registered without it
    is given it by :func:`as_sample_writer`, so callers never ask which a writer has.
    """

    @property
    def name(self) -> str:
        """The name it is registered under."""
        ...

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample, ``b"\\n"``-terminated, in sample order."""
        ...

    def chunks(self, result: SplitResult) -> Iterator[bytes]:
        """The bytes of :meth:`lines` in pieces that a caller writes as they come.

        A writer whose lines share pieces (each sample repeats its history) hands them out
        unjoined, which saves copying every line (:meth:`OpenAIWriter.chunks` does); by
        default the pieces are the lines.
        """
        return self.lines(result)


def as_sample_writer(writer: object) -> SampleWriter:
    """``writer`` as a full :class:`SampleWriter`: as it is when it is one, else wrapped so
    that its ``chunks`` are its lines.

    Raises:
        InvalidOptionError: ``writer`` has no ``lines`` method.

    >>> class Upper:
    ...     name = "upper"
    ...     def lines(self, result):
    ...         return iter([b"HI\\n"])
    >>> list(as_sample_writer(Upper()).chunks(None))
    [b'HI\\n']
    """
    if isinstance(writer, SampleWriter):
        return writer
    if not callable(getattr(writer, "lines", None)) or not hasattr(writer, "name"):
        raise InvalidOptionError(
            f"a writer needs a name and a lines(result) method; got {type(writer).__name__}"
        )
    return _LinesOnly(cast(_HasLines, writer))


class _HasLines(Protocol):
    @property
    def name(self) -> str: ...

    def lines(self, result: SplitResult) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class _LinesOnly(SampleWriter):
    """A writer that only has ``lines``, with the protocol's ``chunks``."""

    inner: _HasLines

    @property
    def name(self) -> str:
        return self.inner.name

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        return self.inner.lines(result)
