"""Axolotl's training flags in OpenAI-style messages: a message's ``train`` and the
``train``/``weight`` of its content parts, read as what convsplit trains.

convsplit trains whole assistant messages, each once, and never a user, system or tool
message. So a flag is honoured where it says that: ``train: false`` on an assistant
message (or on every part of it) makes it context (``weight: 0``); ``train: true`` on it
is the default. Flags are then dropped, never copied to the output as unknown keys. Two
things cannot be honoured: an assistant message whose parts disagree (only some of its
text trained) is refused, naming the parts, since training all or none of it would both
be wrong; and ``train: true`` on a message convsplit never trains is read without effect,
which ``validate`` reports (:func:`unhonoured_flags`).

Axolotl's ``train_detail`` (character ranges of a message's text, each
``{"begin_offset", "end_offset", "train"}``, the end included as axolotl reads it, later
ranges over earlier ones, characters in none untrained) is honoured the same way: ranges
that train all of an assistant message's text, or none of it, make it a target or context;
ranges that train part of it refuse the record, naming them. It is never written out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from convsplit.errors import InvalidConversationError
from convsplit.formats.json_text import json_type

#: The keys of a content part that say whether it is trained.
PART_FLAGS = ("train", "weight")
#: Axolotl's per-message list of trained character ranges.
TRAIN_DETAIL = "train_detail"


def read_flags(message: dict[str, Any], index: int, role: str) -> dict[str, Any]:
    """``message`` (a copy where anything changes) with its training flags read: the
    ``weight`` they mean set on an assistant message, the flags themselves dropped.

    Raises:
        InvalidConversationError: a flag that is not true/false (or 0/1), or an assistant
            message whose parts are not all trained or all untrained.

    >>> read_flags({"role": "assistant", "content": [
    ...     {"type": "text", "text": "a", "train": False}]}, 2, "assistant")
    {'role': 'assistant', 'content': [{'type': 'text', 'text': 'a'}], 'weight': 0}
    """
    content = message.get("content")
    parts = content if isinstance(content, list) else []
    flagged = [k for k, p in enumerate(parts) if isinstance(p, dict) and _has_flag(p)]
    if "train" not in message and not flagged and TRAIN_DETAIL not in message:
        return message
    out = dict(message)
    said: bool | None = None
    if "train" in out:
        said = _flag(out.pop("train"), f"message {index}: field 'train'", "train")
    if TRAIN_DETAIL in out:
        detail = _detail_trained(out.pop(TRAIN_DETAIL), _text(content), index, role)
        if role == "assistant" and detail is not None:
            said = detail if said is None else said and detail
    if flagged:
        trained = [
            _part_trained(part, f"message {index}: content part {k}", f"content.{k}")
            for k, part in enumerate(parts)
        ]
        out["content"] = [_without_flags(p) if isinstance(p, dict) else p for p in parts]
        if role == "assistant":
            if len(set(trained)) > 1:
                off = [k for k, t in enumerate(trained) if not t]
                raise InvalidConversationError(
                    f"message {index}: content part(s) {', '.join(map(str, off))} are marked "
                    "untrained and the others trained; convsplit trains whole messages: split "
                    "the message in two, or drop the part flags",
                    field=f"content.{off[0]}.train",
                )
            said = trained[0] if said is None else said and trained[0]
    if role == "assistant" and said is not None and out.get("weight") is None:
        out["weight"] = int(said)
    return out


def unhonoured_flags(message: Mapping[str, Any], role: object) -> Iterator[str]:
    """What of ``message``'s training flags convsplit reads but cannot honour: ``train:
    true`` where it never trains (a user, system or tool message)."""
    if role in {"assistant", "function_call", None}:
        return
    if message.get("train") is True:
        yield f"train: true on a {role} message"
    detail = message.get(TRAIN_DETAIL)
    if isinstance(detail, list) and any(
        isinstance(d, dict) and d.get("train") is True for d in detail
    ):
        yield f"a trained range of {TRAIN_DETAIL} on a {role} message"
    content = message.get("content")
    for k, part in enumerate(content if isinstance(content, list) else []):
        if isinstance(part, dict) and (part.get("train") is True or part.get("weight") == 1):
            yield f"train: true on content part {k} of a {role} message"


def _text(content: object) -> str:
    """The text ``train_detail``'s offsets count in: the content, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _detail_trained(detail: object, text: str, index: int, role: str) -> bool | None:
    """Whether ``train_detail`` trains all of ``text`` (True), none of it (False, or None
    for an empty text); an error where it trains part of an assistant message.

    >>> _detail_trained([{"begin_offset": 0, "end_offset": 1, "train": True}], "Hi", 1,
    ...                 "assistant")
    True
    """
    where = f"message {index}: field '{TRAIN_DETAIL}'"
    if not isinstance(detail, list):
        raise InvalidConversationError(
            f"{where}: expected a list of ranges; got {json_type(detail)}", field=TRAIN_DETAIL
        )
    trained = [False] * len(text)
    for k, item in enumerate(detail):
        at = f"{where}: range {k}"
        field = f"{TRAIN_DETAIL}.{k}"
        if not isinstance(item, dict):
            raise InvalidConversationError(
                f"{at}: expected an object with begin_offset, end_offset and train; got "
                f"{json_type(item)}",
                field=field,
            )
        begin, end = (_offset(item, name, at, field) for name in ("begin_offset", "end_offset"))
        flag = _flag(item.get("train"), f"{at}: field 'train'", f"{field}.train")
        for c in range(begin, min(end + 1, len(text))):  # the end is included
            trained[c] = flag
    if not text or role != "assistant":
        return any(trained) if text else None
    if all(trained) or not any(trained):
        return all(trained)
    parts = _runs(trained)
    raise InvalidConversationError(
        f"{where}: trains characters {parts} of the message's {len(text)} and not the rest; "
        "convsplit trains whole messages: split the message in two, or train all of it or "
        "none",
        field=TRAIN_DETAIL,
    )


def _offset(item: Mapping[str, Any], name: str, at: str, field: str) -> int:
    value = item.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidConversationError(
            f"{at}: {name} must be a whole number >= 0; got {json_type(value)}",
            field=f"{field}.{name}",
        )
    return value


def _runs(trained: list[bool]) -> str:
    """The trained characters as ranges, ``0-4, 9-12`` (ends included)."""
    runs: list[str] = []
    start: int | None = None
    for c, flag in enumerate([*trained, False]):
        if flag and start is None:
            start = c
        elif not flag and start is not None:
            runs.append(f"{start}-{c - 1}")
            start = None
    return ", ".join(runs)


def _has_flag(part: Mapping[str, Any]) -> bool:
    return any(key in part for key in PART_FLAGS)


def _part_trained(part: object, where: str, field: str) -> bool:
    if not isinstance(part, dict):
        return True
    if "train" in part:
        return _flag(part["train"], f"{where}: field 'train'", f"{field}.train")
    if "weight" in part:
        return _flag(part["weight"], f"{where}: field 'weight'", f"{field}.weight")
    return True


def _flag(value: object, where: str, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise InvalidConversationError(
        f"{where}: expected true or false (or 0 or 1); got {json_type(value)}", field=field
    )


def _without_flags(part: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in part.items() if key not in PART_FLAGS}
