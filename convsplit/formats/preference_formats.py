"""The two preference formats as registered format objects: ``preference`` (pairs) and
``kto`` (judged answers), each written by its writer (:mod:`.preference_write`) and read as
preference data only.

A preference record is never a conversation to train: wherever a conversation is read
(an SFT output, ``validate``, ``stats``), whatever format was named or detected, a record
that :func:`~convsplit.formats.preference.preference_kind` finds to be preference data is
read by its format's reader here, which checks it field by field and then refuses it with
the reason ``preference_data``, naming the output that writes it
(:func:`convsplit.formats.reading.parse_record`). So these formats need no detection of
their own. ``convsplit split --to preference`` (or ``kto``) reads it through
:func:`convsplit.core.preference.split_preference_value` instead.

>>> from convsplit.errors import InvalidConversationError
>>> try:
...     PREFERENCE.reader({"prompt": "2+2?", "chosen": "4", "rejected": "5"})
... except InvalidConversationError as error:
...     print(error.reason.split(":")[0])
preference_data
"""

from __future__ import annotations

from collections.abc import Mapping

from convsplit.formats.preference import preference_data_error
from convsplit.formats.preference_read import read_preference, read_unpaired
from convsplit.formats.preference_write import KTOWriter, PreferenceWriter
from convsplit.formats.registry import Format, register_format
from convsplit.messages import Conversation


def _refuse_pairwise(record: object, *, role_map: Mapping[str, str] | None = None) -> Conversation:
    read_preference(record, role_map=role_map)  # a malformed record says what is wrong
    raise preference_data_error("pairwise")


def _refuse_unpaired(record: object, *, role_map: Mapping[str, str] | None = None) -> Conversation:
    read_unpaired(record, role_map=role_map)
    raise preference_data_error("unpaired")


PREFERENCE = Format(
    name="preference",
    description="preference pairs (DPO, ORPO, reward models): a prompt with chosen and "
    "rejected answers (TRL; LLaMA-Factory ranking, ShareGPT or alpaca)",
    example='{"prompt": [{"role": "user", "content": "2+2?"}], '
    '"chosen": [{"role": "assistant", "content": "4"}], '
    '"rejected": [{"role": "assistant", "content": "5"}]}',
    reader=_refuse_pairwise,
    writer=PreferenceWriter,
    features=lambda writer, ds: dict.fromkeys(("prompt", "chosen", "rejected", "tools"), ds.Json()),
)
"""Pairs: written as TRL's conversational preference rows."""

KTO = Format(
    name="kto",
    description="judged answers (KTO): a prompt and one answer with a true/false label (TRL "
    "unpaired preference; LLaMA-Factory kto_tag)",
    example='{"prompt": [{"role": "user", "content": "2+2?"}], '
    '"completion": [{"role": "assistant", "content": "5"}], "label": false}',
    reader=_refuse_unpaired,
    writer=KTOWriter,
    features=lambda writer, ds: {
        "prompt": ds.Json(),
        "completion": ds.Json(),
        "label": ds.Value("bool"),
        "tools": ds.Json(),
    },
)
"""Judged answers: written as TRL's conversational unpaired preference rows."""


def register_preference_formats() -> None:
    """Register (again) the ``preference`` and ``kto`` formats."""
    register_format(PREFERENCE)
    register_format(KTO)
