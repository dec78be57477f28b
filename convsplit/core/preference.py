"""Splitting preference data: the prompt's history is windowed and truncated by the spec's
own strategies so that the prompt plus the longer of its answers fits the budget, counted
exactly.

Each answer is split as the one target of its prompt (the prompt's own assistant turns are
context, marked ``weight: 0``, never trained), by :func:`~convsplit.core.split.split_conversation`
itself: the window, truncation, long-target policy and counting are the spec's. The answer
that costs more decides the window; the other answer is given the same prompt, which then
fits too. So both rows of a pair share their prompt, and each count is the one the spec's
chat format gives for prompt + that answer.

>>> from convsplit import Budget, SplitSpec
>>> from convsplit.formats.preference_read import read_preference
>>> pair = read_preference({"prompt": [{"role": "user", "content": "2+2?"}],
...                         "chosen": [{"role": "assistant", "content": "4"}],
...                         "rejected": [{"role": "assistant", "content": "It is five."}]})
>>> result = split_judged(pair, SplitSpec(Budget(100), output_format="preference"))
>>> written = result.pairs[0]
>>> written.chosen_tokens, written.rejected_tokens, result.samples[0].total_tokens
(16, 19, 19)
"""

from __future__ import annotations

from dataclasses import dataclass

from convsplit.budget import Budget
from convsplit.core.split import split_conversation
from convsplit.errors import InvalidConversationError, InvalidOptionError, OptionHint
from convsplit.formats.field_names import rename_fields
from convsplit.formats.preference import (
    PREFERENCE_OUTPUTS,
    RECORD_NOUNS,
    PreferenceKind,
    PreferencePair,
    PreferenceRecord,
    PreferenceResult,
    UnpairedRecord,
    UnpairedSample,
)
from convsplit.formats.preference_read import read_judged
from convsplit.messages import Conversation, Message
from convsplit.samples import Sample, SkipReason, TurnOutcome
from convsplit.spec import SplitSpec


def split_judged(
    record: PreferenceRecord | UnpairedRecord, spec: SplitSpec, *, index: int = 0
) -> PreferenceResult:
    """Window one preference record's prompt to ``spec``'s budget.

    Args:
        record: a pair (chosen and rejected) or a KTO answer with its label.
        spec: the split's options; its budget bounds prompt + the longer answer.
        index: the record's position in its stream.

    Returns:
        The written pair (none when the answer cannot fit, with its reason as the one
        outcome), and as its sample the prompt with the longer answer.

    Raises:
        InvalidConversationError: the chat format cannot render it.
        TargetTooLongError: with ``on_long_target="error"``.
    """
    prompt = _context_only(record.prompt)
    answer_index = len(prompt.messages)
    if isinstance(record, UnpairedRecord):
        sample, reason = _answer(prompt, record.completion, spec, index)
        if sample is None:
            return _skipped(record.prompt, answer_index, reason, index)
        context, completion = _parts(sample)
        written: PreferencePair | UnpairedSample = UnpairedSample(
            prompt=context,
            completion=completion,
            label=record.label,
            tools=sample.tools,
            total_tokens=sample.total_tokens,
        )
        return _done(record.prompt, answer_index, sample, written, index)
    chosen, reason = _answer(prompt, record.chosen, spec, index)
    rejected, other = _answer(prompt, record.rejected, spec, index)
    if chosen is None or rejected is None:
        return _skipped(record.prompt, answer_index, reason or other, index)
    longer, shorter = (chosen, rejected)
    if rejected.target_tokens > chosen.target_tokens:
        longer, shorter = rejected, chosen
    context, _ = _parts(longer)
    if _parts(shorter)[0] != context:  # the longer answer's window holds both
        windowed = _context_only(prompt.model_copy(update={"messages": context}))
        answer = record.chosen if shorter is chosen else record.rejected
        again, reason = _answer(windowed, answer, spec, index)
        if again is None:  # cannot happen: the same prompt with a cheaper answer fits
            return _skipped(record.prompt, answer_index, reason, index)
        if shorter is chosen:
            chosen = again
        else:
            rejected = again
    pair = PreferencePair(
        prompt=context,
        chosen=_parts(chosen)[1],
        rejected=_parts(rejected)[1],
        tools=longer.tools,
        chosen_tokens=chosen.total_tokens,
        rejected_tokens=rejected.total_tokens,
    )
    return _done(record.prompt, answer_index, longer, pair, index)


def split_preference_value(
    value: object, spec: SplitSpec, *, kind: PreferenceKind, index: int = 0
) -> PreferenceResult:
    """One JSON record read as preference data and split for an output of ``kind``.

    Raises:
        InvalidConversationError: the record is not preference data of ``kind`` (a prompt
            alone, a KTO record for a pairwise output, ...) or a field is wrong, naming it.

    >>> from convsplit import Budget, SplitSpec
    >>> spec = SplitSpec(Budget(100), output_format="kto")
    >>> split_preference_value({"prompt": "Hi", "chosen": "Hello", "rejected": "Go"}, spec,
    ...                        kind="unpaired")
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: a preference pair cannot be written as kto \
(one answer and a label per row); write it with output_format='preference' (TRL's \
KTOTrainer reads pairs too)
    """
    return prepare_judged(value, spec, kind=kind, index=index).split()


@dataclass(frozen=True)
class PreparedJudged:
    """A preference record read once, to be split under one budget or several (as
    :func:`~convsplit.core.split.prepare_split` prepares a conversation)."""

    record: PreferenceRecord | UnpairedRecord
    spec: SplitSpec
    index: int = 0

    def split(self, budget: Budget | None = None) -> PreferenceResult:
        """The record split under ``budget`` (None: the spec's)."""
        spec = self.spec
        if budget is not None and budget != spec.budget:
            spec = spec.with_budget(budget)
        return split_judged(self.record, spec, index=self.index)


def preference_output(spec: SplitSpec) -> PreferenceKind | None:
    """The kind of preference record ``spec``'s output format writes (None: an SFT format),
    checked before any work.

    Raises:
        InvalidOptionError: the input format is a preference format and the output an SFT
            one, naming the preference outputs.

    >>> from convsplit import SplitSpec
    >>> preference_output(SplitSpec(output_format="kto"))
    'unpaired'
    >>> preference_output(SplitSpec(input_format="preference", output_format="trl"))
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: input_format='preference' reads preference data, which \
the SFT output format 'trl' would train as if it were conversations; write it with \
output_format='preference' or 'kto'
    """
    kind: PreferenceKind | None = getattr(spec.writer(), "record_kind", None)
    if kind not in PREFERENCE_OUTPUTS:
        kind = None
    if kind is None and spec.input_format in PREFERENCE_OUTPUTS.values():
        given = OptionHint("input_format", (spec.input_format,))
        hint = OptionHint("output_format", tuple(PREFERENCE_OUTPUTS.values()))
        raise InvalidOptionError(
            f"{given} reads preference data, which the SFT output format "
            f"{spec.output_format!r} would train as if it were conversations; write it with "
            f"{hint}",
            hints=[given, hint],
        )
    return kind


def record_noun(spec: SplitSpec) -> str:
    """What one record is for ``spec``'s output: a ``conversation``, or for preference
    outputs a ``pair`` (``kto``: a ``judged answer``).

    >>> record_noun(SplitSpec(output_format="preference")), record_noun(SplitSpec())
    ('pair', 'conversation')
    """
    kind = preference_output(spec)
    return "conversation" if kind is None else RECORD_NOUNS[kind]


def prepare_judged(
    value: object, spec: SplitSpec, *, kind: PreferenceKind, index: int = 0
) -> PreparedJudged:
    """One JSON record read as preference data for an output of ``kind``, ready to split.

    Raises:
        InvalidConversationError: as :func:`split_preference_value`.
    """
    if spec.fields:
        value = rename_fields(value, spec.fields)
    record = read_judged(value, role_map=spec.role_map)
    read: PreferenceKind = "unpaired" if isinstance(record, UnpairedRecord) else "pairwise"
    if read != kind:
        hint = OptionHint("output_format", (PREFERENCE_OUTPUTS[read],))
        what = (
            "a preference pair cannot be written as kto (one answer and a label per row); "
            f"write it with {hint} (TRL's KTOTrainer reads pairs too)"
            if read == "pairwise"
            else "a KTO record (one answer and its label) cannot be written as a preference "
            f"pair: it has no second answer; write it with {hint}"
        )
        raise InvalidConversationError(what, hints=[hint])
    return PreparedJudged(record, spec, index)


def _context_only(prompt: Conversation) -> Conversation:
    """The prompt with its assistant turns marked untrained: context for the answer."""
    messages = tuple(
        m.model_copy(update={"weight": 0}) if m.role == "assistant" and m.weight != 0 else m
        for m in prompt.messages
    )
    return prompt.model_copy(update={"messages": messages})


def with_answer(prompt: Conversation, answer: Message) -> Conversation:
    """``prompt`` (its assistant turns context) followed by ``answer`` as its one target:
    the conversation each answer of a preference record is split as (``stats`` and
    ``show`` take the longer answer's as the pair's).

    >>> prompt = Conversation(messages=(Message(role="user", content="Hi"),
    ...                                 Message(role="assistant", content="Yo"),
    ...                                 Message(role="user", content="2+2?")))
    >>> [m.weight for m in with_answer(prompt, Message(role="assistant", content="4")).messages]
    [None, 0, None, None]
    """
    if answer.weight is not None:  # an answer is judged, whatever its weight in the input
        answer = answer.model_copy(update={"weight": None})
    prompt = _context_only(prompt)
    return prompt.model_copy(update={"messages": (*prompt.messages, answer)})


def _answer(
    prompt: Conversation, answer: Message, spec: SplitSpec, index: int
) -> tuple[Sample | None, SkipReason | None]:
    """The sample of ``prompt`` + ``answer`` as its one target, or why there is none."""
    at = len(prompt.messages)
    whole = with_answer(prompt, answer)
    result = split_conversation(whole, spec, index=index)
    outcome = next(o for o in result.outcomes if o.message_index == at)
    if outcome.sample_index is None:
        return None, outcome.reason
    return result.samples[outcome.sample_index], None


def _parts(sample: Sample) -> tuple[tuple[Message, ...], Message]:
    """A sample's prompt as written (no weights: nothing in a prompt is trained) and its
    answer."""
    target = sample.targets[-1]
    prompt = tuple(
        m if m.weight is None else m.model_copy(update={"weight": None})
        for m in sample.messages[:target]
    )
    return prompt, sample.messages[target]


def _done(
    prompt: Conversation,
    answer_index: int,
    sample: Sample,
    written: PreferencePair | UnpairedSample,
    index: int,
) -> PreferenceResult:
    outcome = TurnOutcome(message_index=answer_index, sample_index=0)
    return PreferenceResult(
        conversation_id=prompt.id,
        conversation_index=index,
        samples=(sample,),
        outcomes=(outcome,),
        pairs=(written,),
    )


def _skipped(
    prompt: Conversation, answer_index: int, reason: SkipReason | None, index: int
) -> PreferenceResult:
    outcome = TurnOutcome(message_index=answer_index, reason=reason)
    return PreferenceResult(
        conversation_id=prompt.id,
        conversation_index=index,
        samples=(),
        outcomes=(outcome,),
        pairs=(),
    )
