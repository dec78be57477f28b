"""A record as the report shows it: its messages cut to a readable length, or its raw text.

Only records some listed finding is about are kept, each cut down as soon as its findings
are in, so the report's memory does not grow with the size of the records.
"""

from __future__ import annotations

from dataclasses import dataclass

from convsplit.formats import Record
from convsplit.inspect.findings import Finding
from convsplit.inspect.stats import whole_costs
from convsplit.messages import Conversation, Message
from convsplit.tokens.chat_formats import ChatFormat
from convsplit.tokens.counters import TokenCounter

_MESSAGE_CHARS = 600  # a message shown longer than this is cut, with the count of the rest
_RAW_CHARS = 2000
_MESSAGES_WHOLE = 14  # records with more messages show the ends and what the findings name


@dataclass(frozen=True)
class ShownMessage:
    """A message of a shown record: its text cut to a readable length."""

    index: int
    role: str
    tokens: int
    text: str
    cut: int
    flagged: bool


@dataclass(frozen=True)
class Gap:
    """Messages of a shown record left out: how many, and their tokens."""

    messages: int
    tokens: int


@dataclass(frozen=True)
class ShownRecord:
    """A record some listed finding is about, as the report shows it.

    ``raw`` is the record's text where it did not parse as a conversation (``raw_cut``
    characters left out at its end); otherwise ``rows`` holds its messages and gaps.
    """

    anchor: str
    path: str
    lineno: int
    conversation_id: str | None
    rows: tuple[ShownMessage | Gap, ...]
    raw: str | None
    raw_cut: int
    findings: tuple[Finding, ...]


def show_record(
    anchor: str,
    record: Record,
    found: list[Finding],
    counter: TokenCounter,
    chat_format: ChatFormat,
) -> ShownRecord:
    """``record`` as the page shows it, with the findings about it (``found``).

    >>> from convsplit import Conversation, Message, get_chat_format, get_counter
    >>> conv = Conversation(messages=(Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello")))
    >>> record = Record(path="d.jsonl", lineno=1, raw="", conversation=conv, error=None)
    >>> shown = show_record("record-0-1", record, [], get_counter(), get_chat_format("openai"))
    >>> [(row.role, row.tokens, row.text) for row in shown.rows]
    [('user', 5, 'Hi'), ('assistant', 5, 'Hello')]
    """
    conversation = record.conversation
    if conversation is None:
        return ShownRecord(
            anchor=anchor,
            path=record.path,
            lineno=record.lineno,
            conversation_id=None,
            rows=(),
            raw=record.raw[:_RAW_CHARS],
            raw_cut=max(len(record.raw) - _RAW_CHARS, 0),
            findings=tuple(found),
        )
    flagged = {f.message_index for f in found if f.message_index is not None}
    return ShownRecord(
        anchor=anchor,
        path=record.path,
        lineno=record.lineno,
        conversation_id=conversation.id,
        rows=_rows(conversation, flagged, counter, chat_format),
        raw=None,
        raw_cut=0,
        findings=tuple(found),
    )


def _rows(
    conversation: Conversation, flagged: set[int], counter: TokenCounter, chat_format: ChatFormat
) -> tuple[ShownMessage | Gap, ...]:
    """The messages to show: all of a short record; else both ends and around each flag.
    Tokens are each message's in the whole conversation, as the sweep counts them."""
    messages = conversation.messages
    costs = [cost for _, cost in whole_costs(conversation, counter, chat_format).messages]
    if len(messages) <= _MESSAGES_WHOLE:
        keep = set(range(len(messages)))
    else:
        keep = {0, 1, 2, len(messages) - 2, len(messages) - 1}
        for index in flagged:
            keep |= {index - 1, index, index + 1}
    rows: list[ShownMessage | Gap] = []
    gap: list[int] = []
    for index, message in enumerate(messages):
        if index not in keep:
            gap.append(index)
            continue
        if gap:
            rows.append(Gap(len(gap), sum(costs[k] for k in gap)))
            gap = []
        text = _message_text(message)
        rows.append(
            ShownMessage(
                index=index,
                role=message.role,
                tokens=costs[index],
                text=text[:_MESSAGE_CHARS],
                cut=max(len(text) - _MESSAGE_CHARS, 0),
                flagged=index in flagged,
            )
        )
    if gap:
        rows.append(Gap(len(gap), sum(costs[k] for k in gap)))
    return tuple(rows)


def _message_text(message: Message) -> str:
    """What a person needs to see of a message: its text, other parts, calls, reasoning."""
    lines: list[str] = []
    if message.reasoning:
        lines.append(f"[reasoning] {message.reasoning}")
    if isinstance(message.content, tuple):
        lines.extend(p.text or "" if p.type == "text" else f"[{p.type}]" for p in message.content)
    elif message.content:
        lines.append(message.content)
    for call in message.tool_calls or ():
        lines.append(f"[call] {call.function.name}({call.function.arguments})")
    if message.tool_call_id:
        lines.append(f"[result of {message.tool_call_id}]")
    return "\n".join(lines)
