"""What is trained, shown: the samples of one conversation as text for a terminal.

One block per sample: pinned messages, context (dimmed on a terminal), the trained
target(s) (highlighted, with their tokens), and a one-line marker wherever history was
dropped or a message truncated. Skipped turns follow with their reasons. Without colour
the text is plain and stable, so it can be piped, diffed and tested exactly.

Each message is one line: runs of spaces and tabs are shown as one space, a line break in
the content as ``⏎``, and every id, role and text passes through
:func:`~convsplit.terminal.visible`, so no control character from a record reaches the
terminal; the only escape sequences written are the colours asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from convsplit.core.layout import Layout
from convsplit.core.preference import (
    preference_output,
    prepare_judged,
    split_judged,
    with_answer,
)
from convsplit.core.split import as_written, split_conversation
from convsplit.errors import InvalidConversationError, InvalidOptionError
from convsplit.formats import Record, parse_json
from convsplit.formats.preference import PreferencePair, PreferenceRecord, UnpairedRecord
from convsplit.inspect.labels import plural
from convsplit.inspect.preference_stats import judged_whole
from convsplit.messages import INSTRUCTION_ROLES, Conversation, Message
from convsplit.samples import Sample, SkipReason, SplitResult
from convsplit.spec import SplitSpec
from convsplit.terminal import visible

_NEWLINE = "⏎"
_BLANKS = re.compile(r"[ \t]+")
_DIM, _BOLD, _GREEN, _YELLOW, _RESET = "\x1b[2m", "\x1b[1m", "\x1b[32m", "\x1b[33m", "\x1b[0m"


@dataclass(frozen=True)
class View:
    """How to show samples: colour (terminal only), line width, and which sample."""

    color: bool = False
    width: int = 100
    sample: int | None = None


def show_conversation(
    conversation: Conversation, spec: SplitSpec, *, view: View = View(), index: int = 0
) -> str:
    """The samples of ``conversation``, split with ``spec``, as text; ``index`` is its
    position in its file.

    The figures are the split's own: each message's cost as the splitter counted it (as
    context, or as a target), never counted again another way.

    Raises:
        InvalidOptionError: ``view.sample`` is not one of the conversation's samples.

    >>> from convsplit import Budget
    >>> conv = Conversation(messages=(Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello!")))
    >>> print(show_conversation(conv, SplitSpec(Budget(50))))
    conversation #0: 2 messages, 1 assistant turn, 1 sample
    <BLANKLINE>
    sample 0: 14 tokens (context 8, trained 6)
      user       Hi
    > assistant  Hello!  [trained, 6 tokens]
    """
    result = split_conversation(conversation, spec, index=index)
    layout = _layout(conversation, spec)
    shower = _Shower(
        conversation, layout, view, _Painter(view.color), spec, _tools_tokens(layout, spec)
    )
    return "\n".join(shower.lines(result))


def show_record(
    record: Record, spec: SplitSpec, *, wanted: str, view: View = View(), index: int = 0
) -> str | None:
    """Record ``index`` of its file shown, if it is the one ``wanted`` (its position or its
    id), else None: a conversation's samples, or for a preference output its pair, read as
    ``split`` reads it.

    Raises:
        InvalidConversationError: the record wanted cannot be read (naming file and line).
    """
    kind = preference_output(spec)
    if kind is None:
        conversation = record.conversation
        if str(index) != wanted and (conversation is None or conversation.id != wanted):
            return None
        if conversation is None:
            raise record.error or InvalidConversationError("unreadable record")
        return show_conversation(conversation, spec, view=view, index=index)
    try:
        judged = prepare_judged(parse_json(record.raw), spec, kind=kind, index=index).record
    except (InvalidConversationError, ValueError) as error:  # ValueError: not JSON
        if str(index) != wanted:
            return None
        if isinstance(error, InvalidConversationError):
            raise error.located(path=record.path, lineno=record.lineno) from error
        raise record.error or InvalidConversationError(str(error)) from error
    if str(index) != wanted and judged.prompt.id != wanted:
        return None
    return show_judged(judged, spec, view=view, index=index)


def show_judged(
    record: PreferenceRecord | UnpairedRecord,
    spec: SplitSpec,
    *,
    view: View = View(),
    index: int = 0,
) -> str:
    """A preference record as ``split --to preference`` (or ``kto``) writes it: its prompt
    with the longer answer as the sample (the one the budget bounds; the other answer gets
    the same prompt), then the other answer with its own count; or why it is skipped.

    >>> from convsplit import Budget
    >>> from convsplit.formats.preference_read import read_preference
    >>> pair = read_preference({"prompt": "2+2?", "chosen": "4", "rejected": "It is five."})
    >>> print(show_judged(pair, SplitSpec(Budget(50), output_format="preference")))
    pair #0: a prompt of 1 message, a chosen and a rejected answer, 1 sample
    <BLANKLINE>
    sample 0: 19 tokens (prompt 11, answer 8)
      user       2+2?
    > assistant  It is five.  [rejected, 8 tokens]
    <BLANKLINE>
      chosen     4  [16 tokens with the same prompt]
    """
    result = split_judged(record, spec, index=index)
    conversation, _ = judged_whole(record, spec)
    name = visible(record.prompt.id) if record.prompt.id is not None else f"#{index}"
    paint = _Painter(view.color)
    if isinstance(record, UnpairedRecord):
        kind, answers = "judged answer", f"an answer labelled {str(record.label).lower()}"
    else:
        kind, answers = "pair", "a chosen and a rejected answer"
    size = plural(len(record.prompt.messages), "message")
    lines = [
        f"{kind} {name}: a prompt of {size}, {answers}, {plural(len(result.samples), 'sample')}"
    ]
    pair = result.pairs[0] if result.pairs else None
    other: tuple[str, Message, int] | None = None
    if isinstance(pair, PreferencePair):
        if pair.rejected_tokens > pair.chosen_tokens:  # as the split takes the longer
            label, other = "rejected", ("chosen", pair.chosen, pair.chosen_tokens)
        else:
            label, other = "chosen", ("rejected", pair.rejected, pair.rejected_tokens)
        conversation = with_answer(record.prompt, getattr(record, label))
    else:
        label = "answer" if isinstance(record, UnpairedRecord) else ""
    layout = _layout(conversation, spec)
    shower = _Shower(conversation, layout, view, paint, spec, _tools_tokens(layout, spec))
    for k, sample in enumerate(result.samples):
        lines.append("")
        lines += shower.sample_lines(k, sample, label=label)
    if other is not None:
        which, answer, tokens = other
        suffix = f"  [{tokens:,} tokens with the same prompt]"
        lines += [
            "",
            paint.context(f"  {which:<10} {_line(answer, view.width - 13 - len(suffix))}{suffix}"),
        ]
    for outcome in result.skipped:
        reason = outcome.reason.value if outcome.reason else "?"
        lines += ["", paint.warn(f"skipped: the {kind}: {reason}")]
        if outcome.reason is SkipReason.TARGET_TOO_LONG:
            needs = _needs(layout, spec, len(conversation.messages) - 1)
            lines.append(paint.warn(f"  {needs_text(needs, spec.budget.max_tokens)}"))
    return "\n".join(lines)


def target_needs(conversation: Conversation, spec: SplitSpec, index: int) -> dict[str, int]:
    """What assistant message ``index`` needs as a target with no history, part by part,
    largest first: ``tool schemas``, ``pinned`` messages, the ``target`` itself (at least
    ``reserve_target``) and the ``rest of its turn`` (with the sample's own framing). The
    parts add up to the split's own count, so a target skipped as ``target_too_long``
    shows what did not fit.

    >>> conv = Conversation(messages=(Message(role="system", content="Be brief."),
    ...                               Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello!")))
    >>> target_needs(conv, SplitSpec(), 2)
    {'rest of its turn': 8, 'pinned': 7, 'target': 6}
    >>> split_conversation(conv, SplitSpec()).samples[0].total_tokens
    21
    """
    layout = _layout(conversation, spec)
    return _needs(layout, spec, index)


def _layout(conversation: Conversation, spec: SplitSpec) -> Layout:
    """The split's layout: of the messages as the output format writes them (reasoning
    left out where it is not written), where that leaves every message in place."""
    written = as_written(conversation, spec)
    if len(written.messages) == len(conversation.messages):
        conversation = written
    return Layout(
        conversation,
        counter=spec.tokenizer,
        chat_format=spec.chat_format,
        keep_reasoning=spec.keep_reasoning,
    )


def _tools_tokens(layout: Layout, spec: SplitSpec) -> int:
    return layout.fixed - spec.chat_format.sample_cost(None, spec.tokenizer)


def _needs(layout: Layout, spec: SplitSpec, target: int) -> dict[str, int]:
    return layout.needs(target, reserve=spec.budget.reserve_target)


def needs_text(parts: dict[str, int], max_tokens: int) -> str:
    """``parts`` (from :func:`target_needs`) in one line.

    >>> needs_text({"tool schemas": 52, "target": 39}, 60)
    'needs 91 of 60 tokens: tool schemas 52, target 39'
    """
    listed = ", ".join(f"{name} {n:,}" for name, n in parts.items())
    return f"needs {sum(parts.values()):,} of {max_tokens:,} tokens: {listed}"


@dataclass(frozen=True)
class _Shower:
    conversation: Conversation
    layout: Layout
    view: View
    paint: _Painter
    spec: SplitSpec
    tools_tokens: int

    def lines(self, result: SplitResult) -> list[str]:
        conversation, view, paint = self.conversation, self.view, self.paint
        name = (
            visible(conversation.id)
            if conversation.id is not None
            else f"#{result.conversation_index}"
        )
        lines = [
            f"conversation {name}: {plural(len(conversation.messages), 'message')}, "
            f"{plural(len(result.outcomes), 'assistant turn')}, "
            f"{plural(len(result.samples), 'sample')}"
        ]
        chosen = range(len(result.samples)) if view.sample is None else [view.sample]
        for k in chosen:
            if not 0 <= k < len(result.samples):
                raise InvalidOptionError(
                    f"conversation {name} has no sample {k} (it has {len(result.samples)})"
                )
            lines.append("")
            lines += self.sample_lines(k, result.samples[k])
        if result.skipped and view.sample is None:
            lines.append("")
            for outcome in result.skipped:
                reason = outcome.reason.value if outcome.reason else "?"
                index = outcome.message_index
                text = _line(conversation.messages[index], view.width - 40)
                lines.append(paint.warn(f"skipped: message {index}: {reason}: {text}"))
                if outcome.reason is SkipReason.TARGET_TOO_LONG:
                    needs = _needs(self.layout, self.spec, index)
                    lines.append(paint.warn(f"  {needs_text(needs, self.spec.budget.max_tokens)}"))
        return lines

    def sample_lines(self, k: int, sample: Sample, *, label: str = "") -> list[str]:
        """One sample's lines; ``label`` names its answer where it is a preference
        record's (``chosen``...): compared, not trained, after a prompt."""
        paint = self.paint
        before, after = ("prompt", "answer") if label else ("context", "trained")
        lines = [
            paint.bold(
                f"sample {k}: {sample.total_tokens:,} tokens "
                f"({before} {sample.context_tokens:,}, {after} {sample.target_tokens:,})"
            )
        ]
        lines += self.tools_line(sample)
        messages = self.conversation.messages
        previous_source = -1
        targets = set(sample.targets)
        for position, (source, message) in enumerate(
            zip(sample.source_indices, sample.messages, strict=True)
        ):
            gap = [
                i
                for i in range(previous_source + 1, source)
                if messages[i].role not in INSTRUCTION_ROLES
            ]
            if gap:
                tokens = sum(self.layout.context_cost[i] for i in gap)
                dropped = f"  ... {plural(len(gap), 'message')}, {tokens:,} tokens dropped ..."
                lines.append(paint.warn(dropped))
            previous_source = source
            notes = ["truncated"] if position in sample.truncated else []
            trained = position in targets
            if trained:
                # One target: the sample's own figure (a cut target costs less than whole).
                alone = len(targets) == 1
                cost = sample.target_tokens if alone else self.layout.target_cost(source)
                notes.insert(0, f"{label or 'trained'}, {cost:,} tokens")
            elif message.role in INSTRUCTION_ROLES:
                notes.append("pinned")
            suffix = f"  [{', '.join(notes)}]" if notes else ""
            # The text gives way to the notes, so a line never wraps past the width.
            text = _line(message, self.view.width - 13 - len(suffix))
            row = f"{'> ' if trained else '  '}{visible(message.role):<10} {text}{suffix}"
            lines.append(paint.target(row) if trained else paint.context(row))
            if message.reasoning:  # counted where kept (targets; context with keep_reasoning)
                thinking = _one_line(message.reasoning)
                lines.append(
                    paint.context(
                        f"  {'':<10} {_cut('thinking: ' + thinking, self.view.width - 13)}"
                    )
                )
        return lines

    def tools_line(self, sample: Sample) -> list[str]:
        """The tool schemas every sample carries, with what they cost."""
        if not sample.tools:
            return []
        names = ", ".join(
            visible(str(tool.get("function", {}).get("name", "?"))) for tool in sample.tools
        )
        suffix = f"  [pinned, {self.tools_tokens:,} tokens]"
        text = _cut(
            f"{plural(len(sample.tools), 'schema')}: {names}", self.view.width - 13 - len(suffix)
        )
        return [self.paint.context(f"  {'tools':<10} {text}{suffix}")]


def _line(message: Message, width: int) -> str:
    text = message.text
    if message.tool_calls:
        calls = ", ".join(f"{c.function.name}({c.function.arguments})" for c in message.tool_calls)
        text = f"{text} -> {calls}" if text else f"-> {calls}"
    return _cut(_one_line(text), width)


def _cut(flat: str, width: int) -> str:
    width = max(width, 20)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _one_line(text: str) -> str:
    """``text`` on one visible line: blanks folded, each line break shown as a marker."""
    pieces: list[str] = []
    for k, line in enumerate(text.replace("\r\n", "\n").split("\n")):
        if k:
            pieces.append(_NEWLINE)
        folded = _BLANKS.sub(" ", line).strip(" ")
        if folded:
            pieces.append(visible(folded))
    return " ".join(pieces)


class _Painter:
    """ANSI styling where colour is on; the same text, unstyled, where it is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text

    def bold(self, text: str) -> str:
        return self._wrap(_BOLD, text)

    def context(self, text: str) -> str:
        return self._wrap(_DIM, text)

    def target(self, text: str) -> str:
        return self._wrap(_BOLD + _GREEN, text)

    def warn(self, text: str) -> str:
        return self._wrap(_YELLOW, text)
