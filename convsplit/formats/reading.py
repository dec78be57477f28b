"""One JSON record to a conversation: its fields renamed, its format detected (or the one
named), read by that format's reader. The one path every engine reads a record by."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from convsplit.formats.detect import detect_format
from convsplit.formats.field_names import rename_fields
from convsplit.formats.preference import PREFERENCE_OUTPUTS, preference_kind
from convsplit.formats.protocols import Reader
from convsplit.formats.registry import get_format
from convsplit.messages import Conversation


def parse_record(
    value: object,
    *,
    reader: Reader | None = None,
    role_map: Mapping[str, str] | None = None,
    fields: Mapping[str, str] | None = None,
) -> Conversation:
    """``value`` (one parsed JSON record) as a conversation.

    Args:
        value: the record.
        reader: the reader to use; None detects the format of each record.
        role_map: checked extra role names (:func:`~convsplit.formats.check_role_map`).
        fields: checked field names (:func:`~convsplit.formats.field_names.check_fields`).

    Raises:
        InvalidConversationError: the record cannot be read, naming the field.

    >>> names = {"messages": "dialog", "role": "speaker", "content": "text"}
    >>> conv = parse_record({"dialog": [{"speaker": "user", "text": "Hi"}]}, fields=names)
    >>> conv.messages[0].role, conv.messages[0].content
    ('user', 'Hi')
    """
    record = rename_fields(value, fields) if fields else value
    kind = preference_kind(record)
    if kind is not None:  # checked as preference data, then refused: never a conversation
        reader = cast(Reader, get_format(PREFERENCE_OUTPUTS[kind]).reader)
    elif reader is None:
        reader = cast(Reader, get_format(detect_format(record, role_map=role_map)).reader)
    return reader(record, role_map=role_map)
