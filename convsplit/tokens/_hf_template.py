"""A model's own Jinja chat template as a :class:`~convsplit.tokens.chat_formats.ChatFormat`.

:class:`HFChatTemplate` renders the template in the environment ``apply_chat_template`` uses
(:mod:`convsplit.tokens.templates`), takes each message's cost from probe renderings
(:mod:`convsplit.tokens._hf_probes`), and verifies whole renderings against the sum of those
costs (:meth:`HFChatTemplate.check_conversation`, :meth:`HFChatTemplate.check_sample`).
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from convsplit.errors import ChatFormatError, TokenizerDataError
from convsplit.messages import INSTRUCTION_ROLES, Conversation, Message
from convsplit.samples import Sample
from convsplit.tokens._hf_counter import HFTokenizerCounter, load_hf_tokenizer
from convsplit.tokens._hf_files import load_chat_template
from convsplit.tokens._hf_probes import Prober, message_form, needs_call_content
from convsplit.tokens._hf_stability import check_template
from convsplit.tokens.chat_formats import get_chat_format, is_registered
from convsplit.tokens.counters import TokenCounter
from convsplit.tokens.templates import (
    HFMessage,
    MessageForm,
    compile_template,
    render_tracked,
    template_view,
    to_hf_messages,
)

ToolSchemas = Sequence[Mapping[str, Any]]

_CACHE_SIZE = 4096  # distinct messages: a file's repeated prompts, not every message


class HFChatTemplate:
    """A :class:`~convsplit.tokens.chat_formats.ChatFormat` that renders a model's Jinja template.

    Costs are exact for the tokenizer it was built with: pass that same counter to the
    splitter (``counter=fmt.counter``). Build one with :func:`hf_chat_format`.

    Templates that read the date (Llama 3.x's ``Today Date``) render today's date, as
    ``apply_chat_template`` does; pin it with ``template_kwargs={"date_string": ...}`` so
    that counts do not change from one day to the next.

    Limits, until the splitter tells a format more than ``after_instruction``:

    - a system/developer message after a user or assistant message: Llama 3.2 folds an
      opening system prompt into its dated header but renders a later one as a block of its
      own (Qwen 2.5: in place of its default prompt, or not). Where the conversation opens
      with a system message, a later one never opens a sample and is costed where it stands
      (:meth:`later_instruction_cost`); where it opens with another role, a later one may
      open a sample or not, and the conversation is a reject naming it;
    - tool schemas are costed apart from the messages, so a template that merges them into
      a message (Qwen's system prompt + ``# Tools``) is refused when tools are present.

    :meth:`check_conversation` (per conversation) and :meth:`check_sample` (per sample) find
    such cases on real neighbours.
    """

    def __init__(
        self,
        template: str,
        *,
        counter: HFTokenizerCounter,
        name: str | None = None,
        template_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = template
        self.counter = counter
        self.name = name or f"hf-template:{counter.name}"
        self._user_kwargs = dict(template_kwargs or {})
        self.template_kwargs: dict[str, Any] = {
            **counter.special_tokens_map(),
            **self._user_kwargs,
        }
        self._compiled = compile_template(template)
        self._lock = threading.Lock()
        self._tool_costs: dict[str, int] = {}
        #: How the template takes messages (arguments, content), found by probing it once.
        self.form: MessageForm = message_form(self._render)
        self._prober = Prober(self.name, counter, self._render, self.form)
        where = str(counter.source) if counter.source is not None else "the tokenizer.json"
        check_template(self._prober, self.name, template, tokenizer=where)
        self._costs = functools.lru_cache(maxsize=_CACHE_SIZE)(self._uncached_cost)
        self._later_costs = functools.lru_cache(maxsize=_CACHE_SIZE)(self._uncached_later_cost)

    # -- rendering ---------------------------------------------------------------------------

    def render(self, messages: Sequence[Message], tools: ToolSchemas | None = None) -> str:
        """The sample as ``apply_chat_template(..., tokenize=False)`` renders it.

        Raises:
            ChatFormatError: the template rejects the messages (its own error message).
        """
        return self._render(self.hf_messages(messages), tools)

    @property
    def string_arguments(self) -> bool:
        """Whether the template takes tool-call arguments only as JSON text (DeepSeek's
        join them to strings): a row that holds them as objects would not render."""
        return self.form.arguments == "string"

    @property
    def text_content(self) -> bool:
        """Whether the template reads content only as a string: a list of parts in a
        written row would render as its repr, or fail, so text parts are written as text."""
        return self.form.content == "string"

    @functools.cached_property
    def call_content(self) -> bool:
        """Whether the template needs ``content`` on a calling message (DeepSeek-V3's adds
        it to a string): calls are then written with ``content: ""``, as counted."""
        return needs_call_content(self._render, self.form)

    def hf_messages(self, messages: Sequence[Message]) -> list[HFMessage]:
        """``messages`` as this template takes them (see :attr:`form`): what a row written
        for ``apply_chat_template`` with this template should hold."""
        return to_hf_messages(messages, self.form)

    def count_sample(self, messages: Sequence[Message], tools: ToolSchemas | None = None) -> int:
        """Tokens of the whole rendered sample, as ``len(apply_chat_template(messages))``."""
        return self.counter.count_rendered(self.render(messages, tools))

    def render_trained(
        self, messages: Sequence[Message], tools: ToolSchemas | None, targets: Sequence[int]
    ) -> tuple[str, list[tuple[int, int]]]:
        """The sample as :meth:`render` gives it, and the part of it each target trains.

        A target's part starts where the template's generation prompt for it ends (its role
        header), else where its rendering starts, and ends where its rendering ends, less
        the whitespace the template puts between turns: the span TRL's assistant masks and
        ``{% generation %}`` tags cover.

        Raises:
            ChatFormatError: the template rejects the messages, or renders the messages
                before a target differently once the target follows.
        """
        hf = self.hf_messages(messages)
        text = self._render(hf, tools)
        spans: list[tuple[int, int]] = []
        for target in targets:
            head = hf[:target]
            upto = self._render(hf[: target + 1], tools)
            before = self._render(head, tools) if head else ""
            if not (text.startswith(upto) and upto.startswith(before)):
                raise ChatFormatError(
                    f"chat template {self.name!r} renders the messages before target "
                    f"{target} differently once it follows: it is not prefix-stable there"
                )
            start = len(before)
            if head:
                try:
                    prompt = self._render(head, tools, add_generation_prompt=True)
                except ChatFormatError:
                    prompt = before
                if upto.startswith(prompt):
                    start = len(prompt)
            end = max(start, len(upto.rstrip()))
            spans.append((start, end))
        return text, spans

    def render_generation(
        self, messages: Sequence[Message], tools: ToolSchemas | None = None
    ) -> tuple[str, list[tuple[int, int]]]:
        """The sample as :meth:`render` gives it, and the ``[start, end)`` of each
        ``{% generation %}`` block in it: what ``return_assistant_tokens_mask=True`` masks
        (none for a template without such blocks).

        Raises:
            ChatFormatError: the template rejects the messages.
        """
        try:
            return render_tracked(
                self._compiled,
                messages=template_view(self.hf_messages(messages)),
                tools=[dict(tool) for tool in tools] if tools else None,
                documents=None,
                add_generation_prompt=False,
                **self.template_kwargs,
            )
        except Exception as error:  # a template's errors are whatever its Jinja code raises
            raise ChatFormatError(
                f"chat template {self.name!r} cannot render the sample: "
                f"{type(error).__name__}: {error}"
            ) from error

    def _render(
        self,
        messages: Sequence[HFMessage],
        tools: ToolSchemas | None,
        *,
        subject: str = "",
        add_generation_prompt: bool = False,
    ) -> str:
        try:
            rendered: str = self._compiled.render(
                messages=template_view(messages),
                tools=[dict(tool) for tool in tools] if tools else None,
                documents=None,
                add_generation_prompt=add_generation_prompt,
                **self.template_kwargs,
            )
        except Exception as error:  # a template's errors are whatever its Jinja code raises
            roles = ", ".join(m["role"] for m in messages) or "no messages"
            where = f" (measuring the {subject})" if subject else ""
            raise ChatFormatError(
                f"chat template {self.name!r} cannot render [{roles}]{where}: "
                f"{type(error).__name__}: {error}"
            ) from error
        return rendered

    # -- ChatFormat --------------------------------------------------------------------------

    def sample_cost(self, tools: ToolSchemas | None, counter: TokenCounter) -> int:
        """Tokens before and after the messages: BOS, default system header, date, tools.

        The preamble cannot be rendered alone (most templates index ``messages[0]``), so it
        is measured as a one-message sample less that message's cost elsewhere, and checked
        with a second probe. With tools, the same check runs with the tools rendered.
        """
        self._check_counter(counter)
        fixed = self._prober.fixed_cost()
        if not tools:
            return fixed
        key = json.dumps(list(tools), ensure_ascii=False, default=str)
        cost = self._tool_costs.get(key)
        if cost is None:
            cost = self._prober.tools_cost(tools)
            with self._lock:
                if len(self._tool_costs) >= _CACHE_SIZE:
                    self._tool_costs.clear()
                self._tool_costs[key] = cost
        return cost

    def message_cost(
        self, message: Message, counter: TokenCounter, *, after_instruction: bool
    ) -> int:
        """Tokens ``message`` adds to a sample, measured and checked on its own text.

        Raises:
            ChatFormatError: the template is not prefix-stable for this message, its cost
                depends on neighbours beyond ``after_instruction``, or the template rejects it.
        """
        self._check_counter(counter)
        (hf,) = self.hf_messages([message])
        key = json.dumps(hf, ensure_ascii=False)
        return self._costs(key, after_instruction)

    def later_instruction_cost(self, message: Message, counter: TokenCounter) -> int:
        """Tokens a system/developer ``message`` adds after a user or assistant message,
        where a conversation that opens with another one has it (the splitter asks only
        then); templates such as Llama 3.x's render it unlike an opening one."""
        self._check_counter(counter)
        (hf,) = self.hf_messages([message])
        return self._later_costs(json.dumps(hf, ensure_ascii=False))

    def _uncached_later_cost(self, key: str) -> int:
        return self._prober.later_instruction_cost(json.loads(key))

    def _uncached_cost(self, key: str, after_instruction: bool) -> int:
        return self._prober.message_cost(json.loads(key), after_instruction=after_instruction)

    def _check_counter(self, counter: TokenCounter) -> None:
        if counter is not self.counter and counter.name != self.counter.name:
            raise ChatFormatError(
                f"chat template {self.name!r} counts with tokenizer {self.counter.name!r}, not "
                f"{counter.name!r}; split with tokenizer=<the template's counter>"
            )

    # -- whole-sample checks -----------------------------------------------------------------

    def check_sample(self, sample: Sample) -> None:
        """Raise unless ``sample.total_tokens`` equals the count of its whole rendering.

        Raises:
            ChatFormatError: naming the sample's conversation and both counts.
        """
        actual = self.count_sample(sample.messages, sample.tools)
        if actual != sample.total_tokens:
            name = sample.conversation_id or f"#{sample.conversation_index}"
            raise ChatFormatError(
                f"conversation {name}: a sample was counted as {sample.total_tokens} tokens but "
                f"chat template {self.name!r} renders it as {actual}"
            )

    def check_conversation(self, conversation: Conversation) -> None:
        """Check, on the real neighbours, what the per-message probes assume.

        Every rendering that ends at an assistant message must be a prefix of the whole
        rendering (so a sample can end there), and the whole rendering's count must equal
        the fixed cost plus each message's cost. Costs O(n) renderings of the conversation.

        Raises:
            ChatFormatError: naming the first message where the rendering or count differs.
        """
        messages = conversation.messages
        tools = conversation.tools
        if not messages:  # nothing to sample (most templates cannot render no messages)
            return
        if self.text_content:
            for i, message in enumerate(messages):
                if isinstance(message.content, tuple):
                    kinds = sorted({part.type for part in message.content})
                    raise ChatFormatError(
                        f"conversation {conversation.id or '?'}: message {i} holds content "
                        f"parts ({', '.join(kinds)}) that chat template {self.name!r} cannot "
                        "render: it reads content only as text; keep text parts only, or "
                        "use a template that reads parts"
                    )
        full = self._render(self.hf_messages(messages), tools)
        for end in range(1, len(messages) + 1):
            if messages[end - 1].role != "assistant":
                continue
            prefix = self._render(self.hf_messages(messages[:end]), tools)
            if not full.startswith(prefix):
                raise ChatFormatError(
                    f"conversation {conversation.id or '?'}: chat template {self.name!r} renders "
                    f"messages 0..{end - 1} differently once message {end} "
                    f"({messages[end].role}) follows: it is not prefix-stable there"
                )
        opens = messages[0].role in INSTRUCTION_ROLES
        expected = self.sample_cost(tools, self.counter) + sum(
            self.later_instruction_cost(m, self.counter)
            if opens and i > 0 and not a and m.role in INSTRUCTION_ROLES
            else self.message_cost(m, self.counter, after_instruction=a)
            for i, (m, a) in enumerate(zip(messages, _after_instruction(messages), strict=True))
        )
        actual = self.counter.count_rendered(full)
        if actual != expected:
            if not opens:
                self._check_later_instructions(conversation)
            raise ChatFormatError(
                f"conversation {conversation.id or '?'}: chat template {self.name!r} renders "
                f"{actual} tokens but the per-message costs add up to {expected}"
            )

    def _check_later_instructions(self, conversation: Conversation) -> None:
        """Name a system/developer message after a reply that the template renders unlike a
        leading one: it is costed as leading (the splitter tells a format only whether a
        message follows an instruction), but in a sample that keeps the messages before it,
        it is not leading.

        Raises:
            ChatFormatError: naming the message and both costs.
        """
        messages = conversation.messages
        pairs = zip(messages, _after_instruction(messages), strict=True)
        for i, (message, after) in enumerate(pairs):
            if i == 0 or after or message.role not in INSTRUCTION_ROLES:
                continue
            (hf,) = self.hf_messages([message])
            later = self._prober.later_instruction_cost(hf)
            leading = self.message_cost(message, self.counter, after_instruction=False)
            if later != leading:
                raise ChatFormatError(
                    f"conversation {conversation.id or '?'}: message {i} ({message.role}) "
                    f"comes after {_an(messages[i - 1].role)} message, where chat template "
                    f"{self.name!r} renders a {message.role} message unlike one that opens "
                    f"the conversation ({later} tokens there, {leading} first); convsplit "
                    "costs it as one that opens it, so it cannot count this conversation's "
                    "samples exactly (move it first, or make it a user message)"
                )

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """Pickle by name when registered (``get_chat_format("hf:<folder>")``), else by its
        template, counter, name and template variables."""
        if is_registered(self):
            return get_chat_format, (self.name,)
        return _rebuilt, (self.template, self.counter, self.name, self._user_kwargs)

    def __repr__(self) -> str:
        return f"HFChatTemplate({self.name!r})"


def _an(word: str) -> str:
    """``word`` with its indefinite article."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _after_instruction(messages: Sequence[Message]) -> Iterator[bool]:
    previous: Message | None = None
    for message in messages:
        yield previous is not None and previous.role in INSTRUCTION_ROLES
        previous = message


def _rebuilt(
    template: str, counter: HFTokenizerCounter, name: str, template_kwargs: Mapping[str, Any]
) -> HFChatTemplate:
    return HFChatTemplate(template, counter=counter, name=name, template_kwargs=template_kwargs)


def hf_chat_format(
    tokenizer: HFTokenizerCounter | str | os.PathLike[str],
    *,
    chat_template: str | None = None,
    template_source: str | os.PathLike[str] | None = None,
    template_file: str | os.PathLike[str] | None = None,
    name: str | None = None,
    template_kwargs: Mapping[str, Any] | None = None,
) -> HFChatTemplate:
    """A chat format that renders a model's own Jinja template with its own tokenizer.

    Args:
        tokenizer: a counter from :func:`load_hf_tokenizer`, or what to load one from.
        chat_template: the template text; by default the one shipped with the tokenizer
            (``chat_template.jinja`` or ``tokenizer_config.json``) or at ``template_source``.
        template_source: where to find the template instead (see :func:`load_chat_template`);
            ``"trl"`` with ``template_file="chat_templates/llama3_2.jinja"`` finds TRL's copy
            of Llama 3.2's template.
        template_file: the file to take under ``template_source``.
        name: the format's name; ``hf-template:<tokenizer name>`` by default.
        template_kwargs: extra variables for the template (``date_string``,
            ``enable_thinking``...), as ``apply_chat_template(**kwargs)`` passes them.

    Raises:
        MissingExtraError: ``tokenizers`` or ``jinja2`` is not installed.
        TokenizerDataError: the tokenizer or template cannot be found.
    """
    counter = (
        tokenizer if isinstance(tokenizer, HFTokenizerCounter) else load_hf_tokenizer(tokenizer)
    )
    if chat_template is None:
        source = template_source if template_source is not None else counter.source
        if source is None:
            raise TokenizerDataError(
                f"tokenizer {counter.name!r} has no file to look for a chat template beside; "
                "pass chat_template= or template_source="
            )
        chat_template = load_chat_template(source, file=template_file)
    return HFChatTemplate(
        chat_template, counter=counter, name=name, template_kwargs=template_kwargs
    )
