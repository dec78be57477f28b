"""The pure core: a conversation in, samples and per-turn accounting out. No I/O.

Every assistant message becomes a target, unless it precedes any user message, is marked
``"weight": 0``, is empty, follows an orphan tool result, or cannot fit; each of those is
recorded with its reason.

Messages are counted in the form the output format's writer writes them
(:class:`~convsplit.formats.protocols.WrittenForm`): reasoning only where the writer writes it,
tool-call arguments as the writer's consumer sees them. Two kinds of message would be
written invalid, so they are left out of every sample: an assistant message with nothing
to write (no text, tool calls or written reasoning: ``empty_target``), and a tool result
that answers no call (the assistant messages after it in its turn are skipped as
``orphan_tool_result``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from convsplit.budget import Budget, check_count, describe
from convsplit.core.builder import SampleBuilder
from convsplit.core.layout import Layout
from convsplit.errors import (
    ChatFormatError,
    InvalidConversationError,
    InvalidOptionError,
    StrategyError,
)
from convsplit.formats import reader_for
from convsplit.formats.protocols import WrittenForm, written_message
from convsplit.formats.reading import parse_record
from convsplit.messages import Conversation, Message
from convsplit.samples import Sample, SkipReason, SplitResult, TurnOutcome, trusted
from convsplit.spec import SplitSpec, check_spec


def split_conversation(
    conversation: Conversation | Mapping[str, object], spec: SplitSpec, *, index: int = 0
) -> SplitResult:
    """Split one conversation into samples that each fit ``spec.budget``.

    Args:
        conversation: the transcript: a :class:`Conversation`, or one record as a mapping
            (``{"messages": [{"role": "user", "content": "Hi"}, ...]}``, or any format
            convsplit reads), read here as ``spec`` reads records (``input_format``,
            ``fields``, ``role_map``).
        spec: how to split (budget, tokenizer, chat format, strategies).
        index: the conversation's position in its stream, copied to samples.

    Returns:
        The samples, and one outcome per assistant message.

    Raises:
        InvalidConversationError: ``conversation`` is not a valid conversation, naming the
            message and field, or the chat format cannot render it (a template's refusal,
            such as parallel tool calls for Llama 3.2): a pipeline rejects the record.
        InvalidOptionError: ``spec`` is not a :class:`SplitSpec`, or a bad ``index``.
        TargetTooLongError: with ``on_long_target="error"``, naming the message.

    >>> conv = Conversation(messages=[
    ...     Message(role="system", content="Be brief."),
    ...     Message(role="user", content="Capital of France?"),
    ...     Message(role="assistant", content="Paris."),
    ...     Message(role="user", content="And of Italy?"),
    ...     Message(role="assistant", content="Rome."),
    ... ])
    >>> result = split_conversation(conv, SplitSpec(Budget(max_tokens=30)))
    >>> [[m.content for m in s.messages] for s in result.samples]
    [['Be brief.', 'Capital of France?', 'Paris.'], ['Be brief.', 'And of Italy?', 'Rome.']]
    >>> [s.total_tokens for s in result.samples]
    [24, 24]
    >>> record = {"messages": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Yo"}]}
    >>> split_conversation(record, SplitSpec())
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: conversation #0: message 1: field 'role': \
expected one of system, developer, user, assistant, tool; got 'bot' (map it: \
role_map={'bot': 'assistant'})
    >>> split_conversation(record, SplitSpec(role_map={"bot": "assistant"})).samples[0].total_tokens
    13
    """
    return prepare_split(conversation, spec, index=index).split()


def prepare_split(
    conversation: Conversation | Mapping[str, object], spec: SplitSpec, *, index: int = 0
) -> PreparedSplit:
    """``conversation`` read, put in its written form and counted once, to be split under
    one budget or several (:meth:`PreparedSplit.split`): counts do not depend on the
    window, so a sweep over window sizes counts each message once.

    Raises what :func:`split_conversation` raises, except for ``TargetTooLongError``
    (raised by :meth:`PreparedSplit.split`).

    >>> conv = {"messages": [{"role": "user", "content": "Hi"},
    ...                      {"role": "assistant", "content": "Hello there, friend."}]}
    >>> prepared = prepare_split(conv, SplitSpec())
    >>> [len(prepared.split(Budget(n)).samples) for n in (8, 4096)]
    [0, 1]
    """
    if type(spec) is not SplitSpec:
        check_spec(spec)
    if type(index) is not int or index < 0:
        index = check_count("index", index, minimum=0)
    if not isinstance(conversation, Conversation):
        conversation = _as_conversation(conversation, spec, index)
    with _refusals(conversation, spec, index):
        return PreparedSplit(conversation, spec, index)


@contextmanager
def _refusals(conversation: Conversation, spec: SplitSpec, index: int) -> Iterator[None]:
    """A chat format's refusal of the conversation as an InvalidConversationError."""
    try:
        yield
    except ChatFormatError as error:
        name = conversation.id or f"#{index}"
        detail = str(error).removeprefix(f"conversation {conversation.id or '?'}: ")  # said once
        raise InvalidConversationError(
            f"conversation {name}: chat format {spec.chat_format.name!r} cannot render it: {detail}"
        ) from error


class PreparedSplit:
    """One conversation laid out and counted for a spec, ready to split under any budget
    (see :func:`prepare_split`)."""

    def __init__(self, conversation: Conversation, spec: SplitSpec, index: int) -> None:
        self.conversation = conversation
        self.spec = spec
        self.index = index
        written = self._written = _written(conversation, spec.written_form)
        layout = self.layout = Layout(
            written.conversation,
            counter=spec.tokenizer,
            chat_format=spec.chat_format,
            keep_reasoning=spec.keep_reasoning,
        )
        original = written.original
        self._outcomes: dict[int, TurnOutcome] = dict(written.outcomes)
        self._trainable: list[int] = []
        for i, message in enumerate(layout.messages):
            if message.role != "assistant":
                continue
            reason = _untrainable(layout, i, message)
            if reason is None and original is not None and original[i] in written.orphaned:
                reason = SkipReason.ORPHAN_TOOL_RESULT
            if reason is None:
                self._trainable.append(i)
            else:
                at = i if original is None else original[i]
                self._outcomes[at] = trusted(TurnOutcome, message_index=at, reason=reason)
        self._may_train = frozenset(self._trainable)

    def split(self, budget: Budget | None = None) -> SplitResult:
        """The samples under ``budget`` (the spec's own by default), and every outcome.

        Raises:
            InvalidConversationError: the chat format cannot render a sample.
            TargetTooLongError: with ``on_long_target="error"``, naming the message.
        """
        outcomes: list[TurnOutcome] = []
        samples = tuple(self.stream(budget, outcomes))
        return trusted(
            SplitResult,
            conversation_id=self.conversation.id,
            conversation_index=self.index,
            samples=samples,
            outcomes=tuple(outcomes),
        )

    def stream(self, budget: Budget | None, outcomes: list[TurnOutcome]) -> Iterator[Sample]:
        """The samples of :meth:`split`, one at a time as they are made (a conversation of
        many turns need not hold them all); once they are all taken, ``outcomes`` holds
        the outcome of every assistant message, in order.

        Raises as :meth:`split` does, while iterating.
        """
        with _refusals(self.conversation, self.spec, self.index):
            yield from self._stream(self.spec.budget if budget is None else budget, outcomes)

    def _stream(self, budget: Budget, into: list[TurnOutcome]) -> Iterator[Sample]:
        spec, layout, original = self.spec, self.layout, self._written.original
        outcomes = dict(self._outcomes)
        builder = SampleBuilder(layout, budget, spec.on_long_target, self.index, original)
        made = 0
        planned: set[int] = set()
        for request in spec.window.requests(layout, self._trainable, budget):
            self._check_plan(request.targets, planned)
            for sample_or_skip in builder.build(request, spec.truncation):
                if isinstance(sample_or_skip, Sample):
                    for k in sample_or_skip.targets:
                        t = sample_or_skip.source_indices[k]
                        outcomes[t] = trusted(TurnOutcome, message_index=t, sample_index=made)
                    made += 1
                    yield sample_or_skip
                elif original is None:
                    outcomes[sample_or_skip.message_index] = sample_or_skip
                else:
                    at = original[sample_or_skip.message_index]
                    outcomes[at] = trusted(
                        TurnOutcome, message_index=at, reason=sample_or_skip.reason
                    )
        if len(planned) != len(self._trainable):
            missing = [t for t in self._trainable if t not in planned]
            self._broken(f"planned no sample for assistant message(s) {self._at(missing)}")
        into.extend(outcomes[i] for i in sorted(outcomes))

    def _check_plan(self, targets: tuple[int, ...], planned: set[int]) -> None:
        """The window's contract: each target it may train, ascending, planned once."""
        if not targets:
            self._broken("planned a sample with no target")
        for k, t in enumerate(targets):
            if t in planned or t not in self._may_train or (k and t <= targets[k - 1]):
                what = "twice" if t in planned else "out of order or not one it may train"
                self._broken(f"planned assistant message {self._at([t])} {what}")
            planned.add(t)

    def _at(self, indices: Sequence[int]) -> str:
        original = self._written.original
        return ", ".join(str(i if original is None else original[i]) for i in indices)

    def _broken(self, what: str) -> None:
        name = self.conversation.id or f"#{self.index}"
        raise StrategyError(
            f"window strategy {self.spec.window.name!r} {what} in conversation {name} (each "
            "assistant message it is given must be a target of exactly one request)"
        )


@dataclass
class _Written:
    """A conversation as it will be written: what the layout counts.

    ``original[j]`` is the input index of message ``j`` of ``conversation`` (None when no
    message was left out); ``outcomes`` are those of the assistant messages left out, and
    ``orphaned`` the input indices of assistant messages that follow an orphan result.
    """

    conversation: Conversation
    original: Sequence[int] | None = None
    outcomes: dict[int, TurnOutcome] = field(default_factory=dict)
    orphaned: frozenset[int] = frozenset()


def as_written(conversation: Conversation, spec: SplitSpec) -> Conversation:
    """``conversation`` as ``spec``'s output format writes it: what its samples hold and
    count (reasoning kept or not; messages that would be written invalid left out)."""
    return _written(conversation, spec.written_form).conversation


def _written(conversation: Conversation, form: WrittenForm) -> _Written:
    """``conversation`` in ``form``, without the messages no sample may hold."""
    messages = conversation.messages
    written: list[Message] | None = None
    first_user: int | None = None
    left_out: list[int] = []
    orphaned: list[int] = []
    pending: deque[str] = deque()
    answerable: set[str] = set()
    orphan_turn = False
    for i, read in enumerate(messages):
        message = read
        if form.changes(read):
            message = written_message(read, form)
            if message is not read:
                if written is None:
                    written = list(messages)
                written[i] = message
        role = message.role
        if role == "user":
            orphan_turn = False
            if first_user is None:
                first_user = i
        elif role == "assistant":
            if _says_nothing(message):
                left_out.append(i)
            elif message.tool_calls and first_user is not None:
                ids = [c.id or f"call_{i}_{k}" for k, c in enumerate(message.tool_calls)]
                pending = deque(ids)
                answerable.update(ids)
            if orphan_turn:
                orphaned.append(i)
        elif role == "tool" and first_user is not None:
            answers = message.tool_call_id
            if answers is None and pending:
                pending.popleft()
            elif answers is not None and answers in answerable:
                if answers in pending:
                    pending.remove(answers)
            else:
                left_out.append(i)
                orphan_turn = True
    if written is not None:
        conversation = conversation.model_copy(update={"messages": tuple(written)})
    if not left_out:
        return _Written(conversation)
    dropped = set(left_out)
    kept = [i for i in range(len(messages)) if i not in dropped]
    outcomes = _left_out_outcomes(conversation.messages, left_out, first_user)
    without = conversation.model_copy(
        update={"messages": tuple(conversation.messages[i] for i in kept)}
    )
    return _Written(without, kept, outcomes, frozenset(orphaned) - dropped)


def _left_out_outcomes(
    messages: Sequence[Message], left_out: Sequence[int], first_user: int | None
) -> dict[int, TurnOutcome]:
    """The outcomes of the assistant messages among ``left_out``."""
    outcomes: dict[int, TurnOutcome] = {}
    for i in left_out:
        message = messages[i]
        if message.role == "assistant":
            reason = (
                SkipReason.NO_USER_BEFORE
                if first_user is None or i < first_user
                else SkipReason.WEIGHT_ZERO
                if message.weight == 0
                else SkipReason.EMPTY_TARGET
            )
            outcomes[i] = trusted(TurnOutcome, message_index=i, reason=reason)
    return outcomes


def _says_nothing(message: Message) -> bool:
    """Whether an assistant message has nothing to write (trainers reject it empty)."""
    if message.tool_calls or message.reasoning:
        return False
    content = message.content
    if content is None or content == "":
        return True
    if isinstance(content, str):
        return False
    return all(part.type == "text" and not part.text for part in content)


def split_conversations(
    conversations: Iterable[Conversation | Mapping[str, object]], spec: SplitSpec
) -> Iterator[SplitResult]:
    """Split a stream of conversations lazily, one :class:`SplitResult` per conversation.

    The tokenizer's cache carries over from one conversation to the next, so a system
    prompt shared by a file is counted once. The arguments are checked here, before the
    first conversation is read.

    Raises:
        InvalidOptionError: ``conversations`` is not an iterable of conversations (one
            conversation alone is not), or ``spec`` is not a :class:`SplitSpec`.
        InvalidConversationError: (while iterating) a conversation is not valid, naming
            its position in the stream.

    >>> split_conversations(Conversation(messages=()), SplitSpec())
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: conversations must be an iterable of conversations; \
got one Conversation (use split_conversation for one)
    """
    check_spec(spec)
    if isinstance(conversations, Conversation | Mapping):
        one = "Conversation" if isinstance(conversations, Conversation) else "mapping"
        raise InvalidOptionError(
            f"conversations must be an iterable of conversations; got one {one} "
            "(use split_conversation for one)"
        )
    if isinstance(conversations, str | bytes) or not isinstance(conversations, Iterable):
        raise InvalidOptionError(
            "conversations must be an iterable of conversations (Conversation objects or "
            f"mappings in their form); got {describe(conversations)}"
        )
    return (
        split_conversation(conversation, spec, index=index)
        for index, conversation in enumerate(conversations)
    )


def _as_conversation(value: object, spec: SplitSpec, index: int) -> Conversation:
    """A mapping read as the spec reads a record (its ``input_format``, ``fields`` and
    ``role_map``, as :func:`~convsplit.run.pipeline.split_files` does); anything else
    refused, naming what it is."""
    if not isinstance(value, Mapping):
        raise InvalidConversationError(
            f"conversation #{index}: expected a Conversation or a mapping in its form "
            f"({{'messages': [...]}}); got {describe(value)}"
        )
    reader = reader_for(spec.input_format)
    try:
        return parse_record(dict(value), reader=reader, role_map=spec.role_map, fields=spec.fields)
    except InvalidConversationError as error:
        raise InvalidConversationError(
            f"conversation #{index}: {error.reason}", field=error.field, hints=error.hints
        ) from error


def _untrainable(layout: Layout, index: int, message: Message) -> SkipReason | None:
    if layout.first_user is None or index < layout.first_user:
        return SkipReason.NO_USER_BEFORE
    if message.weight == 0:
        return SkipReason.WEIGHT_ZERO
    if not (message.text or message.tool_calls or message.reasoning):
        return SkipReason.EMPTY_TARGET
    return None
