"""The options every command that splits shares, and the split spec they stand for.

Each flag here is one option of :class:`~convsplit.spec.SplitSpec`, and :func:`split_spec`
reads them back into one. A registered window or truncation strategy declares the options
its factory takes (:class:`~convsplit.registry.StrategyOption`), and each becomes a
flag that goes with that strategy: ``--turns`` with ``--window last-turns``, and a user's
own strategy's options with it, registered before the parser is built.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from convsplit.budget import Budget
from convsplit.cli_messages import UsageError
from convsplit.core.truncation import (
    get_truncation,
    truncation_names,
    truncation_options,
)
from convsplit.core.windows import (
    get_window,
    window_names,
    window_options,
)
from convsplit.errors import InvalidOptionError
from convsplit.formats import MAX_RECORD_BYTES, reader_names, writer_names
from convsplit.formats.llamafactory import read_dataset_info
from convsplit.registry import StrategyOption
from convsplit.spec import SplitSpec
from convsplit.tokens.chat_formats import chat_format_names
from convsplit.tokens.counters import DEFAULT_ENCODING, load_counter
from convsplit.tokens.offline import OFFLINE_VARIABLE


def add_split_options(
    parser: argparse.ArgumentParser,
    *,
    several_budgets: bool = False,
    budget_default: int | None = 4096,
    several_windows: bool = False,
) -> argparse._ArgumentGroup:
    """The options every command that splits shares; returns the group where the flags of
    strategies' own options go (:func:`add_strategy_options`, once the command's every
    other flag is in place). ``several_windows``: ``--max-tokens`` repeats, one output
    file per window (``split``)."""
    group = parser.add_argument_group("budget and tokenizer")
    if several_windows:
        group.add_argument(
            "--max-tokens",
            type=positive,
            action="append",
            metavar="N",
            help="tokens per sample, template included (default 4096); repeat, with "
            "{max_tokens} in -o, to write one file per window in one pass",
        )
    elif several_budgets:
        group.add_argument(
            "--max-tokens",
            type=positive,
            action="append",
            metavar="N",
            help="tokens per sample; repeat to compare several (default: 4096 for stats, "
            "512 to 128k for report)",
        )
    else:
        group.add_argument(
            "--max-tokens",
            type=positive,
            default=budget_default,
            metavar="N",
            help="tokens per sample, template included"
            + (" (default 4096)" if budget_default else "; checks lengths against it"),
        )
    group.add_argument(
        "--reserve-target",
        type=natural,
        default=0,
        metavar="N",
        help="count every target as at least N tokens",
    )
    group.add_argument(
        "--min-context",
        type=natural,
        default=0,
        metavar="N",
        help="skip samples whose history was cut to fewer than N context tokens",
    )
    tokenizer = group.add_mutually_exclusive_group()
    tokenizer.add_argument(
        "--encoding",
        metavar="NAME",
        help=f"tiktoken encoding (default {DEFAULT_ENCODING}), or hf:PATH for a Hugging Face "
        "tokenizer.json",
    )
    tokenizer.add_argument(
        "--model", metavar="NAME", help="OpenAI model whose encoding to use (e.g. gpt-4o)"
    )
    group.add_argument(
        "--bpe-file",
        metavar="PATH",
        help="the encoding's .tiktoken file, for machines without internet",
    )
    group.add_argument(
        "--offline",
        action="store_true",
        help="never download a vocabulary (as CONVSPLIT_OFFLINE=1): use the cache, --bpe-file "
        "or an installed package only",
    )
    group.add_argument(
        "--chat-format",
        metavar="NAME",
        help=f"template whose tokens are counted: {', '.join(chat_format_names())}, or "
        "hf:FOLDER for a model's own template (default openai; chatml with --to text)",
    )

    group = windows = parser.add_argument_group("windows")
    group.add_argument(
        "--window",
        default="full",
        choices=window_names(),
        help="full: one sample per turn with all history that fits (default); "
        "last-turns: at most --turns turns; chunks: several targets per sample",
    )
    group.add_argument(
        "--truncation",
        default="drop-oldest",
        choices=truncation_names(),
        help="what gives way when history does not fit (default drop-oldest)",
    )
    group.add_argument(
        "--on-long-target",
        default="skip",
        choices=("skip", "truncate", "error"),
        help="a turn too long even alone: skip it (default), cut it, or stop",
    )
    group.add_argument(
        "--keep-reasoning",
        action="store_true",
        help="keep the reasoning of assistant messages used as context",
    )

    group = parser.add_argument_group("formats")
    group.add_argument(
        "--max-record-bytes",
        type=natural,
        default=MAX_RECORD_BYTES,
        metavar="N",
        help=f"reject records larger than N bytes unread (default {MAX_RECORD_BYTES:,}; 0: no "
        "limit)",
    )
    group.add_argument(
        "--from",
        dest="input_format",
        default="auto",
        choices=reader_names(),
        help="input format (default auto: detected per record)",
    )
    group.add_argument(
        "--to",
        dest="output_format",
        default="openai",
        choices=writer_names(),
        help="output format (default openai)",
    )
    group.add_argument(
        "--role-map",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="read role FROM as TO, e.g. bot=assistant (repeatable)",
    )
    group.add_argument(
        "--field",
        dest="fields",
        action="append",
        default=[],
        metavar="NAME=KEY",
        help="read field NAME (messages, system, tools, id, role, content, prompt, completion, "
        "chosen, rejected, label...) from KEY, e.g. messages=dialog (repeatable)",
    )
    group.add_argument(
        "--dataset-info",
        metavar="FILE",
        help="read the fields, roles and format from a LLaMA-Factory dataset_info.json entry "
        "(with --dataset)",
    )
    group.add_argument(
        "--dataset",
        metavar="NAME",
        help="the entry of --dataset-info to read",
    )
    group.add_argument(
        "--writer-option",
        dest="writer_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the output writer, e.g. weight_targets=true",
    )
    return windows


@dataclass
class _Flag:
    """One strategy option's flag, and the strategies that take it (with their own
    declaration of it)."""

    flag: str
    owners: list[tuple[str, str, StrategyOption]]  # (--window, last-turns, its option)

    @property
    def dest(self) -> str:
        return f"strategy_{self.owners[0][2].name}"  # never one of convsplit's own dests

    def who(self) -> str:
        return " or ".join(f"{kind} {name}" for kind, name, _ in self.owners)

    def help(self) -> str:
        option = self.owners[0][2]
        default = "" if option.default is None else f" (default {option.default})"
        return f"with {self.who()}: {option.help}{default}"


def _strategy_flags() -> dict[str, _Flag]:
    """Every registered strategy's options, by flag, in registration order."""
    flags: dict[str, _Flag] = {}
    registries: list[tuple[str, tuple[str, ...], Callable[[str], tuple[StrategyOption, ...]]]] = [
        ("--window", window_names(), window_options),
        ("--truncation", truncation_names(), truncation_options),
    ]
    for kind, names, options_of in registries:
        for name in names:
            for option in options_of(name):
                flags.setdefault(option.flag, _Flag(option.flag, [])).owners.append(
                    (kind, name, option)
                )
    return flags


def add_strategy_options(group: argparse._ArgumentGroup) -> None:
    """A flag for each option a registered strategy declares.

    Raises:
        InvalidOptionError: a strategy option whose flag convsplit already uses.
    """
    for flag in _strategy_flags().values():
        kind, name, option = flag.owners[0]
        try:
            group.add_argument(
                flag.flag,
                dest=flag.dest,
                type=_parse(option),
                metavar=option.metavar or ("VALUE" if option.type is str else "N"),
                help=flag.help(),
            )
        except argparse.ArgumentError:
            raise InvalidOptionError(
                f"{kind} {name} declares the option {option.name!r}, but {flag.flag} is "
                "already a convsplit flag; register it under another name"
            ) from None


def _strategy_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The options of the chosen window and truncation strategy (``--window``,
    ``--truncation``): those given, else the defaults they declare.

    Raises:
        UsageError: an option given that goes with a strategy not chosen.
    """
    chosen = {"--window": args.window, "--truncation": args.truncation}
    options: dict[str, dict[str, Any]] = {kind: {} for kind in chosen}
    for flag in _strategy_flags().values():
        value = getattr(args, flag.dest, None)
        takers = [(kind, option) for kind, name, option in flag.owners if chosen[kind] == name]
        if value is not None and not takers:
            raise UsageError(f"{flag.flag} goes with {flag.who()}")
        for kind, option in takers:
            if value is not None or option.default is not None:
                options[kind][option.name] = option.default if value is None else value
    return options


def _parse(option: StrategyOption) -> Callable[[str], object]:
    """How the flag's text is read: as the option's type, at least its minimum."""
    if option.type is str:
        return str
    if option.type is int and option.minimum == 1:
        return positive
    if option.type is int and option.minimum == 0:
        return natural

    kind = "a whole number" if option.type is int else "a number"
    read: Callable[[str], float] = float if option.type is float else int

    def number(text: str) -> float:
        try:
            value = read(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}; got {text!r}") from None
        if option.minimum is not None and value < option.minimum:
            raise argparse.ArgumentTypeError(f"expected {kind} >= {option.minimum}; got {text!r}")
        return value

    return number


_UNITS = {"": 1, "k": 10**3, "kb": 10**3, "kib": 1 << 10, "m": 10**6, "mb": 10**6,
          "mib": 1 << 20, "g": 10**9, "gb": 10**9, "gib": 1 << 30}  # fmt: skip


def blocksize(text: str) -> int | str | None:
    """``--blocksize``: a size (``16MiB``, ``500k``, ``1048576``), ``auto`` or ``none``."""
    value = text.strip().lower()
    if value in ("auto", "none"):
        return "auto" if value == "auto" else None
    match = re.fullmatch(r"(\d+)\s*([a-z]*)", value)
    if match is None or match.group(2) not in _UNITS or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 16MiB, 'auto' or 'none'; got {text!r}"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def positive(text: str) -> int:
    value = natural(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1; got {text!r}")
    return value


def natural(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
    if not 0 <= value <= sys.maxsize:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {sys.maxsize:,}; got {text!r}"
        )
    return value


def _reading(args: argparse.Namespace) -> dict[str, Any]:
    """How records are read: --from, --field and --role-map over a --dataset-info entry."""
    if (args.dataset_info is None) != (args.dataset is None):
        raise UsageError("--dataset-info and --dataset go together: the file and its entry")
    options: dict[str, Any] = {"input_format": "auto", "fields": {}, "role_map": {}}
    if args.dataset_info is not None:
        options = read_dataset_info(args.dataset_info, args.dataset).options()
    if args.input_format != "auto":
        options["input_format"] = args.input_format
    options["fields"].update(_pairs(args.fields, "--field"))
    options["role_map"].update(_pairs(args.role_map, "--role-map"))
    return options


def given_inputs(args: argparse.Namespace, named: Sequence[str]) -> list[str]:
    """The command's inputs: those ``named``, else the file a ``--dataset-info`` entry
    names (its ``file_name``, beside the dataset_info.json, as LLaMA-Factory reads it)."""
    if named:
        return list(named)
    if args.dataset_info is None or args.dataset is None:
        raise UsageError(
            "no INPUT: name files, globs or directories (or --dataset-info FILE --dataset "
            "NAME to read the file the entry names)"
        )
    return [read_dataset_info(args.dataset_info, args.dataset).input_path()]


def _pairs(items: Sequence[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{option} takes KEY=VALUE; got {item!r}")
        pairs[key] = value
    return pairs


def _writer_options(items: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in _pairs(items, "--writer-option").items():
        try:
            options[key] = orjson.loads(value)
        except orjson.JSONDecodeError:
            options[key] = value
    return options


def budget(args: argparse.Namespace, max_tokens: int) -> Budget:
    if args.min_context and args.min_context >= max_tokens:
        raise UsageError("--min-context must be smaller than --max-tokens")
    if args.reserve_target > max_tokens:
        raise UsageError("--reserve-target cannot exceed --max-tokens")
    return Budget(max_tokens, args.reserve_target, args.min_context)


def split_spec(args: argparse.Namespace, max_tokens: int | None = None) -> SplitSpec:
    """The split spec that the parsed command-line arguments stand for."""
    strategies = _strategy_options(args)
    if args.offline:  # read where the vocabulary is loaded, whichever module does it
        os.environ[OFFLINE_VARIABLE] = "1"
    name = args.model or args.encoding
    if args.bpe_file is not None:
        tokenizer = load_counter(name or DEFAULT_ENCODING, bpe_file=args.bpe_file)
    return SplitSpec(
        budget(args, max_tokens or _first(args.max_tokens) or 4096),
        tokenizer=tokenizer if args.bpe_file is not None else name,
        chat_format=args.chat_format,
        window=get_window(args.window, **strategies["--window"]),
        truncation=get_truncation(args.truncation, **strategies["--truncation"]),
        on_long_target=args.on_long_target,
        keep_reasoning=args.keep_reasoning,
        output_format=args.output_format,
        writer_options=_writer_options(args.writer_options),
        **_reading(args),
        max_record_bytes=args.max_record_bytes or None,
    )


def _first(max_tokens: int | list[int] | None) -> int | None:
    """The first ``--max-tokens`` of a command where it repeats."""
    if isinstance(max_tokens, list):
        return max_tokens[0] if max_tokens else None
    return max_tokens
