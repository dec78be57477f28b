"""Every format, as ``convsplit formats`` lists it; and what each output format needs from
its trainer to train exactly convsplit's targets.

The listing is read from the format registry (each format's description and example),
the writers' own fields and docstrings (every ``--writer-option``, its default and
meaning) and a row each writer writes for a small conversation, so it cannot drift from
the code; README's "Formats" section is this listing, checked by a test.

An output format writes every sample's targets as trained and its context as untrained,
but each trainer reads that marking only under its own settings (README, "Training with
..."). ``convsplit split`` prints the one line for the chosen output once per run.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from convsplit.budget import Budget
from convsplit.core.split import split_conversation
from convsplit.errors import ConvsplitError
from convsplit.formats.registry import Format, formats
from convsplit.messages import Conversation, Message
from convsplit.spec import SplitSpec

#: Per output format: the trainer settings under which exactly the targets are trained.
TRAINER_SETTINGS: Mapping[str, str] = {
    "openai": "axolotl (type: chat_template) needs message_field_training: weight (its "
    "default roles_to_train: [assistant] then trains the unweighted targets) and sequence_len "
    "at least --max-tokens (OpenAI fine-tuning: nothing to set)",
    "sharegpt": "LLaMA-Factory needs mask_history: true (its default also trains the "
    "context turns), cutoff_len at least --max-tokens, and one target per sample (not "
    "--window chunks)",
    "trl": "TRL's SFTTrainer trains the completion only by default (completion_only_loss); "
    "leave it on, and set max_length at least --max-tokens (its default 1024 cuts the end "
    "of longer rows)",
    "prompt_completion": "train on the completion only (TRL's completion_only_loss, its "
    "default for these rows); TRL tokenizes prompt + completion as one text, adding the "
    "tokenizer's BOS and an eos_token to a completion that does not end with one, so set "
    "max_length at least --max-tokens + 2",
    "text": "train only the characters in each row's spans (axolotl's input_output type: "
    "--writer-option layout=segments)",
    "tokens": "TRL's SFTTrainer trains where assistant_masks is 1 with its defaults (it "
    "reads input_ids as they are); leave assistant_only_loss off (it raises on tokenized "
    "rows) and set max_length at least --max-tokens, or None (its default 1024 cuts longer "
    "rows)",
    "preference": "TRL's DPOTrainer, ORPOTrainer and RewardTrainer read it as it is; the "
    "prompt is never trained; set max_length at least --max-tokens (default 1024)",
    "kto": "TRL's KTOTrainer reads it as it is; the prompt is never trained; set "
    "max_length at least --max-tokens (default 1024)",
}


def trainer_note(output_format: str) -> str | None:
    """The one line to print after a run writing ``output_format`` (None: a format whose
    trainer convsplit does not know, such as a user's own).

    >>> trainer_note("sharegpt")  # doctest: +ELLIPSIS
    'note: to train exactly the targets, LLaMA-Factory needs mask_history: true ...'
    >>> trainer_note("mine") is None
    True
    """
    settings = TRAINER_SETTINGS.get(output_format)
    return None if settings is None else f"note: to train exactly the targets, {settings}"


#: The conversation each output format's example row is written from.
EXAMPLE = Conversation(
    messages=(
        Message(role="system", content="Be brief."),
        Message(role="user", content="Hi"),
        Message(role="assistant", content="Hello!"),
        Message(role="user", content="Bye"),
        Message(role="assistant", content="Bye!"),
    )
)

#: Writer fields the spec sets (``--chat-format``, ``--encoding``): not writer options.
_SET_BY_SPEC = frozenset({"chat_format", "counter"})

_WIDTH = 20


def formats_text() -> str:
    """Every input and output format: what it is, an example, what its trainer needs, and
    every ``--writer-option`` with its default (what ``convsplit formats`` prints).

    >>> print(formats_text().splitlines()[0])
    Input formats (--from; the default, auto, detects the format of each record):
    """
    registered = list(formats())
    lines = ["Input formats (--from; the default, auto, detects the format of each record):"]
    for fmt in registered:
        if fmt.reader is not None:
            lines += _entry(fmt.name, fmt.description, fmt.example)
    lines += ["", "Output formats (--to; default openai):"]
    for fmt in registered:
        if fmt.writer is not None:
            lines += _entry(fmt.name, fmt.description, _example_row(fmt) or fmt.example)
            settings = TRAINER_SETTINGS.get(fmt.name)
            if settings is not None:
                lines += _wrapped("  trainer", settings)
            for k, (name, default, meaning) in enumerate(writer_options(fmt)):
                label = "  --writer-option" if k == 0 else ""
                text = f"{name}={default}" + (f": {meaning}" if meaning else "")
                lines += _wrapped(label, text, hang=2)
    return "\n".join(lines)


def _entry(name: str, description: str, example: str) -> list[str]:
    lines = _wrapped(f"  {name}", description)
    if example:  # one line, as it would stand in a file
        lines.append(f"{'  example':<{_WIDTH}}{example}")
    return lines


def _wrapped(label: str, text: str, *, hang: int = 0) -> list[str]:
    """``text`` after ``label`` in a column, wrapped at 100 characters."""
    first = f"{label:<{_WIDTH}}" if len(label) < _WIDTH else f"{label} "
    return textwrap.wrap(
        text,
        width=100,
        initial_indent=first,
        subsequent_indent=" " * (_WIDTH + hang),
        break_on_hyphens=False,
        break_long_words=False,
    )


def _example_row(fmt: Format) -> str | None:
    """The row the format's writer writes for the last target of :data:`EXAMPLE`, with the
    first chat format it takes (its own default, else ChatML, else plain); None for a
    writer that does not write chat samples (preference data)."""
    for chat_format in ("openai", "chatml", "plain"):
        try:
            spec = SplitSpec(Budget(4096), output_format=fmt.name, chat_format=chat_format)
            result = split_conversation(EXAMPLE, spec)
            rows = list(spec.writer().lines(result))
        except (ConvsplitError, ValueError, TypeError):
            continue
        if rows:
            return rows[-1].decode().rstrip("\n")
    return None


def writer_options(fmt: Format) -> Iterator[tuple[str, str, str]]:
    """Each option of ``fmt``'s writer: its name, its default as a ``--writer-option``
    value (JSON) and its meaning, from the writer's fields and the ``Args:`` of its
    docstring.

    >>> from convsplit.formats import get_format
    >>> name, default, meaning = next(writer_options(get_format("trl")))
    >>> name, default, meaning[:40]
    ('arguments', '"object"', 'tool-call arguments as JSON "object" (ch')
    """
    writer = fmt.writer
    if not (isinstance(writer, type) and dataclasses.is_dataclass(writer)):
        return
    meanings = _args(inspect.getdoc(writer) or "")
    for field in dataclasses.fields(writer):
        if not field.init or field.name in _SET_BY_SPEC:
            continue
        default: Any = field.default
        factory: Any = field.default_factory
        if default is dataclasses.MISSING and factory is not dataclasses.MISSING:
            default = factory()
        shown = "" if default is dataclasses.MISSING else orjson.dumps(default).decode()
        yield field.name, shown, meanings.get(field.name, "")


def _args(doc: str) -> dict[str, str]:
    """The ``Args:`` section of a docstring: each name's text on one line, markup removed."""
    found: dict[str, str] = {}
    section = re.search(r"^Args:\n((?:    .*\n?|\s*\n)+)", doc, flags=re.M)
    if section is None:
        return found
    name = None
    for line in section.group(1).splitlines():
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            name = match.group(1)
            found[name] = match.group(2)
        elif name is not None and line.startswith("        "):
            found[name] += " " + line.strip()
    return {key: _plain(text) for key, text in found.items()}


def _plain(text: str) -> str:
    """Docstring markup as plain text: ``x`` -> x, :func:`a.b` -> b, ``"x"`` -> "x"."""
    text = re.sub(r":\w+:`~?(?:[\w.]*\.)?([^`]+)`", r"\1", text)
    return text.replace("``", "")
