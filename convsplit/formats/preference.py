"""Preference data: a prompt with a chosen and a rejected answer (DPO, ORPO, reward models),
or with one answer and a ``label`` (KTO's unpaired form), as read and as written.

Such a record is not a conversation to train turn by turn: its answers are compared, never
trained as targets, and its prompt's own earlier assistant turns are context only. So it
has its own models here, read by :mod:`.preference_read`, split by
:mod:`convsplit.core.preference` and written by :mod:`.preference_write`; written to an SFT
format it is refused (:func:`preference_kind` tells one from its keys).

>>> preference_kind({"conversations": [], "chosen": {}, "rejected": {}})
'pairwise'
>>> preference_kind({"prompt": "Hi", "completion": "Hello", "label": False})
'unpaired'
>>> preference_kind({"messages": []}) is None
True
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from convsplit.errors import InvalidConversationError, OptionHint
from convsplit.formats.registry import formats
from convsplit.messages import Conversation, Message
from convsplit.samples import SplitResult

PreferenceKind = Literal["pairwise", "unpaired"]

#: The output formats that write preference data, by the kind of record each takes.
PREFERENCE_OUTPUTS: dict[PreferenceKind, str] = {"pairwise": "preference", "unpaired": "kto"}

#: What one record of each kind is called in summaries (where others say "conversation").
RECORD_NOUNS: dict[PreferenceKind, str] = {"pairwise": "pair", "unpaired": "judged answer"}

#: The reject reason of preference data sent to an SFT output format.
PREFERENCE_DATA = "preference_data"


class PreferenceRecord(BaseModel):
    """A prompt and two answers to it, one preferred: LLaMA-Factory ranking, TRL preference.

    ``prompt`` holds the history (its tools, id and metadata too); ``chosen`` and
    ``rejected`` are one assistant message each.
    """

    model_config = ConfigDict(frozen=True)

    prompt: Conversation
    chosen: Message
    rejected: Message


class UnpairedRecord(BaseModel):
    """A prompt and one answer judged desirable (``label`` true) or not: TRL's unpaired
    preference form, LLaMA-Factory's ``kto_tag``."""

    model_config = ConfigDict(frozen=True)

    prompt: Conversation
    completion: Message
    label: bool


class PreferencePair(BaseModel):
    """One pair as written: the windowed prompt and both answers, each counted exactly.

    ``chosen_tokens`` is the count of ``prompt`` + ``chosen`` as the spec's chat format
    renders it (its fixed tokens included), ``rejected_tokens`` likewise; the larger of
    them is within the budget.
    """

    model_config = ConfigDict(frozen=True)

    prompt: tuple[Message, ...]
    chosen: Message
    rejected: Message
    tools: tuple[dict[str, Any], ...] | None = None
    chosen_tokens: int
    rejected_tokens: int


class UnpairedSample(BaseModel):
    """One judged answer as written: the windowed prompt, the answer and its label;
    ``total_tokens`` counts prompt + completion."""

    model_config = ConfigDict(frozen=True)

    prompt: tuple[Message, ...]
    completion: Message
    label: bool
    tools: tuple[dict[str, Any], ...] | None = None
    total_tokens: int


class PreferenceResult(SplitResult):
    """What one preference record became: its written pair (or none), and the accounting.

    As a :class:`~convsplit.samples.SplitResult` it has one outcome for the record's answer
    (the pair is trained, or skipped with its reason) and, for a pair written, one sample:
    the prompt with its longer answer, the one the budget bounds, so a run's report
    accounts for every pair as it does for every turn.
    """

    pairs: tuple[PreferencePair | UnpairedSample, ...] = ()


def preference_kind(record: object) -> PreferenceKind | None:
    """``"pairwise"`` for a record with chosen/rejected answers, ``"unpaired"`` for one with
    a KTO label, None for any other record.

    Pairwise: a ``chosen`` or ``rejected`` field (LLaMA-Factory ranking, TRL), or an alpaca
    ``output`` that is a list (LLaMA-Factory's earlier ``[chosen, rejected]``). Unpaired: a
    ``kto_tag`` field, or a boolean ``label`` beside ``completion``, ``messages`` or
    ``conversations`` (a ``label`` that is not a boolean is a metadata column).

    >>> preference_kind({"instruction": "Hi", "output": ["Hello", "Go away"]})
    'pairwise'
    >>> preference_kind({"messages": [], "label": "spam"}) is None
    True
    """
    if not isinstance(record, dict):
        return None
    if "chosen" in record or "rejected" in record:
        return "pairwise"
    if "instruction" in record and isinstance(record.get("output"), list):
        return "pairwise"
    if "kto_tag" in record:
        return "unpaired"
    if isinstance(record.get("label"), bool) and (
        "completion" in record or "messages" in record or "conversations" in record
    ):
        return "unpaired"
    return None


def preference_data_error(kind: PreferenceKind) -> InvalidConversationError:
    """The reject of a preference record read as a conversation to train (SFT).

    >>> print(preference_data_error("unpaired"))
    preference_data: a KTO record (an answer with a true/false label) is not SFT data: its \
answer would be trained whatever its label; write it with output_format='kto'
    """
    hint = OptionHint("output_format", (PREFERENCE_OUTPUTS[kind],))
    what = (
        "a preference record (chosen and rejected answers) is not SFT data: the rejected "
        "answer would be lost and the prompt's own answers trained"
        if kind == "pairwise"
        else "a KTO record (an answer with a true/false label) is not SFT data: its answer "
        "would be trained whatever its label"
    )
    return InvalidConversationError(
        f"{PREFERENCE_DATA}: {what}; write it with {hint}", hints=[hint]
    )


def sft_writer_names() -> tuple[str, ...]:
    """The registered writers of conversation samples (SFT): every writer but the
    preference outputs, which take preference records instead.

    >>> "openai" in sft_writer_names(), "preference" in sft_writer_names()
    (True, False)
    """
    judged = set(PREFERENCE_OUTPUTS.values())
    return tuple(f.name for f in formats() if f.writer is not None and f.name not in judged)
