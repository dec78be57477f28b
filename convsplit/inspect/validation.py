"""Finding the problems that would waste a fine-tuning run, before it starts.

A superset of the checks in OpenAI's cookbook (``chat_finetuning_data_prep``): records that
are not objects, missing messages, unknown roles and keys, missing or empty content, no
assistant message, missing system or user messages, conversations over the token budget,
plus tool calls and results that do not pair up, messages that break the alternation an
output format needs, exact and near duplicates, text that imitates template markers, and
turns too long to train at all.

Every :class:`~convsplit.inspect.findings.Finding` carries a stable ``code`` (see
:data:`~convsplit.inspect.findings.FINDING_CODES`), a severity, the file and line of its
record and, where it applies, the message index and field. The checks of the record as
written are in :mod:`convsplit.inspect._written_checks`; those of the parsed conversation,
across records (duplicates) and against the budget are here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator

import orjson

from convsplit.budget import Budget
from convsplit.core.preference import preference_output
from convsplit.core.split import split_conversation
from convsplit.errors import ConvsplitError, OptionHint
from convsplit.formats import Record, get_format
from convsplit.inspect._written_checks import check_written
from convsplit.inspect.findings import Finding, RecordFindings
from convsplit.inspect.preference_checks import check_judged, preference_finding
from convsplit.inspect.show import needs_text, target_needs
from convsplit.inspect.stats import conversation_tokens
from convsplit.messages import INSTRUCTION_ROLES, Conversation, Message
from convsplit.samples import SkipReason
from convsplit.spec import SplitSpec
from convsplit.tokens.chat_formats import (
    ChatFormat,
    TemplateFormat,
    chat_format_names,
    get_chat_format,
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

    A record that ``split`` refuses as preference data is a ``preference_data`` error for
    an SFT output, its remedy (``hints``) the output that writes it.
    """
    checker = _Checker(spec, check_tokens=check_tokens)
    kind = None if spec is None else preference_output(spec)
    for record in records:
        # A preference output reads preference data: checked as it reads it. An SFT output
        # refuses it, as split does, however it would read as a conversation.
        if kind is not None and spec is not None:
            judged = check_judged(record, spec, kind, check_tokens=check_tokens)
        else:
            judged = preference_finding(record, None if spec is None else spec.fields)
        yield from checker.check(record) if judged is None else judged


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
        alternates = get_format(output_format).alternates
        self.alternate = alternates or chat_format.name == "llama2"
        self.alternation_reason = (
            f"the {output_format} format" if alternates else f"{chat_format.name}"
        )
        self.role_map = self.spec.role_map
        markers = special_tokens(None if spec is None else chat_format)
        by_length = sorted(markers, key=len, reverse=True)
        self.markers = re.compile("|".join(map(re.escape, by_length))) if by_length else None
        self.seen: dict[bytes, tuple[str, int]] = {}
        self.seen_pairs: dict[bytes, tuple[str, int]] = {}

    def check(self, record: Record) -> Iterator[Finding]:
        found = RecordFindings(record.path, record.lineno)
        check_written(record, self.role_map, found, self.spec.fields)
        if record.conversation is not None:
            self._conversation(record.conversation, found)
        yield from found.items

    # -- the parsed conversation -------------------------------------------------------------

    def _conversation(self, conv: Conversation, found: RecordFindings) -> None:
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

    def _content(self, i: int, message: Message, found: RecordFindings) -> None:
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

    def _alternation(self, messages: tuple[Message, ...], found: RecordFindings) -> None:
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

    def _duplicates(self, conv: Conversation, found: RecordFindings) -> None:
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

    def _budget(self, conv: Conversation, budget: Budget, found: RecordFindings) -> None:
        total = conversation_tokens(conv, counter=self.counter, chat_format=self.chat_format)
        if total <= budget.max_tokens:
            return
        found.add(
            "over_budget",
            f"the conversation has {total} tokens, over the budget of {budget.max_tokens}: "
            "it will be split",
        )
        spec = self.spec.with_budget(budget)
        result = split_conversation(conv, spec)
        for outcome in result.skipped:
            if outcome.reason is SkipReason.TARGET_TOO_LONG:
                i = outcome.message_index
                needs = needs_text(target_needs(conv, spec, i), budget.max_tokens)
                found.add(
                    "target_too_long",
                    f"message {i} (assistant) does not fit {budget.max_tokens} tokens even "
                    f"with no history: it will be skipped (or use {_TRUNCATE}); it {needs}",
                    index=i,
                    hints=[_TRUNCATE],
                )


#: The remedy of a turn too long for the budget alone.
_TRUNCATE = OptionHint("on_long_target", ("truncate",))


def _tool_pairing(messages: tuple[Message, ...], found: RecordFindings) -> None:
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
    if caller != len(messages) - 1:  # a sample may end on its target, a call by design
        report()


def _markers(
    markers: re.Pattern[str], messages: tuple[Message, ...], found: RecordFindings
) -> None:
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


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _where(first: tuple[str, int], path: str) -> str:
    return f"line {first[1]}" if first[0] == path else f"{first[0]} line {first[1]}"
