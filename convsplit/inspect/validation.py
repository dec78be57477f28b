"""Finding the problems that would waste a fine-tuning run, before it starts.

A superset of the checks in OpenAI's cookbook (``chat_finetuning_data_prep``): records that
are not objects, missing messages, unknown roles and keys, missing or empty content, no
assistant message, missing system or user messages, conversations over the token budget,
plus tool calls and results that do not pair up, messages that break the alternation an
output format needs, exact and near duplicates, text that imitates template markers, and
turns too long to train at all.

Every :class:`Finding` carries a stable ``code`` (see :data:`FINDING_CODES`), a severity,
the file and line of its record and, where it applies, the message index and field.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from convsplit.budget import Budget
from convsplit.core.split import split_conversation
from convsplit.errors import ConvsplitError, InvalidConversationError
from convsplit.formats import Record
from convsplit.formats.detect import detect_format
from convsplit.formats.json_text import json_type
from convsplit.formats.openai import OPENAI_MESSAGE_KEYS, OPENAI_RECORD_KEYS
from convsplit.formats.sharegpt import DEFAULT_ROLES, RECORD_KEYS, TURN_KEYS
from convsplit.inspect.stats import conversation_tokens
from convsplit.messages import INSTRUCTION_ROLES, ROLES, Conversation, Message
from convsplit.samples import SkipReason
from convsplit.spec import SplitSpec
from convsplit.tokens.chat_formats import (
    ChatFormat,
    TemplateFormat,
    chat_format_names,
    get_chat_format,
)


class Severity(str, Enum):
    """How bad a finding is."""

    ERROR = "error"
    """The record cannot be trained as it is (a trainer or upload would reject it)."""
    WARNING = "warning"
    """It will train, but probably not the way you meant."""
    INFO = "info"
    """Worth knowing; often intended."""


#: Every finding code, its severity and what it means.
FINDING_CODES: Mapping[str, tuple[Severity, str]] = {
    "invalid_json": (Severity.ERROR, "the record is not valid JSON"),
    "not_an_object": (Severity.ERROR, "the record is not a JSON object"),
    "missing_messages": (Severity.ERROR, "no (or an empty) list of messages"),
    "message_not_an_object": (Severity.ERROR, "a message is not a JSON object"),
    "missing_role": (Severity.ERROR, "a message has no role"),
    "unknown_role": (Severity.ERROR, "a message's role is not one the format knows"),
    "invalid_record": (Severity.ERROR, "the record does not parse (wrong field type...)"),
    "missing_content": (Severity.ERROR, "a message has no content"),
    "empty_content": (Severity.ERROR, "a message's content is empty or blank"),
    "empty_tool_result": (Severity.WARNING, "a tool result has no content"),
    "no_assistant_message": (Severity.ERROR, "nothing to train: no assistant message"),
    "orphan_tool_result": (Severity.ERROR, "a tool result answers no earlier tool call"),
    "consecutive_same_role": (
        Severity.ERROR,
        "two messages of one side in a row, which the output format forbids",
    ),
    "unknown_key": (Severity.WARNING, "a field the format does not define (dropped on write)"),
    "no_user_message": (Severity.WARNING, "no user message: nothing prompts the assistant"),
    "assistant_before_user": (Severity.WARNING, "an assistant message before any user one"),
    "unanswered_tool_call": (Severity.WARNING, "a tool call with no result after it"),
    "duplicate": (Severity.WARNING, "the same messages as an earlier record"),
    "special_token": (Severity.WARNING, "text containing a chat template's control marker"),
    "target_too_long": (Severity.WARNING, "an assistant turn too long for the budget alone"),
    "near_duplicate": (Severity.INFO, "same first user and assistant message as earlier"),
    "no_system_message": (Severity.INFO, "no system message"),
    "over_budget": (Severity.INFO, "the whole conversation exceeds the budget (it is split)"),
}


@dataclass(frozen=True)
class Finding:
    """One problem in one record.

    ``message_index`` counts the messages of the record as written in the file (for
    ShareGPT, the turns of ``conversations``), except for checks on the parsed
    conversation, where it counts its messages. ``related_lineno`` points at the earlier
    record a duplicate repeats.
    """

    code: str
    severity: Severity
    path: str
    lineno: int
    message: str
    message_index: int | None = None
    field: str | None = None
    related_lineno: int | None = None

    def __str__(self) -> str:
        return (
            f"{self.path} line {self.lineno}: {self.severity.value}: {self.message} [{self.code}]"
        )


def validate_records(
    records: Iterable[Record], spec: SplitSpec | None = None, *, check_tokens: bool = False
) -> Iterator[Finding]:
    """Check every record and yield its findings, record by record, in file order.

    Args:
        records: from :func:`convsplit.formats.read_records` (rejected ones included).
        spec: the split the records are for: its chat format's markers are the
            special-token strings searched for (every registered template's without a
            spec), ``llama2`` and the ``sharegpt`` output require user/assistant
            alternation, and the token checks split with it.
        check_tokens: check conversations and turns against ``spec.budget``.

    Returns:
        Findings; duplicates are found across all records of the iterable.

    >>> import io
    >>> from convsplit.formats import read_records
    >>> data = io.BytesIO(b'{"messages": [{"role": "user", "content": "Hi"}]}\\n"Hi"\\n')
    >>> for finding in validate_records(read_records(data, name="d.jsonl")):
    ...     print(finding)
    d.jsonl line 1: error: no assistant message: nothing to train [no_assistant_message]
    d.jsonl line 1: info: no system message [no_system_message]
    d.jsonl line 2: error: the record is a string, not a JSON object [not_an_object]
    """
    checker = _Checker(spec, check_tokens=check_tokens)
    for record in records:
        yield from checker.check(record)


def count_findings(findings: Iterable[Finding]) -> dict[str, int]:
    """How many findings of each code, most severe codes first (then by code).

    >>> f = Finding("duplicate", Severity.WARNING, "a.jsonl", 3, "same as line 1")
    >>> count_findings([f, f])
    {'duplicate': 2}
    """
    counts = Counter(f.code for f in findings)
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return dict(sorted(counts.items(), key=lambda item: (order[_severity(item[0])], item[0])))


def group_findings(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """The findings of each code, in the order they were found.

    >>> f = Finding("duplicate", Severity.WARNING, "a.jsonl", 3, "same as line 1")
    >>> {code: [x.lineno for x in group] for code, group in group_findings([f]).items()}
    {'duplicate': [3]}
    """
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.code, []).append(finding)
    return groups


def has_errors(findings: Iterable[Finding]) -> bool:
    """Whether any finding is an error (the data would fail a run or an upload).

    >>> has_errors([Finding("no_system_message", Severity.INFO, "a.jsonl", 1, "no system")])
    False
    """
    return any(f.severity is Severity.ERROR for f in findings)


def _severity(code: str) -> Severity:
    return FINDING_CODES[code][0] if code in FINDING_CODES else Severity.WARNING


def special_tokens(chat_format: ChatFormat | None = None) -> frozenset[str]:
    """Control-marker strings to look for in content: the given template's, or every
    registered template's (``<|im_start|>``, ``[INST]``, ``<|eot_id|>``...).

    >>> sorted(special_tokens(get_chat_format("chatml")))
    ['<|im_end|>', '<|im_start|>']
    """
    formats = [chat_format] if chat_format is not None else []
    if not formats or not isinstance(chat_format, TemplateFormat):
        formats = []
        for name in chat_format_names():
            try:
                formats.append(get_chat_format(name))
            except ConvsplitError:  # a registered format that cannot load here
                continue
    markers: set[str] = set()
    for fmt in formats:
        if isinstance(fmt, TemplateFormat):
            markers |= fmt.specials
    return frozenset(markers)


class _Checker:
    """Holds the options and the cross-record state (duplicate digests) of one run."""

    def __init__(self, spec: SplitSpec | None, *, check_tokens: bool) -> None:
        self.spec = spec or SplitSpec()
        self.budget = self.spec.budget if check_tokens else None
        chat_format = self.spec.chat_format
        self.counter, self.chat_format = self.spec.tokenizer, chat_format
        output_format = self.spec.output_format
        self.alternate = output_format == "sharegpt" or chat_format.name == "llama2"
        self.alternation_reason = (
            "the sharegpt format" if output_format == "sharegpt" else f"{chat_format.name}"
        )
        self.role_map = self.spec.role_map
        markers = special_tokens(None if spec is None else chat_format)
        by_length = sorted(markers, key=len, reverse=True)
        self.markers = re.compile("|".join(map(re.escape, by_length))) if by_length else None
        self.seen: dict[bytes, tuple[str, int]] = {}
        self.seen_pairs: dict[bytes, tuple[str, int]] = {}

    def check(self, record: Record) -> Iterator[Finding]:
        found = _Found(record.path, record.lineno)
        self._raw(record, found)
        if record.conversation is not None:
            self._conversation(record.conversation, found)
        yield from found.items

    # -- the record as written -------------------------------------------------------------

    def _raw(self, record: Record, found: _Found) -> None:
        error = record.error
        try:
            value = orjson.loads(record.raw)
        except orjson.JSONDecodeError:
            found.add("invalid_json", _reason(error) or "the record is not valid JSON")
            return
        if isinstance(value, list):  # a bare list of messages reads as OpenAI's messages
            value = {"messages": value}
        if not isinstance(value, dict):
            found.add("not_an_object", f"the record is {json_type(value)}, not a JSON object")
            return
        try:
            kind = detect_format(value, role_map=self.role_map)
        except InvalidConversationError as detect_error:
            found.add("missing_messages", _reason(detect_error))
            return
        if kind == "openai":
            self._openai(value, found)
        elif kind == "sharegpt":
            self._sharegpt(value, found)
        if error is not None and not any(f.severity is Severity.ERROR for f in found.items):
            found.add("invalid_record", _reason(error), field=error.field)

    def _openai(self, value: dict[str, Any], found: _Found) -> None:
        messages = value.get("messages")
        if not isinstance(messages, list) or not messages:
            what = "an empty list" if messages == [] else json_type(messages)
            found.add(
                "missing_messages", f"field 'messages' is {what}; expected a list of messages"
            )
            return
        for name in value:
            if name not in OPENAI_RECORD_KEYS:
                found.add(
                    "unknown_key",
                    f"field {name!r} is not part of OpenAI's chat format (the openai writer "
                    "leaves it out)",
                    field=name,
                    severity=Severity.INFO,
                )
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                found.add("message_not_an_object", f"message {i} is {json_type(message)}", index=i)
                continue
            role = message.get("role")
            if role is None:
                found.add("missing_role", f"message {i} has no 'role'", index=i, field="role")
            elif role not in ROLES and role != "function" and role not in self.role_map:
                found.add(
                    "unknown_role",
                    f"message {i} has role {role!r}; expected one of {', '.join(ROLES)} "
                    f"(map it with --role-map {role}=assistant)",
                    index=i,
                    field="role",
                )
            unknown = [k for k in message if k not in OPENAI_MESSAGE_KEYS]
            if unknown:
                found.add(
                    "unknown_key",
                    f"message {i} has field(s) {', '.join(map(repr, unknown))} that OpenAI's "
                    "chat format does not define (the openai writer drops them)",
                    index=i,
                    field=unknown[0],
                )

    def _sharegpt(self, value: dict[str, Any], found: _Found) -> None:
        turns = value.get("conversations")
        if not isinstance(turns, list) or not turns:
            what = "an empty list" if turns == [] else json_type(turns)
            found.add("missing_messages", f"field 'conversations' is {what}; expected turns")
            return
        for name in value:
            if name not in RECORD_KEYS:
                found.add(
                    "unknown_key",
                    f"field {name!r} is not part of the ShareGPT format",
                    field=name,
                    severity=Severity.INFO,
                )
        for i, turn in enumerate(turns):
            if not isinstance(turn, dict):
                found.add("message_not_an_object", f"message {i} is {json_type(turn)}", index=i)
                continue
            sender = turn.get("from", turn.get("role"))
            if sender is None:
                found.add("missing_role", f"message {i} has no 'from'", index=i, field="from")
            elif not isinstance(sender, str) or (
                sender not in self.role_map and sender.lower() not in DEFAULT_ROLES
            ):
                found.add(
                    "unknown_role",
                    f"message {i} is from {sender!r}; expected one of "
                    f"{', '.join(DEFAULT_ROLES)} (map it with --role-map {sender}=assistant)",
                    index=i,
                    field="from",
                )
            unknown = [k for k in turn if k not in TURN_KEYS]
            if unknown:
                found.add(
                    "unknown_key",
                    f"message {i} has field(s) {', '.join(map(repr, unknown))} that the "
                    "ShareGPT format does not define",
                    index=i,
                    field=unknown[0],
                )

    # -- the parsed conversation -------------------------------------------------------------

    def _conversation(self, conv: Conversation, found: _Found) -> None:
        messages = conv.messages
        if not messages:
            return  # reported as missing_messages
        roles = [m.role for m in messages]
        if "assistant" not in roles:
            found.add("no_assistant_message", "no assistant message: nothing to train")
        if "user" not in roles:
            found.add("no_user_message", "no user message: no assistant turn can be trained")
        else:
            first_user = roles.index("user")
            for i in range(first_user):
                if roles[i] == "assistant":
                    found.add(
                        "assistant_before_user",
                        f"message {i} is an assistant message before any user message "
                        "(it is not trained)",
                        index=i,
                    )
        if not any(role in INSTRUCTION_ROLES for role in roles):
            found.add("no_system_message", "no system message")
        for i, message in enumerate(messages):
            self._content(i, message, found)
        _tool_pairing(messages, found)
        if self.alternate:
            self._alternation(messages, found)
        if self.markers is not None:
            _markers(self.markers, messages, found)
        self._duplicates(conv, found)
        if self.budget is not None:
            self._budget(conv, self.budget, found)

    def _content(self, i: int, message: Message, found: _Found) -> None:
        if message.role == "assistant" and (message.tool_calls or message.reasoning):
            return
        has_parts = isinstance(message.content, tuple) and any(
            part.type != "text" for part in message.content
        )
        if has_parts or message.text.strip():
            return
        if message.role == "tool":
            found.add("empty_tool_result", f"message {i} is a tool result with no content", index=i)
        elif message.content is None:
            found.add(
                "missing_content", f"message {i} ({message.role}) has no content", index=i,
                field="content",
            )  # fmt: skip
        else:
            found.add(
                "empty_content",
                f"message {i} ({message.role}) has empty content"
                + (" (it is not trained)" if message.role == "assistant" else ""),
                index=i,
                field="content",
            )

    def _alternation(self, messages: tuple[Message, ...], found: _Found) -> None:
        previous: tuple[int, str] | None = None
        for i, message in enumerate(messages):
            if message.role in INSTRUCTION_ROLES:
                continue
            side = "assistant" if message.role == "assistant" else "user"
            if previous is not None and previous[1] == side:
                found.add(
                    "consecutive_same_role",
                    f"messages {previous[0]} and {i} are both {side}-side "
                    f"({messages[previous[0]].role}, {message.role}); "
                    f"{self.alternation_reason} needs user and assistant turns to alternate",
                    index=i,
                )
            if side == "assistant" and message.tool_calls and message.text:
                found.add(
                    "consecutive_same_role",
                    f"message {i} both speaks and calls tools: the sharegpt writer writes it "
                    "as two assistant turns in a row",
                    index=i,
                )
            previous = (i, side)

    def _duplicates(self, conv: Conversation, found: _Found) -> None:
        digest = _digest(conv.model_dump_json(include={"messages", "tools"}).encode())
        first = self.seen.setdefault(digest, (found.path, found.lineno))
        if first != (found.path, found.lineno):
            found.add(
                "duplicate",
                f"the same messages as {_where(first, found.path)}",
                related=first[1],
            )
            return
        user = next((m for m in conv.messages if m.role == "user"), None)
        reply = next((m for m in conv.messages if m.role == "assistant"), None)
        if user is None or reply is None:
            return
        pair = _digest(orjson.dumps([user.text, reply.text, bool(reply.tool_calls)]))
        first = self.seen_pairs.setdefault(pair, (found.path, found.lineno))
        if first != (found.path, found.lineno):
            found.add(
                "near_duplicate",
                f"the same first user and assistant messages as {_where(first, found.path)}",
                related=first[1],
            )

    def _budget(self, conv: Conversation, budget: Budget, found: _Found) -> None:
        total = conversation_tokens(conv, counter=self.counter, chat_format=self.chat_format)
        if total <= budget.max_tokens:
            return
        found.add(
            "over_budget",
            f"the conversation has {total} tokens, over the budget of {budget.max_tokens}: "
            "it will be split",
        )
        result = split_conversation(conv, self.spec.with_budget(budget))
        for outcome in result.skipped:
            if outcome.reason is SkipReason.TARGET_TOO_LONG:
                i = outcome.message_index
                found.add(
                    "target_too_long",
                    f"message {i} (assistant) does not fit {budget.max_tokens} tokens even "
                    "with no history: it will be skipped (or use on_long_target='truncate')",
                    index=i,
                )


def _tool_pairing(messages: tuple[Message, ...], found: _Found) -> None:
    """Tool results must answer an earlier call; calls should get a result each.

    With ids, pairing is exact. Without, results answer the latest calling message in
    order; fewer results than calls is reported, since OpenAI needs one result per call
    (LLaMA-Factory data often answers parallel calls with one combined result).
    """
    by_id: dict[str, int] = {}
    caller: int | None = None
    unanswered = 0
    calls = 0

    def report() -> None:
        if caller is not None and unanswered:
            found.add(
                "unanswered_tool_call",
                f"message {caller} makes {calls} tool call(s) and {unanswered} of them get no "
                "result (OpenAI needs one tool message per call)",
                index=caller,
            )

    for i, message in enumerate(messages):
        if message.role == "assistant" and message.tool_calls:
            report()
            caller, calls = i, len(message.tool_calls)
            unanswered = calls
            for call in message.tool_calls:
                if call.id is not None:
                    by_id[call.id] = i
        elif message.role == "tool":
            call_id = message.tool_call_id
            if call_id is not None and call_id in by_id:
                owner = by_id.pop(call_id)
                if owner == caller and unanswered:
                    unanswered -= 1
            elif call_id is None and caller is not None and unanswered:
                unanswered -= 1
            else:
                what = (
                    f"for call id {call_id!r}, which no earlier assistant message made"
                    if call_id
                    else "with no earlier tool call left to answer"
                )
                found.add(
                    "orphan_tool_result",
                    f"message {i} is a tool result {what}",
                    index=i,
                    field="tool_call_id" if call_id else None,
                )
    report()


def _markers(markers: re.Pattern[str], messages: tuple[Message, ...], found: _Found) -> None:
    for i, message in enumerate(messages):
        texts = [message.text, message.reasoning or ""]
        texts += [call.function.arguments for call in message.tool_calls or ()]
        for text in texts:
            match = markers.search(text)
            if match:
                found.add(
                    "special_token",
                    f"message {i} contains {match.group()!r}, a chat template marker: a "
                    "tokenizer that reads it as the control token would break the sample",
                    index=i,
                )
                break


class _Found:
    """The findings of one record, in the order they were found."""

    def __init__(self, path: str, lineno: int) -> None:
        self.path = path
        self.lineno = lineno
        self.items: list[Finding] = []

    def add(
        self,
        code: str,
        message: str,
        *,
        index: int | None = None,
        field: str | None = None,
        related: int | None = None,
        severity: Severity | None = None,
    ) -> None:
        self.items.append(
            Finding(
                code=code,
                severity=severity or _severity(code),
                path=self.path,
                lineno=self.lineno,
                message=message,
                message_index=index,
                field=field,
                related_lineno=related,
            )
        )


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _where(first: tuple[str, int], path: str) -> str:
    return f"line {first[1]}" if first[0] == path else f"{first[0]} line {first[1]}"


def _reason(error: InvalidConversationError | None) -> str:
    return error.reason if error is not None else ""
