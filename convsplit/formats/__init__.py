"""Outside formats: read records into :class:`~convsplit.Conversation`, write samples out.

Readers (one per format, found by name; ``auto`` decides per record):

- ``openai``: ``{"messages": [...]}`` (also LLaMA-Factory v1 content parts and TRL's
  ``messages``), see :mod:`.openai`;
- ``sharegpt``: ``{"conversations": [{"from", "value"}...]}``, see :mod:`.sharegpt`;
- ``pairs``: prompt/completion (legacy and TRL), alpaca and dictionary pairs, see
  :mod:`.pairs`.

Containers (JSONL, JSON array, concatenated objects; gzip; stdin) are handled by
:mod:`.containers`, which streams and keeps each record's line and original text
(:mod:`.records`); a plain JSONL file can also be read in byte ranges, in parallel, with
:func:`splittable`, :func:`count_range` and :func:`read_range` (:mod:`.jsonl`).

Writers (one JSON line per sample, built from per-message fragments encoded once per
conversation): ``openai``, ``trl``, ``sharegpt``, ``text``, ``prompt_completion``;
``tokens`` writes token ids and loss masks (:mod:`.tokens`). Each is
a :class:`SampleWriter` (:mod:`.protocols`): ``lines(result)`` and ``chunks(result)``.

>>> import io
>>> data = io.BytesIO(b'{"conversations": [{"from": "human", "value": "Hi"}, '
...                   b'{"from": "gpt", "value": "Hello"}]}\\n')
>>> [record.conversation.messages[1].content for record in read_records(data)]
['Hello']
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, fields, is_dataclass
from typing import IO, Any, cast

from convsplit.errors import (
    InvalidConversationError,
    InvalidOptionError,
    UnknownNameError,
    UnsupportedSampleError,
)
from convsplit.formats.builtin import register_builtin
from convsplit.formats.completions import PromptCompletionWriter
from convsplit.formats.containers import MAX_RECORD_BYTES, RawRecord, Source
from convsplit.formats.detect import detect_format
from convsplit.formats.field_names import check_fields, rename_fields
from convsplit.formats.json_text import dumps, parse_json
from convsplit.formats.jsonl import RangeCount, count_range, read_range, splittable
from convsplit.formats.openai import read_openai
from convsplit.formats.openai_writer import OpenAIWriter
from convsplit.formats.pairs import read_pairs
from convsplit.formats.preference_formats import register_preference_formats
from convsplit.formats.protocols import Reader, SampleWriter, as_sample_writer
from convsplit.formats.reading import parse_record
from convsplit.formats.record_fields import check_role_map, sample_metadata
from convsplit.formats.registry import (
    Format,
    WriterFactory,
    format_names,
    formats,
    get_format,
    register_format,
    unregister_format,
    update_format,
)
from convsplit.formats.sharegpt import ShareGPTWriter, read_sharegpt
from convsplit.formats.text import TextWriter
from convsplit.formats.tokens import TokensWriter
from convsplit.formats.trl import TRLWriter
from convsplit.messages import Conversation, StringsEncode
from convsplit.samples import SplitResult

__all__ = [
    "MAX_RECORD_BYTES",
    "OpenAIWriter",
    "PromptCompletionWriter",
    "RangeCount",
    "RawRecord",
    "Reader",
    "Record",
    "SampleWriter",
    "ShareGPTWriter",
    "Source",
    "TRLWriter",
    "TextWriter",
    "TokensWriter",
    "UnsupportedSampleError",
    "as_sample_writer",
    "check_fields",
    "check_role_map",
    "count_range",
    "detect_format",
    "format_names",
    "get_format",
    "get_reader",
    "get_writer",
    "metadata_lines",
    "parse_json",
    "parse_record",
    "read_openai",
    "read_pairs",
    "read_range",
    "read_records",
    "read_sharegpt",
    "reader_for",
    "reader_names",
    "register_format",
    "register_reader",
    "register_writer",
    "rename_fields",
    "sample_metadata",
    "splittable",
    "unregister_format",
    "writer_names",
]


@dataclass(frozen=True)
class Record:
    """One input record, read or rejected.

    Attributes:
        path: the file name as given (``"<stdin>"`` for standard input).
        lineno: the 1-based line the record starts on.
        raw: the record's original text, for a rejects file.
        conversation: set when it parsed.
        error: set when it did not; carries ``path``, ``lineno`` and the ``field``.
    """

    path: str
    lineno: int
    raw: str
    conversation: Conversation | None
    error: InvalidConversationError | None


register_builtin()
register_preference_formats()


class _Table(MutableMapping[str, Any]):
    """The readers or the writer factories of the registered formats, by name: a view of
    the format registry (kept as a mapping for the code that used these tables)."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    def __getitem__(self, name: str) -> Any:
        value = getattr(_format_or_none(name), self.attribute, None)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        update_format(name, **{self.attribute: value})

    def __delitem__(self, name: str) -> None:
        self[name]  # a KeyError for a name without one
        fmt = get_format(name)
        if fmt.reader is None or fmt.writer is None:  # nothing left of it
            unregister_format(name)
        else:
            update_format(name, **{self.attribute: None})

    def __iter__(self) -> Iterator[str]:
        return (fmt.name for fmt in formats() if getattr(fmt, self.attribute) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _format_or_none(name: str) -> Format | None:
    try:
        return get_format(name)
    except UnknownNameError:
        return None


_READERS = _Table("reader")
_WRITERS = _Table("writer")


def register_reader(name: str, reader: Reader) -> None:
    """Make ``input_format=name`` use ``reader``: the reader of format ``name``, which is
    registered (and described by its name) if it is new. To make it detectable, register
    a :class:`Format` with ``detect`` instead (:func:`register_format`).

    >>> register_reader("openai", read_openai)  # replacing a reader works the same way
    >>> get_reader("openai") is read_openai
    True
    """
    if name == "auto":
        raise InvalidOptionError("'auto' is reserved for detecting the format per record")
    _READERS[name] = reader


def reader_names() -> tuple[str, ...]:
    """``"auto"`` then the registered reader names, sorted.

    >>> reader_names()
    ('auto', 'gemini', 'kto', 'openai', 'pairs', 'preference', 'sharegpt')
    """
    return ("auto", *sorted(_READERS))


def get_reader(name: str) -> Reader:
    """The reader registered as ``name``.

    Raises:
        UnknownNameError: listing the known names (``auto`` is not a reader: it picks one).

    >>> get_reader("pairs")({"prompt": "Hi", "completion": " Hello"}).messages[1].content
    ' Hello'
    """
    try:
        return cast(Reader, _READERS[name])
    except KeyError:
        raise UnknownNameError("input format", name, reader_names()) from None


def reader_for(input_format: str) -> Reader | None:
    """The reader an ``input_format`` names; None for ``auto`` (each record detected).

    >>> reader_for("auto") is None, reader_for("openai") is get_reader("openai")
    (True, True)
    """
    return None if input_format == "auto" else get_reader(input_format)


def read_records(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    input_format: str = "auto",
    role_map: Mapping[str, str] | None = None,
    name: str | None = None,
    max_record_bytes: int | None = MAX_RECORD_BYTES,
    fields: Mapping[str, str] | None = None,
) -> Iterator[Record]:
    """Read every record of a file or stream, parsed or rejected, in order.

    Args:
        source: a path (``"-"`` is standard input; gzip is recognised by name or magic
            bytes), or a binary stream.
        input_format: a name from :func:`reader_names`; ``auto`` decides per record.
        role_map: extra role names (``{"bot": "assistant"}``) for every reader.
        name: the file name to report (defaults to the path, or the stream's name).
        max_record_bytes: a record larger than this is rejected unread, its first bytes
            kept, so one huge line cannot exhaust memory (None: no limit).
        fields: the keys that hold each field where they are not its name
            (``{"messages": "dialog"}``, :mod:`.field_names`).

    Returns:
        An iterator of :class:`Record`; a bad record is yielded with its error, never
        dropped and never raised.

    Raises:
        InvalidConversationError: the container is unreadable (it cannot be opened, a gzip
            stream is corrupt), naming the file and line. A JSON array cut off by a
            truncated file is read up to the cut, the record cut being an error.
        UnknownNameError: an unknown ``input_format`` or a role map naming an unknown role.

    >>> import io
    >>> records = list(read_records(io.BytesIO(b'{"messages": []}\\n"hi"\\n'), name="d.jsonl"))
    >>> records[0].conversation.messages
    ()
    >>> str(records[1].error)
    'd.jsonl line 2: expected a JSON object (a conversation); got a string'
    """
    reader = reader_for(input_format)
    roles = check_role_map(role_map)
    names = check_fields(fields)
    with Source.open(source, name=name) as opened:
        path = opened.path
        for raw in opened.records(max_record_bytes=max_record_bytes):
            text = raw.text.decode("utf-8", errors="replace")
            if raw.error is not None:
                error = InvalidConversationError(raw.error, path=path, lineno=raw.lineno)
                yield Record(path, raw.lineno, text, None, error)
                continue
            try:
                with StringsEncode(raw.from_text):  # parse_json has checked its strings
                    conversation = parse_record(
                        raw.value, reader=reader, role_map=roles, fields=names
                    )
            except InvalidConversationError as error:
                located = error.located(path=path, lineno=raw.lineno)
                yield Record(path, raw.lineno, text, None, located)
            else:
                yield Record(path, raw.lineno, text, conversation, None)


def register_writer(name: str, factory: WriterFactory) -> None:
    """Make ``get_writer(name, **options)`` return ``factory(**options)`` (given ``chunks``
    by :func:`as_sample_writer` if it has only ``lines``).

    >>> register_writer("axolotl-segments", lambda: TextWriter(layout="segments"))
    >>> get_writer("axolotl-segments").name
    'text'
    >>> unregister_format("axolotl-segments")
    """
    _WRITERS[name] = factory


def writer_names() -> tuple[str, ...]:
    """The registered writer names, sorted.

    >>> writer_names()
    ('kto', 'openai', 'preference', 'prompt_completion', 'sharegpt', 'text', 'tokens', 'trl')
    """
    return tuple(sorted(_WRITERS))


def get_writer(name: str, **options: Any) -> SampleWriter:
    """The writer registered as ``name``, built with ``options``.

    Raises:
        UnknownNameError: an unknown writer, or an option the writer does not have
            (listing the known ones).

    >>> get_writer("openai", weight_targets=True).name
    'openai'
    >>> get_writer("openai", weights=True)
    Traceback (most recent call last):
    ...
    convsplit.errors.UnknownNameError: unknown openai writer option 'weights'; expected one \
of fill_tool_call_ids, keep_extras, keep_reasoning, metadata, metadata_key, \
parallel_tool_calls, reasoning_key, weight_targets
    """
    try:
        factory = cast(WriterFactory, _WRITERS[name])
    except KeyError:
        raise UnknownNameError("writer", name, writer_names()) from None
    if isinstance(factory, type) and is_dataclass(factory):
        known = [f.name for f in fields(factory) if f.init]
        for option in options:
            if option not in known:
                raise UnknownNameError(f"{name} writer option", option, known)
    return as_sample_writer(factory(**options))


def metadata_lines(result: SplitResult) -> Iterator[bytes]:
    """One JSON line of :func:`sample_metadata` per sample (with its conversation's own
    columns), in the order writers use: a sidecar file whose line ``n`` describes line
    ``n`` of the samples file.

    >>> from convsplit import Budget, Conversation, Message, SplitSpec, split_conversation
    >>> conv = Conversation(messages=(Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello")))
    >>> next(metadata_lines(split_conversation(conv, SplitSpec(Budget(50)))))[:36]
    b'{"conversation_id":null,"conversatio'
    """
    for index, sample in enumerate(result.samples):
        yield dumps(sample_metadata(sample, sample_index=index, columns=True)) + b"\n"
