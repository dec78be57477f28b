"""What splitting produces: :class:`Sample` and the per-turn accounting.

Every assistant message of the input gets exactly one :class:`TurnOutcome`: the sample
that trains it, or the :class:`SkipReason` why none does. Nothing is lost silently.
"""

from __future__ import annotations

from enum import Enum
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from convsplit.messages import Conversation, Message


class SkipReason(str, Enum):
    """Why an assistant message is the target of no sample."""

    NO_USER_BEFORE = "no_user_before"
    """No user message precedes it: there is no prompt to train it on."""
    EMPTY_TARGET = "empty_target"
    """It has no text, no tool calls and no reasoning that the output format writes:
    nothing to train. It is left out of every sample, as context too."""
    WEIGHT_ZERO = "weight_zero"
    """The input marks it ``"weight": 0``: the data's author asked not to train it."""
    TARGET_TOO_LONG = "target_too_long"
    """Pinned messages + its own turn + itself exceed ``max_tokens``."""
    TOO_LITTLE_CONTEXT = "too_little_context"
    """History had to be cut and less than ``min_context`` tokens of context remained."""
    ORPHAN_TOOL_RESULT = "orphan_tool_result"
    """It follows, in its turn, a tool result that answers no call (which is left out of
    every sample, since trainers reject a tool message without its call): it would be
    trained on a result the sample cannot show."""


class Sample(BaseModel):
    """One training sample: context messages followed by (and around) trained targets.

    ``targets`` and ``truncated`` are positions in ``messages``; ``source_indices[k]`` is
    the conversation index of ``messages[k]``. Token counts are exact for the counter and
    chat format used: ``total_tokens == context_tokens + target_tokens``, and
    ``context_tokens`` includes the format's fixed per-sample tokens. ``history_tokens``
    and ``dropped_tokens`` are the context tokens of the earlier (non-instruction) messages
    the sample kept and left out. ``columns`` are its conversation's own fields beside
    the messages (:func:`record_columns`), for the outputs that have a place for them.
    """

    model_config = ConfigDict(frozen=True)

    messages: tuple[Message, ...]
    targets: tuple[int, ...]
    source_indices: tuple[int, ...]
    tools: tuple[dict[str, Any], ...] | None = None
    conversation_id: str | None = None
    conversation_index: int = 0
    total_tokens: int
    context_tokens: int
    target_tokens: int
    dropped_messages: int = 0
    dropped_tokens: int = 0
    history_tokens: int = 0
    truncated: tuple[int, ...] = ()
    columns: dict[str, Any] | None = None

    @property
    def history_kept(self) -> float:
        """The share of the history before its target that the sample kept, 0 to 1.

        >>> Sample(messages=(), targets=(), source_indices=(), total_tokens=0,
        ...        context_tokens=0, target_tokens=0, history_tokens=30,
        ...        dropped_tokens=10).history_kept
        0.75
        """
        available = self.history_tokens + self.dropped_tokens
        return self.history_tokens / available if available else 1.0

    @property
    def target_messages(self) -> tuple[Message, ...]:
        """The trained messages, in order."""
        return tuple(self.messages[k] for k in self.targets)


class TurnOutcome(BaseModel):
    """What became of one assistant message of the input."""

    model_config = ConfigDict(frozen=True)

    message_index: int
    sample_index: int | None = None
    reason: SkipReason | None = None

    @property
    def targeted(self) -> bool:
        """Whether a sample trains this message."""
        return self.sample_index is not None


class SplitResult(BaseModel):
    """The samples of one conversation and the outcome of each of its assistant messages."""

    model_config = ConfigDict(frozen=True)

    conversation_id: str | None = None
    conversation_index: int = 0
    samples: tuple[Sample, ...]
    outcomes: tuple[TurnOutcome, ...]

    @property
    def skipped(self) -> tuple[TurnOutcome, ...]:
        """The assistant messages no sample trains, each with its reason."""
        return tuple(o for o in self.outcomes if o.reason is not None)


_Model = TypeVar("_Model", bound=BaseModel)


def trusted(model: type[_Model], **values: Any) -> _Model:
    """``model(**values)`` without validation, for values the splitter built itself.

    The split makes a :class:`Sample` and a :class:`TurnOutcome` per assistant turn; this
    sets what ``model_construct`` sets (fields with their defaults, the fields given, no
    extras or private state) at a quarter of its cost: ``model_construct`` resolves and
    copies every default, about 7% of a split's time on a chat corpus. Tested equal to
    validation (tests/test_split.py), so a pydantic that changed its slots fails the tests,
    not a run.
    """
    instance = object.__new__(model)
    fields = _defaults(model).copy()
    fields.update(values)
    object.__setattr__(instance, "__dict__", fields)
    _set_fields_set(instance, set(values))
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance


# BaseModel's slots, set through their descriptors (a frozen model refuses setattr).
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


@cache
def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Every field in declaration order (the order dumps follow), with its default; the
    values given replace them in a copy."""
    return {name: field.default for name, field in model.model_fields.items()}


def record_columns(conversation: Conversation) -> dict[str, Any] | None:
    """A conversation's own fields beside its messages, tools and id: the extra columns
    read with it (``source``, ``category``...) and its ``metadata`` field, as written
    where an output has a place for them (data only: never read as paths or options).

    >>> record_columns(Conversation(messages=(), metadata={"a": 1}, source="faq"))
    {'source': 'faq', 'metadata': {'a': 1}}
    >>> record_columns(Conversation(messages=())) is None
    True
    """
    extra = conversation.model_extra
    if not extra and not conversation.metadata:
        return None
    columns = dict(extra or {})
    if conversation.metadata:
        columns["metadata"] = conversation.metadata
    return columns
