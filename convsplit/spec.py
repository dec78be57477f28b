"""The split spec: every option of a split, in one frozen value that every entry point takes.

A run builds one where it starts (the command line, a pipeline, a notebook) and passes it
whole: to :func:`~convsplit.core.split.split_conversation`, the statistics, validation,
``show``, the report, and every engine. Adding an option means adding it here and where it
is used, nothing in between. Everything is checked once, here: a wrong type or an unknown
name fails when the spec is made, before any file is touched.

It pickles, so worker processes and Dask workers get the same spec: windows and truncation
strategies by value, tokenizers and chat formats by their registered name (as tiktoken's
``Encoding`` does), rebuilt from each process's own registry and caches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal, cast, get_args

from convsplit.budget import Budget, check_count, describe
from convsplit.core.truncation import DropOldest, TruncationStrategy, truncation_names
from convsplit.core.windows import FullHistory, WindowStrategy, window_names
from convsplit.errors import InvalidOptionError, OptionHint
from convsplit.formats import (
    MAX_RECORD_BYTES,
    SampleWriter,
    check_fields,
    check_role_map,
    get_reader,
    get_writer,
)
from convsplit.formats.protocols import WrittenForm
from convsplit.tokens.chat_formats import ChatFormat, chat_format_names, get_chat_format
from convsplit.tokens.counters import TokenCounter, counter_names, get_counter

OnLongTarget = Literal["skip", "truncate", "error"]
"""What to do with a target that does not fit even with no history: record it as skipped,
cut its end off (the sample is flagged in ``truncated``), or raise."""

_DEFAULT_BUDGET = Budget(4096)


@dataclass(frozen=True, init=False)
class SplitSpec:
    """How to split, whole: the budget, the tokenizer and template, the strategies, and how
    records are read and samples written.

    Args:
        budget: the token budget of every sample (default ``Budget(4096)``).
        tokenizer: a :class:`~convsplit.tokens.TokenCounter` or a name for
            :func:`~convsplit.tokens.get_counter`; by default the chat format's own
            tokenizer for ``hf:`` formats, else o200k_base.
        chat_format: a :class:`~convsplit.tokens.ChatFormat` or a name for
            :func:`~convsplit.tokens.get_chat_format` (default ``openai``; ``chatml`` for
            ``text`` and ``prompt_completion`` output, which render the chat format that
            counts).
        window: which targets each sample has and how far back its history may go.
        truncation: what gives way when the history does not fit.
        on_long_target: a target that does not fit even alone: skip, truncate or error.
        keep_reasoning: keep the reasoning of assistant messages used as context
            (targets always keep theirs).
        input_format: a reader name, or ``auto`` to detect the format per record.
        output_format: a writer name; ``writer_options`` are passed to it.
        role_map: extra role names for the readers (``{"bot": "assistant"}``).
        fields: the keys that hold each field where they are not named as the format
            names them (``{"messages": "dialog", "role": "speaker"}``; see
            :data:`~convsplit.formats.field_names.FIELD_NAMES`).
        max_record_bytes: a record larger than this is rejected unread (None: no limit).

    Raises:
        InvalidOptionError: an option of the wrong type or value, naming it.
        UnknownNameError: an unknown tokenizer, chat format, reader, writer or writer
            option, listing the known ones.

    >>> from convsplit import LastTurns
    >>> spec = SplitSpec(Budget(1024), window=LastTurns(turns=2))
    >>> spec.tokenizer.name, spec.chat_format.name, spec.window.name
    ('o200k_base', 'openai', 'last-turns')
    >>> spec.with_budget(Budget(2048)).budget.max_tokens
    2048
    >>> SplitSpec(on_long_target="drop")
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: on_long_target must be one of 'skip', 'truncate', \
'error'; got str 'drop'
    """

    budget: Budget
    tokenizer: TokenCounter
    chat_format: ChatFormat
    window: WindowStrategy
    truncation: TruncationStrategy
    on_long_target: OnLongTarget
    keep_reasoning: bool
    input_format: str
    output_format: str
    writer_options: Mapping[str, Any]
    role_map: Mapping[str, str]
    max_record_bytes: int | None
    fields: Mapping[str, str]

    def __init__(  # noqa: PLR0913 (the split's options, keyword-only: grouping them is its job)
        self,
        budget: Budget = _DEFAULT_BUDGET,
        *,
        tokenizer: TokenCounter | str | None = None,
        chat_format: ChatFormat | str | None = None,
        window: WindowStrategy = FullHistory(),
        truncation: TruncationStrategy = DropOldest(),
        on_long_target: OnLongTarget = "skip",
        keep_reasoning: bool = False,
        input_format: str = "auto",
        output_format: str = "openai",
        writer_options: Mapping[str, Any] | None = None,
        role_map: Mapping[str, str] | None = None,
        max_record_bytes: int | None = MAX_RECORD_BYTES,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        _check_instance("budget", budget, Budget, "a Budget, such as Budget(4096)")
        if chat_format is None:  # text outputs need a template to render; the others, OpenAI's
            chat_format = "chatml" if output_format in ("text", "prompt_completion") else "openai"
        template: ChatFormat = _resolve(
            "chat_format", chat_format, ChatFormat, get_chat_format, chat_format_names
        )
        # A model's own template counts with the model's own tokenizer, and only with it.
        own = getattr(template, "counter", None)  # an hf: format's is get_counter(its name)
        if not isinstance(own, TokenCounter):
            own = None
        if tokenizer is None:
            tokenizer = own if own is not None else get_counter()
        counter: TokenCounter = _resolve(
            "tokenizer", tokenizer, TokenCounter, get_counter, counter_names
        )
        if own is not None and counter is not own and counter.name != own.name:
            raise InvalidOptionError(
                f"chat format {template.name!r} counts with its model's tokenizer "
                f"{own.name!r}, not {counter.name!r}: leave tokenizer out (the template's own "
                "is used)"
            )
        _check_strategy("window", window, WindowStrategy, "get_window", window_names)
        _check_strategy(
            "truncation", truncation, TruncationStrategy, "get_truncation", truncation_names
        )
        if not isinstance(on_long_target, str) or on_long_target not in get_args(OnLongTarget):
            accepted = ", ".join(map(repr, get_args(OnLongTarget)))
            raise InvalidOptionError(
                f"on_long_target must be one of {accepted}; got {describe(on_long_target)}"
            )
        _check_instance("keep_reasoning", keep_reasoning, bool, "True or False")
        _check_instance("input_format", input_format, str, "a reader name or 'auto'")
        if input_format != "auto":
            get_reader(input_format)
        _check_instance("output_format", output_format, str, "a writer name")
        writer_options = dict(writer_options or {})
        writer = get_writer(output_format, **writer_options)  # unknown names and options fail
        if max_record_bytes is not None:
            max_record_bytes = check_count("max_record_bytes", max_record_bytes, minimum=1)
        values = {
            "budget": budget,
            "tokenizer": counter,
            "chat_format": template,
            "window": window,
            "truncation": truncation,
            "on_long_target": on_long_target,
            "keep_reasoning": keep_reasoning,
            "input_format": input_format,
            "output_format": output_format,
            "writer_options": writer_options,
            "role_map": check_role_map(role_map),
            "max_record_bytes": max_record_bytes,
            "fields": check_fields(fields),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)  # frozen: set once, here
        bound_writer(writer, self)  # a writer that cannot write what this spec counts fails
        # A writer with an ``arguments`` option (trl) writes rows a template renders as they
        # stand; ShareGPT's objects sit inside a string its trainer converts.
        if (
            getattr(template, "string_arguments", False)
            and getattr(writer, "arguments", None) == "object"
        ):
            hint = OptionHint("writer_options", ("arguments=string",), mapping=True)
            raise InvalidOptionError(
                f"chat template {template.name!r} joins tool-call arguments as JSON text, but "
                f"the {output_format} writer writes them as objects, which it cannot render; "
                f"write them as text ({hint})",
                hints=[hint],
            )

    @cached_property
    def written_form(self) -> WrittenForm:
        """What the output format writes of a message: the form the split counts it in.
        Found once per spec (cached on it). Under a chat template that reads content only
        as a string (``text_content``), text parts are written as their text: what the
        template renders of the written row is then what was counted. Under one that needs
        ``content`` on a calling message (``call_content``), calls are written with ``""``."""
        form = self.writer().written_form
        if getattr(self.chat_format, "text_content", False) and not form.text_content:
            form = replace(form, text_content=True)
        if getattr(self.chat_format, "call_content", False) and not form.call_content:
            form = replace(form, call_content=True)
        return form

    def writer(self) -> SampleWriter:
        """The output format's writer, bound to this spec (the text writer renders the
        chat format that counts)."""
        return bound_writer(get_writer(self.output_format, **self.writer_options), self)

    def with_budget(self, budget: Budget) -> SplitSpec:
        """The same spec under another budget (a window sweep)."""
        _check_instance("budget", budget, Budget, "a Budget, such as Budget(4096)")
        return replace(self, budget=budget)


def check_spec(spec: object) -> SplitSpec:
    """``spec``, if it is a :class:`SplitSpec`: what every entry point checks of its one
    options argument before it uses it.

    Raises:
        InvalidOptionError: anything else, with how to make one.

    >>> check_spec(Budget(100))
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidOptionError: spec must be a SplitSpec, such as \
SplitSpec(Budget(4096)); got Budget(max_tokens=100, reserve_target=0, min_context=0)
    """
    _check_instance("spec", spec, SplitSpec, "a SplitSpec, such as SplitSpec(Budget(4096))")
    return cast(SplitSpec, spec)


def bound_writer(writer: SampleWriter, spec: SplitSpec) -> SampleWriter:
    """``writer`` as it writes for ``spec``: a writer with a ``for_spec`` hook (the text
    writer, which renders the spec's chat format) returns the writer to use, or refuses."""
    for_spec = getattr(writer, "for_spec", None)
    return cast(SampleWriter, for_spec(spec)) if callable(for_spec) else writer


def _check_instance(option: str, value: object, kind: type, accepted: str) -> None:
    if not isinstance(value, kind):
        raise InvalidOptionError(f"{option} must be {accepted}; got {describe(value)}")


def _resolve(
    option: str,
    value: object,
    protocol: type,
    factory: Callable[[str], Any],
    names: Callable[[], tuple[str, ...]],
) -> Any:
    """``value`` as an object implementing ``protocol``: a name is looked up with
    ``factory``."""
    if isinstance(value, str):
        return factory(value)
    _check_strategy(option, value, protocol, factory.__name__, names)
    return value


def _check_strategy(
    option: str,
    value: object,
    protocol: type,
    factory: str,
    names: Callable[[], tuple[str, ...]],
) -> None:
    """``value`` implements ``protocol``; a name is pointed to ``factory``."""
    if isinstance(value, type):  # the class passes the protocol check, and fails when used
        raise InvalidOptionError(
            f"{option} must be a {protocol.__name__} object, such as {value.__name__}(); got "
            f"the class {value.__name__} itself"
        )
    if isinstance(value, protocol):
        return
    hint = f" (use {option}={factory}({value!r}); " if isinstance(value, str) else " ("
    raise InvalidOptionError(
        f"{option} must be a {protocol.__name__}; got {describe(value)}{hint}"
        f"{factory} builds one from a name: {', '.join(names())})"
    )
