"""Measuring what one message costs inside a chat template, with small probe conversations.

A template renders whole conversations, but the splitter needs each message's cost on its
own. A message is rendered after a few probe contexts and before a few followers, and its
cost is the difference in tokens. Each measurement is checked on the message's own text:

- *prefix-stable*: rendering the message after its context extends the context's rendering,
  and rendering a follower after it extends the message's rendering, as text and as tokens
  (no token straddles a message boundary);
- *context-free*: the cost is the same after two different contexts of the same kind
  (``after_instruction`` is the only context the splitter distinguishes).

What breaks either raises :class:`~convsplit.errors.ChatFormatError` naming the message and
the reason, instead of miscounting.

:func:`message_form` finds, once per template, the form it takes messages in (tool-call
arguments as objects or strings, content as a string or text parts): the first form whose
rendering shows a probe's text and arguments, so that a template is never refused, nor shown
empty content, for convsplit's conversion alone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from convsplit.errors import ChatFormatError
from convsplit.messages import INSTRUCTION_ROLES
from convsplit.tokens.templates import DEFAULT_FORM, HFMessage, MessageForm, reshaped

if TYPE_CHECKING:
    from convsplit.tokens._hf_counter import HFTokenizerCounter

ToolSchemas = Sequence[Mapping[str, Any]]
#: A run of messages a probe renders before or after the measured message.
Probe = tuple[HFMessage, ...]
#: Renders messages (with tools) to text; ``subject`` names what is measured in its errors.
Render = Callable[..., str]

_CACHE_SIZE = 4096  # tool probes carry call ids, so contexts are many: bound them

_S1: HFMessage = {"role": "system", "content": "You are a helpful assistant."}
_S2: HFMessage = {"role": "system", "content": "Answer in one short sentence, please."}
_U1: HFMessage = {"role": "user", "content": "Hello!"}
_U2: HFMessage = {"role": "user", "content": "What is the capital of France?"}
_A1: HFMessage = {"role": "assistant", "content": "Hi! How can I help you today?"}
# Openings and endings that tokenizers' pre-tokenizers treat differently (a letter,
# punctuation that swallows following newlines, a digit), to catch tools merged into a message.
_EDGE_SYSTEMS: tuple[HFMessage, ...] = (
    _S1,
    {"role": "system", "content": "Use the tools"},
    {"role": "system", "content": "Reply in JSON:"},
)
_EDGE_USERS: tuple[HFMessage, ...] = (
    _U1,
    _U2,
    {"role": "user", "content": "(Optional) 42 apples?"},
)
# Text no template adds of its own, to see whether a rendering shows a message's content.
_SHOWN = "Zebra quartz 7Q"
_FORM_USER: HFMessage = {"role": "user", "content": _SHOWN}
_FORM_CALL: HFMessage = {
    "role": "assistant",
    "content": "",
    "tool_calls": [
        {"type": "function", "id": "call_7q",
         "function": {"name": "look_up", "arguments": {"query": _SHOWN}}},
    ],
}  # fmt: skip
_PROBES = frozenset(id(m) for m in (_S1, _S2, _U1, _U2, _A1, *_EDGE_SYSTEMS, *_EDGE_USERS))
_FIRST: Probe = ()


def message_form(render: Render) -> MessageForm:
    """The form ``render`` (a template's rendering) takes messages in.

    Content: a string, unless the template shows a string's text nowhere but a text part's
    (it iterates over ``content``). Arguments: objects, unless the template refuses them or
    does not show their values but takes the JSON string (it concatenates ``arguments``).
    Where no form shows the probe, the default stays, and the template's own error or
    rendering is met on real messages as before.
    """
    content: MessageForm = DEFAULT_FORM
    if not _shows(render, [_FORM_USER], DEFAULT_FORM):
        parts = MessageForm(content="parts")
        if _shows(render, [_FORM_USER], parts):
            content = parts
    call = [_FORM_USER, _FORM_CALL]
    if _shows(render, call, content):
        return content
    as_string = MessageForm(arguments="string", content=content.content)
    return as_string if _shows(render, call, as_string) else content


def needs_call_content(render: Render, form: MessageForm) -> bool:
    """Whether ``render`` fails on a calling message without ``content`` (DeepSeek-V3's
    template adds it to a string) that it renders with ``content: ""``: a row written
    without it would not render, so calls are written with ``""``, as they are counted."""
    call = reshaped(_FORM_CALL, form)
    bare = {k: v for k, v in call.items() if k != "content"}
    user = reshaped(_FORM_USER, form)
    try:
        render([user, bare], None)
    except ChatFormatError:
        try:
            render([user, call], None)
        except ChatFormatError:
            return False
        return True
    return False


def _shows(render: Render, messages: Sequence[HFMessage], form: MessageForm) -> bool:
    """Whether ``messages`` rendered in ``form`` show the probe text once per message."""
    try:
        text = render([reshaped(m, form) for m in messages], None)
    except ChatFormatError:
        return False
    return text.count(_SHOWN) >= len(messages)


class Prober:
    """Measures per-message and per-sample costs of one template with one tokenizer.

    Args:
        name: the format's name, for error messages.
        counter: the tokenizer the template's renderings are counted with.
        render: ``render(messages, tools, *, subject="")``, the template's rendering.
        form: the form the template takes messages in; probes are put in it.
    """

    def __init__(
        self,
        name: str,
        counter: HFTokenizerCounter,
        render: Render,
        form: MessageForm = DEFAULT_FORM,
    ) -> None:
        self.name = name
        self.counter = counter
        self._render = render
        self.form = form
        self._lock = threading.Lock()
        self._fixed: int | None = None
        self._contexts: dict[str, tuple[str, list[int]]] = {}

    def render(
        self, messages: Sequence[HFMessage], tools: ToolSchemas | None, *, subject: str = ""
    ) -> str:
        """The template's rendering of ``messages`` (probes put in the template's form)."""
        shaped = [reshaped(m, self.form) for m in messages]
        return self._render(shaped, tools, subject=subject)

    def _tokens(
        self, messages: Sequence[HFMessage], tools: ToolSchemas | None = None, *, subject: str = ""
    ) -> tuple[str, list[int]]:
        text = self.render(messages, tools, subject=subject)
        return text, self.counter.encode_rendered(text)

    def _context_tokens(self, context: Probe) -> tuple[str, list[int]]:
        """A probe context's rendering and tokens; the same few contexts recur, so cached."""
        key = json.dumps(context, ensure_ascii=False)
        found = self._contexts.get(key)
        if found is None:
            found = self._tokens(context)
            with self._lock:
                if len(self._contexts) >= _CACHE_SIZE:
                    self._contexts.clear()
                self._contexts[key] = found
        return found

    def message_cost(self, message: HFMessage, *, after_instruction: bool) -> int:
        """Tokens ``message`` adds to a sample, measured after probe contexts and checked.

        Raises:
            ChatFormatError: the template is not prefix-stable for this message, its cost
                depends on neighbours beyond ``after_instruction``, or it rejects the message.
        """
        contexts, followers = self._probes(message, after_instruction)
        costs = self._measure(message, contexts, followers, after_instruction=after_instruction)
        if len(set(costs)) > 1:
            raise ChatFormatError(
                f"chat template {self.name!r}: a {self._describe(message, after_instruction)} "
                f"costs {costs[0]} tokens after [{_roles([contexts[0]])}] but {costs[1]} after "
                f"[{_roles([contexts[1]])}]; the template makes a message's cost depend on its "
                "neighbours (e.g. it folds the system prompt into a user turn), which "
                "convsplit cannot count per message"
            )
        return costs[0]

    def check_turns(self) -> None:
        """Measure what every conversation has: the preamble, a user message and a reply,
        without system messages or tools. A template that fails here fails on every record
        whatever its text, so the format refuses it when it is built
        (:mod:`convsplit.tokens._hf_stability`).

        Raises:
            ChatFormatError: what the probes found.
        """
        self.fixed_cost()
        self._measure(_A1, [(_U1,)], [(_U2,)])

    def turn_renderings(self) -> tuple[str, str, str]:
        """The renderings of [user], [user, reply] and [user, reply, user], to show what
        differs where :meth:`check_turns` fails.

        Raises:
            ChatFormatError: the template cannot render one of them.
        """
        return (
            self.render([_U1], None),
            self.render([_U1, _A1], None),
            self.render([_U1, _A1, _U2], None),
        )

    def later_instruction_cost(self, message: HFMessage) -> int:
        """Tokens a system/developer ``message`` adds after a user turn and a reply, where
        templates that fold a leading one into their header (Llama 3.x) or put it in place of
        their default system prompt (Qwen 2.5) render a block of its own."""
        (cost,) = self._measure(message, [(_U1, _A1)])
        return cost

    def _describe(self, message: HFMessage, after_instruction: bool) -> str:
        where = "after a system/developer message" if after_instruction else "message"
        if id(message) in _PROBES:  # never quoted: a reject must not show text no one wrote
            after = " after a system/developer message" if after_instruction else ""
            return f"{message['role']} message{after} of convsplit's probe conversation"
        calls = [call["function"]["name"] for call in message.get("tool_calls") or ()]
        content = message.get("content") or ""
        if isinstance(content, list):  # text parts
            content = "".join(str(part.get("text") or "") for part in content)
        shown = str(content)[:40]
        what = f"{shown!r}" if shown or not calls else f"calling {', '.join(calls)}"
        return f"{message['role']} {where} ({what})"

    def _probes(
        self, message: HFMessage, after_instruction: bool
    ) -> tuple[list[Probe], list[Probe]]:
        """Contexts to measure ``message`` after, and followers it must stay a prefix of."""
        role = message["role"]
        contexts: list[Probe]
        followers: list[Probe]
        if role in INSTRUCTION_ROLES:
            contexts = [(_S1,), (_S2,)] if after_instruction else [_FIRST]
            followers = [(_U1,)]
        elif role == "user":
            contexts = [(_S1,), (_S2,)] if after_instruction else [_FIRST, (_S1, _U2, _A1)]
            followers = [(_A1,)]
        elif role == "tool":
            caller = _caller_for(message)
            contexts = (
                [(_U1, caller, _S1), (_U2, caller, _S2)]
                if after_instruction
                else [(_U1, caller), (_S1, _U2, _A1, _U1, caller)]
            )
            # Results of parallel calls follow one another: the second must not re-render the first.
            followers = [(_A1,), (_result_for(message),)]
        else:
            contexts = (
                [(_U1, _S1), (_U2, _S2)] if after_instruction else [(_U1,), (_S1, _U2, _A1, _U1)]
            )
            calls = message.get("tool_calls") or []
            followers = [tuple(_result_for_call(call) for call in calls)] if calls else [(_U2,)]
        return contexts, followers

    def _measure(
        self,
        message: HFMessage,
        contexts: Sequence[Probe],
        followers: Sequence[Probe] = (),
        *,
        after_instruction: bool = False,
    ) -> list[int]:
        """Tokens ``message`` adds after each context, checking that nothing else changes.

        Followers are checked after the first context only: they test the message's own
        rendering, which the contexts already show to be the same everywhere.
        """
        subject = self._describe(message, after_instruction)
        plans: list[tuple[Probe, str, list[tuple[str, str]]]] = []
        for k, wanted in enumerate(contexts):
            context = self._usable(wanted)
            text = self.render([*context, message], None, subject=subject)
            after = [
                (
                    follower[0]["role"],
                    self.render([*context, message, *follower], None, subject=subject),
                )
                for follower in (followers if k == 0 else ())
            ]
            plans.append((context, text, after))
        # One batch: the tokenizer's cost per call, not per character, dominates short probes.
        texts = [text for _, text, after in plans for text in (text, *(t for _, t in after))]
        tokens = dict(zip(texts, self.counter.encode_rendered_batch(texts), strict=True))
        costs: list[int] = []
        for context, text, after in plans:
            ids = tokens[text]
            if context:
                before_text, before = self._context_tokens(context)
                why = f"the {subject} re-renders the messages before it ([{_roles([context])}])"
                _check_prefix(self.name, (before_text, before), (text, ids), why)
                base = len(before)
            else:
                base = self.fixed_cost()
            for role, after_text in after:
                why = f"the {subject} renders differently once a {role} message follows it"
                if role == "tool" and message["role"] == "tool":
                    why += _GROUPED
                _check_prefix(self.name, (text, ids), (after_text, tokens[after_text]), why)
            costs.append(len(ids) - base)
        return costs

    def _usable(self, context: Probe) -> Probe:
        """``context``, or without its leading probe system message if the template refuses it.

        Such a template (Mistral v0.1 has no system role) refuses every sample with a system
        message when that message is measured, so probing without one loses nothing.
        """
        if len(context) < 2 or context[0] is not _S1:
            return context
        try:
            self._context_tokens(context)
        except ChatFormatError:
            return context[1:]
        return context

    def fixed_cost(self) -> int:
        """Tokens of a sample without its messages: the preamble a one-message sample shows."""
        if self._fixed is None:
            (user_cost,) = self._measure(_U1, [(_U2, _A1)])
            fixed = self.counter.count_rendered(self.render([_U1], None)) - user_cost
            (other_cost,) = self._measure(_U2, [(_U1, _A1)])
            check = self.counter.count_rendered(self.render([_U2], None)) - other_cost
            if check != fixed:
                raise ChatFormatError(
                    f"chat template {self.name!r}: the first user message costs a different "
                    f"number of tokens than a later one ({fixed} vs {check} extra); convsplit "
                    "cannot split its fixed preamble from the messages"
                )
            self._fixed = fixed
        return self._fixed

    def tools_cost(self, tools: ToolSchemas) -> int:
        """The preamble with tool schemas: one-message samples with tools, less the messages.

        Probes with several first messages (with and without a system message, with
        different first and last characters) must all give the same cost; otherwise the
        template merges the tools into a message and its cost would depend on the tools.
        """
        samples: dict[str, tuple[list[HFMessage], int]] = {}
        for k, user in enumerate(_EDGE_USERS):
            (cost,) = self._measure(user, [(_U2, _A1)])
            samples[f"user {k}"] = ([user], cost)
        for k, system in enumerate(_EDGE_SYSTEMS):
            (system_cost,) = self._measure(system, [_FIRST])
            (user_cost,) = self._measure(_U1, [(system,)], after_instruction=True)
            samples[f"system {k}"] = ([system, _U1], system_cost + user_cost)
        texts = {label: self.render(messages, tools) for label, (messages, _) in samples.items()}
        counts = self.counter.encode_rendered_batch(list(texts.values()))
        costs = {
            label: len(ids) - samples[label][1] for label, ids in zip(texts, counts, strict=True)
        }
        (_, with_tools), *others = costs.items()
        for _, cost in others:
            if cost != with_tools:
                raise ChatFormatError(
                    f"chat template {self.name!r} merges the tools into a message: the tool "
                    f"schemas cost {with_tools} or {cost} tokens depending on the text of the "
                    "message they are rendered with, which convsplit cannot count per "
                    "message; a conversation with tools is rejected under this template "
                    "(use one that renders the tool schemas in a block of their own)"
                )
        text, ids = self._tokens([_U1], tools)
        after_text, after = self._tokens([_U1, _A1], tools)
        why = "with tools, the first user message renders differently once a reply follows it"
        _check_prefix(self.name, (text, ids), (after_text, after), why)
        return with_tools


def _roles(contexts: Sequence[Sequence[HFMessage]]) -> str:
    return ", ".join(m["role"] for context in contexts for m in context) or "start of sample"


_GROUPED = (
    ": it groups consecutive tool results (as DeepSeek's templates do), so a result's tokens "
    "depend on its neighbours and convsplit cannot count them per message; a conversation "
    "with tool results is rejected under this template (use one that renders each result "
    "on its own)"
)


def _check_prefix(
    name: str, shorter: tuple[str, Sequence[int]], longer: tuple[str, Sequence[int]], why: str
) -> None:
    """Raise unless ``shorter`` (text, tokens) begins ``longer``, as text and as tokens."""
    text, ids = shorter
    longer_text, longer_ids = longer
    if not longer_text.startswith(text):
        raise ChatFormatError(f"chat template {name!r} is not prefix-stable: {why}")
    if list(longer_ids[: len(ids)]) != list(ids):
        raise ChatFormatError(
            f"chat template {name!r}: tokens merge across a message boundary ({why}); "
            "a message's tokens are not its own"
        )


def _caller_for(result: HFMessage) -> HFMessage:
    function: dict[str, Any] = {"name": result.get("name") or "lookup", "arguments": {}}
    call: dict[str, Any] = {"type": "function", "function": function}
    if result.get("tool_call_id") is not None:
        call["id"] = result["tool_call_id"]
    return {"role": "assistant", "content": "", "tool_calls": [call]}


def _result_for(result: HFMessage) -> HFMessage:
    probe: HFMessage = {"role": "tool", "content": "{}"}
    for key in ("tool_call_id", "name"):
        if result.get(key) is not None:
            probe[key] = result[key]
    return probe


def _result_for_call(call: Mapping[str, Any]) -> HFMessage:
    probe: HFMessage = {"role": "tool", "content": "{}"}
    if call.get("id") is not None:
        probe["tool_call_id"] = call["id"]
    return probe
