"""The registry of outside formats: one :class:`Format` object per shape of data, which owns
everything convsplit knows about it.

A format object holds how to recognise a record of its shape (``detect`` with a
``priority``), how to read one (``reader``), what ``validate`` checks in a record as
written (``check``), how samples are written (``writer``), a one-line ``description`` and
an ``example`` for listings, and a ``features`` hook for Hugging Face columns. Registering
one (:func:`register_format`) makes it detectable, readable, writable and listable at once:
nothing else names formats. ``register_reader`` / ``register_writer`` in
:mod:`convsplit.formats` are views of this registry.

A module that adds a format (preference data, say) builds a :class:`Format` and registers
it; detection tries formats from the highest ``priority`` down, so a shape that is a
special case of another (``conversations`` plus ``chosen``/``rejected``) takes a higher
priority than the general one (``conversations``, 20).

>>> from convsplit.formats.pairs import read_pairs
>>> fmt = Format(name="qa", description="question and answer",
...              reader=read_pairs, detect=lambda record, roles: "question" in record,
...              priority=15, detect_hint="'question' (qa)")
>>> register_format(fmt)
>>> detecting(), get_format("qa").description
(('openai', 'sharegpt', 'gemini', 'qa', 'pairs'), 'question and answer')
>>> unregister_format("qa")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from convsplit.errors import InvalidOptionError, OptionHint, UnknownNameError
from convsplit.formats.protocols import Reader

WriterFactory = Callable[..., object]
"""Builds a writer from its options: a :class:`~convsplit.formats.SampleWriter`, or any
object with a ``name`` and ``lines(result)`` (:func:`~convsplit.formats.get_writer` gives it
``chunks``)."""

Detector = Callable[[Mapping[str, Any], Mapping[str, str]], bool]
"""``detect(record, role_map)``: whether a JSON object (already renamed to the canonical
field names) is of this format."""

IssueSeverity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class StructureIssue:
    """One problem a format's structural check finds in a record as written; ``validate``
    turns it into a finding of the same ``code`` (``severity`` None: the code's own).

    ``index`` counts the messages as written in the record; ``hints`` are the option
    settings ``message`` suggests, each worded there as its ``str()``.
    """

    code: str
    message: str
    index: int | None = None
    field: str | None = None
    severity: IssueSeverity | None = None
    hints: tuple[OptionHint, ...] = ()


Checker = Callable[[Mapping[str, Any], Mapping[str, str]], Iterator[StructureIssue]]
"""``check(record, role_map)``: the structural problems of a record of this format."""


@dataclass(frozen=True, kw_only=True)
class Format:
    """Everything convsplit knows about one outside format.

    Attributes:
        name: what ``input_format`` / ``output_format`` (``--from`` / ``--to``) call it.
        description: one line, for ``convsplit formats`` and error messages.
        example: a short example record (JSON text) of the format.
        reader: parses one record (None: the format is written, not read).
        writer: builds its writer from the writer options (None: read only).
        detect: whether a record is of this format (None: chosen only by name).
        priority: detection order, highest first (ties: by name).
        detect_hint: the keys that make a record this format, as the "cannot tell the
            format" error lists them (``"'messages' (openai)"``).
        check: structural checks for ``validate`` of a record as written.
        reads_back: the format whose reader reads this format's output (``trl`` output
            is read by ``pairs``); defaults to ``name`` where it has a reader.
        features: a hook for the Hugging Face integration: given the writer and the
            ``datasets`` module, the columns the writer writes (a mapping of name to
            feature), or None where it cannot tell.
        alternates: its trainers need user and assistant turns to alternate (validate
            reports consecutive same-side turns when writing it).
    """

    name: str
    description: str
    example: str = ""
    reader: Reader | None = None
    writer: WriterFactory | None = None
    detect: Detector | None = None
    priority: int = 0
    detect_hint: str = ""
    check: Checker | None = None
    reads_back: str | None = None
    features: Callable[[Any, Any], Mapping[str, Any] | None] | None = field(
        default=None, compare=False
    )
    alternates: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name == "auto":
            raise InvalidOptionError(
                f"a format needs a name other than 'auto' (reserved for detecting the format "
                f"per record); got {self.name!r}"
            )


_FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> None:
    """Add ``fmt`` (or replace the format of its name): it is read, written, detected and
    listed from now on.

    Raises:
        InvalidOptionError: ``fmt`` is not a :class:`Format`.
    """
    if not isinstance(fmt, Format):
        raise InvalidOptionError(f"register_format takes a Format; got {type(fmt).__name__}")
    _FORMATS[fmt.name] = fmt


def unregister_format(name: str) -> None:
    """Remove the format ``name`` (a test's or a plugin's); unknown names are ignored."""
    _FORMATS.pop(name, None)


def update_format(name: str, **changes: Any) -> None:
    """Set some attributes of format ``name``, creating it (described by its name) if it is
    not registered: how ``register_reader`` and ``register_writer`` add to the registry."""
    current = _FORMATS.get(name) or Format(name=name, description=f"{name} (registered)")
    _FORMATS[name] = replace(current, **changes)


def get_format(name: str) -> Format:
    """The format registered as ``name``.

    Raises:
        UnknownNameError: listing the known names.

    >>> get_format("trl").reads_back
    'pairs'

    """
    try:
        return _FORMATS[name]
    except KeyError:
        raise UnknownNameError("format", name, sorted(_FORMATS)) from None


def format_names() -> tuple[str, ...]:
    """Every registered format, sorted (readers, writers or both).

    >>> format_names()[:5]
    ('gemini', 'kto', 'openai', 'pairs', 'preference')
    """
    return tuple(sorted(_FORMATS))


def formats() -> Iterable[Format]:
    """The registered formats, sorted by name."""
    return [_FORMATS[name] for name in sorted(_FORMATS)]


def detecting() -> tuple[str, ...]:
    """The names of the formats detection tries, in the order it tries them.

    >>> detecting()
    ('openai', 'sharegpt', 'gemini', 'pairs')
    """
    found = [fmt for fmt in _FORMATS.values() if fmt.detect is not None and fmt.reader]
    found.sort(key=lambda fmt: (-fmt.priority, fmt.name))
    return tuple(fmt.name for fmt in found)
