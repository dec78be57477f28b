"""JSON as convsplit reads and writes it: one parser (with a depth limit, and exact integers
beyond 64 bits), one encoder, the pieces writers join lines from, and the words error
messages use for JSON values and problems."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import orjson

from convsplit.messages import MAX_JSON_DEPTH, too_deep_at

# orjson reads integers beyond 64 bits as floats; 19 digits in a row may be one of them.
_LONG_NUMBER = re.compile(r"[0-9]{19,}")
_LONG_NUMBER_BYTES = re.compile(rb"[0-9]{19,}")


def json_type(value: object) -> str:
    """How JSON would call the type of ``value`` (for error messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class JSONTooDeepError(orjson.JSONDecodeError):
    """JSON nested deeper than :data:`~convsplit.messages.MAX_JSON_DEPTH` levels: valid, but
    more than convsplit reads (its ``msg``, ``lineno`` and ``colno`` say where)."""


def parse_json(text: bytes | str) -> object:
    """Parse one record with orjson, or with the standard library where the text may hold
    an integer too long for orjson to keep exactly (it would silently become a float).

    >>> parse_json(b'{"n": 123456789012345678901}')
    {'n': 123456789012345678901}
    >>> parse_json("[" * 129 + "]" * 129)
    Traceback (most recent call last):
    ...
    convsplit.formats.json_text.JSONTooDeepError: JSON nested deeper than 128 levels: line 1 \
column 129 (char 128)

    Raises:
        orjson.JSONDecodeError: the text is not valid JSON; :class:`JSONTooDeepError` (a
            subclass) when it nests deeper than ``MAX_JSON_DEPTH``.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        if error.msg.startswith("depth limit exceeded"):  # orjson's own limit, 1,024
            raise _too_deep(text) from None
        raise
    # One walk over the value answers both questions.
    too_deep, huge_float = _survey(value, MAX_JSON_DEPTH)
    if too_deep:
        raise _too_deep(text)
    # orjson turns an integer outside 64 bits into a float; only then can the text hold one.
    if not huge_float:
        return value
    long_number = (
        _LONG_NUMBER.search(text) if isinstance(text, str) else _LONG_NUMBER_BYTES.search(text)
    )
    if long_number is None:
        return value
    try:
        return json.loads(text)
    except RecursionError:  # deeper than Python's json can go: keep orjson's reading
        return value


def _survey(value: object, limit: int) -> tuple[bool, bool]:
    """Whether a value orjson parsed nests containers more than ``limit`` deep, and whether
    it holds a float of magnitude 2**63 or more: one walk for both, a level at a time,
    cheaper than a regex over the text since a record has far fewer values than bytes.
    (orjson makes exact dicts, lists and floats, so ``type`` is enough.)"""
    if type(value) is float:
        return False, abs(value) >= _HUGE
    huge = False
    level: list[Any] = [value] if type(value) in (dict, list) else []
    depth = 1
    while level:
        if depth > limit:
            return True, huge
        below: list[Any] = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                kind = type(child)
                if kind is dict or kind is list:
                    below.append(child)
                elif kind is float and abs(child) >= _HUGE:
                    huge = True
        level, depth = below, depth + 1
    return False, huge


def _too_deep(text: bytes | str) -> JSONTooDeepError:
    doc = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    position = too_deep_at(doc, MAX_JSON_DEPTH)
    return JSONTooDeepError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", doc, position or 0)


def json_problem(error: orjson.JSONDecodeError) -> str:
    """What is wrong with JSON text, for a message: not valid, or nested too deep.

    >>> try:
    ...     parse_json("[" * 200 + "]" * 200)
    ... except orjson.JSONDecodeError as error:
    ...     print(json_problem(error))
    nested deeper than 128 levels (convsplit reads at most 128: flatten or drop the field)
    """
    if isinstance(error, JSONTooDeepError):
        return (
            f"nested deeper than {MAX_JSON_DEPTH} levels (convsplit reads at most "
            f"{MAX_JSON_DEPTH}: flatten or drop the field)"
        )
    return f"not valid JSON ({error.msg})"


_HUGE = float(2**63)  # orjson keeps -2**63 .. 2**64-1 exactly


def may_hold_long_integer(text: str) -> bool:
    """Whether ``text`` has a run of digits that may be an integer beyond 64 bits.

    >>> may_hold_long_integer('{"n": 12345678901234567890}'), may_hold_long_integer("[1]")
    (True, False)
    """
    return _LONG_NUMBER.search(text) is not None


def dumps(value: object) -> bytes:
    """JSON bytes as every writer emits them (orjson, compact, UTF-8).

    An integer beyond 64 bits (read exactly from the input) is more than orjson writes;
    the standard library writes it instead, in the same compact form.

    >>> dumps({"n": 2**70, "s": "é"})
    b'{"n":1180591620717411303424,"s":"\xc3\xa9"}'
    """
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def join_object(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``{"k":v,...}`` from already-encoded keys and values: what orjson would write."""
    return b"{" + b",".join(key + b":" + value for key, value in items) + b"}"


def join_list(fragments: Iterable[bytes]) -> bytes:
    """``[a,b,...]`` from already-encoded items: what orjson would write."""
    return b"[" + b",".join(fragments) + b"]"


def key(name: str) -> bytes:
    """An encoded object key."""
    return orjson.dumps(name)
