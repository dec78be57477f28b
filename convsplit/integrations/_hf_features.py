"""The columns of a samples dataset, and how values cross Arrow in each direction.

**Column types are fixed before the map runs.** Arrow needs one type per column, and every
batch of every process must agree. Messages differ in their keys (a tool call here, a
``weight`` there, content parts elsewhere), so inferring a struct from one batch breaks on
the next, and a struct would fill every absent key with ``null`` (which a chat template
reads as present). So every list of messages (and of tool schemas) is one ``Json()`` value
per row: stored as convsplit's writer wrote it and decoded back to the same list of dicts.

It is ``Json()`` over the whole list, not ``List(Json())``, for the step that usually comes
next: TRL's ``maybe_apply_chat_template`` replaces ``prompt`` and ``completion`` with their
rendered text, and ``datasets`` keeps a column's type across a ``map`` where the new values
fit it. A string "fits" ``List(Json())`` as a list of single characters; a ``Json()``
column holds it as the string it is. (A rendered text that is itself valid JSON, such as
``"42"`` from a template that adds nothing around a message, would be read back as that
JSON value; real chat templates add their markers.)

Text columns are strings, ShareGPT's ``tools`` a JSON string (as LLaMA-Factory stores it),
token ids ``List(int32)`` and loss masks ``List(int8)`` (ready for ``SFTTrainer``), and the
optional metadata column a typed struct.

**Nulls that Arrow invented are dropped before reading.** A struct column holds the union
of its rows' keys, with ``null`` where a row had none, and a column missing from a row is
``null`` too. Such keys are removed (only where the input's features say a struct could
have invented them; ``Json`` values are kept as they are) so a row reads like its JSON line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeAlias

import orjson

from convsplit.errors import InvalidOptionError, UnknownNameError
from convsplit.extras import require
from convsplit.formats import get_format
from convsplit.formats.hf_columns import metadata_columns
from convsplit.spec import SplitSpec

# ``datasets`` ships no type information (no ``py.typed``): to mypy its classes are ``Any``
# however they are imported. These names say what is meant without importing it.
Features: TypeAlias = Any
Codec = Callable[[Any], Any]

PURPOSE = "splitting a Hugging Face dataset"
#: The column :func:`split_dataset` adds with ``metadata=True`` (the key the OpenAI writer's
#: inline metadata uses).
METADATA = "metadata"


def datasets_module() -> Any:
    """``datasets``, or an error naming the extra to install."""
    return require("datasets", extra="hf", purpose=PURPOSE)


def metadata_features() -> Features:
    """The struct of :func:`convsplit.formats.sample_metadata`: where a sample came from."""
    ds = datasets_module()
    return ds.Features(metadata_columns(ds))


def sample_features(spec: SplitSpec, *, metadata: bool = False) -> Features:
    """The columns of a samples dataset: the output writer's JSON fields, typed.

    Lists of messages and of tool schemas are ``Json()`` (one JSON list per row, so
    messages may differ in their keys, and a later ``map`` that puts rendered text there,
    as TRL's ``maybe_apply_chat_template`` does, keeps it a string); text is ``string``;
    ShareGPT's ``tools`` is the JSON string LLaMA-Factory reads. A field a sample does not
    have (``tools`` without tools) is ``None``.

    Args:
        spec: the split spec; ``output_format`` and ``writer_options`` decide.
        metadata: add a ``metadata`` struct column (:func:`metadata_features`).

    Returns:
        A ``datasets.Features``, in the order the writer writes its fields.

    Raises:
        InvalidOptionError: a writer convsplit does not know the columns of (pass
            ``features=`` to :func:`~convsplit.integrations.split_dataset`).
        MissingExtraError: ``datasets`` is not installed.
    """
    ds = datasets_module()
    columns = _registered_columns(spec.writer(), ds)
    if metadata and METADATA not in columns:
        columns[METADATA] = metadata_features()
    return ds.Features(columns)


def _registered_columns(writer: Any, ds: Any) -> dict[str, Any]:
    """The columns its format object's ``features`` hook gives for ``writer``.

    Raises:
        InvalidOptionError: no hook knows them (pass ``features=``).
    """
    try:
        hook = get_format(writer.name).features
    except UnknownNameError:
        hook = None
    columns = hook(writer, ds) if hook is not None else None
    if columns is None:
        raise InvalidOptionError(
            f"the columns of writer {writer.name!r} are not known: pass "
            "features=datasets.Features({...}) naming each field it writes "
            "(Json() suits a list of objects)"
        )
    return dict(columns)


def same(value: Any) -> Any:
    """The codec that changes nothing."""
    return value


def row_json(value: object) -> bytes:
    """A value as JSON text: orjson, or the standard library for what orjson does not
    write (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _json_text(value: Any) -> str | None:
    return None if value is None else row_json(value).decode()


def encoder(feature: Any, ds: Any) -> Codec | None:
    """How to hand a writer's value to ``feature`` (``None``: as it is).

    ``datasets`` stores a string given to a ``Json`` feature unchanged when it is valid
    JSON, so each ``Json`` part is given as the writer's own orjson text: exact, where
    ``datasets``' encoder would round floats to 10 digits.
    """
    if isinstance(feature, ds.Json):
        return _json_text
    if isinstance(feature, (ds.List, ds.LargeList)):
        item = encoder(feature.feature, ds)
        return None if item is None else _each(item)
    if isinstance(feature, dict):
        fields = {k: c for k, f in feature.items() if (c := encoder(f, ds)) is not None}
        if not fields:
            return None

        def struct(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            return {k: fields[k](v) if k in fields else v for k, v in value.items()}

        return struct
    return None


def _each(item: Codec) -> Codec:
    """``item`` applied to every element of a list value (other values pass as they are)."""

    def each(value: Any) -> Any:
        return [item(v) for v in value] if isinstance(value, list) else value

    return each


def restorer(feature: Any, ds: Any) -> Codec | None:
    """How to take the nulls Arrow filled in out of a value of ``feature`` (``None``: no
    struct inside, nothing to do). Only a struct invents keys; ``Json`` keeps its nulls."""
    if isinstance(feature, (ds.List, ds.LargeList)):
        item = restorer(feature.feature, ds)
        return None if item is None else _each(item)
    if isinstance(feature, dict):
        fields = {k: c for k, f in feature.items() if (c := restorer(f, ds)) is not None}

        def struct(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            return {
                k: fields[k](v) if k in fields else v for k, v in value.items() if v is not None
            }

        return struct
    return None


def drop_null_columns(row: Any) -> Any:
    """Without features, only the columns: one a record lacks is null in its row."""
    return {k: v for k, v in row.items() if v is not None}
