"""The ``convsplit`` command: a thin layer over the library.

Each subcommand parses its options, calls the public function of the same name and maps
errors to one line on stderr. Exit status: 0 done, 1 failed (nothing written under the
output name), 2 bad usage, 3 done but some records were rejected (or, for ``validate``,
problems were found).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import asdict
from typing import Any, NoReturn

import orjson

from convsplit import __version__
from convsplit.budget import Budget
from convsplit.core.truncation import get_truncation, truncation_names
from convsplit.core.windows import WindowStrategy, get_window, window_names
from convsplit.errors import (
    ConvsplitError,
    InvalidConversationError,
    InvalidOptionError,
    UnknownNameError,
)
from convsplit.formats import (
    MAX_RECORD_BYTES,
    Record,
    read_records,
    reader_names,
    writer_names,
)
from convsplit.messages import Conversation
from convsplit.run.inputs import expand_inputs
from convsplit.run.interrupts import Interrupted, signals_as_interrupts
from convsplit.run.output import AtomicOutput, check_targets
from convsplit.run.pipeline import split_files
from convsplit.run.progress import Progress
from convsplit.run.report import Report
from convsplit.spec import SplitSpec
from convsplit.terminal import visible
from convsplit.tokens.chat_formats import chat_format_names
from convsplit.tokens.counters import DEFAULT_ENCODING, load_counter

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3

SPLIT_EXAMPLE = """\
Example:
  convsplit split chats.jsonl -o samples.jsonl --max-tokens 4096
  convsplit split data/ -o train.jsonl.gz --window chunks --carry-tokens 256 --jobs 2 \\
      --rejects rejects.jsonl --report report.json
"""


STATS_EXAMPLE = """\
Example:
  convsplit stats chats.jsonl --max-tokens 1024 --max-tokens 4096 --price 25
"""

VALIDATE_EXAMPLE = """\
Example:
  convsplit validate chats.jsonl --max-tokens 4096
"""

SHOW_EXAMPLE = """\
Example:
  convsplit show chats.jsonl --conversation 3 --max-tokens 1024
  convsplit show chats.jsonl --conversation conv-17 --sample 2 --truncation middle-out
"""

REPORT_EXAMPLE = """\
Example:
  convsplit report chats.jsonl -o report.html
  convsplit report data/ -o report.html --max-tokens 2048 --max-tokens 8192 --title "Support chats"
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message}\n(see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="convsplit",
        description="Turn long chat transcripts into one fine-tuning sample per assistant "
        "turn, each fitting a token budget.",
        epilog="Example:\n  convsplit split chats.jsonl -o samples.jsonl --max-tokens 4096",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"convsplit {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    parser.set_defaults(run=lambda _: _no_command(parser))

    split = commands.add_parser(
        "split",
        help="split conversations into samples",
        description="Split every conversation of the inputs into per-assistant-turn samples.",
        epilog=SPLIT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    split.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="files, globs or directories; - for standard input",
    )
    split.add_argument(
        "-o", "--output", required=True, help="samples file (.gz compresses); - for standard output"
    )
    _add_split_options(split)
    split.add_argument("--report", metavar="FILE", help="write the run's accounting as JSON")
    split.add_argument(
        "--rejects",
        metavar="FILE",
        help="write records that could not be read, with file, line, reason",
    )
    split.add_argument(
        "--jobs",
        type=_positive,
        default=1,
        metavar="N",
        help="worker processes (output is identical for any N; default 1)",
    )
    split.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local processes (default), or a Dask cluster: -o then names a folder of "
        "part-NNNNN.jsonl files",
    )
    split.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: the scheduler, e.g. tcp://10.0.0.5:8786 (default: a local "
        "cluster of --jobs processes)",
    )
    split.add_argument(
        "--strict", action="store_true", help="stop at the first bad record instead of rejecting it"
    )
    split.set_defaults(run=_split)

    stats = commands.add_parser(
        "stats",
        help="token distribution, and what a split at each --max-tokens would produce",
        description="Token distribution of the inputs and, for each --max-tokens given, what "
        "a split would produce: samples, tokens per epoch, turns skipped, history kept, cost.",
        epilog=STATS_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stats.add_argument("inputs", nargs="+", metavar="INPUT", help="files, globs or directories")
    stats.add_argument(
        "--price",
        type=float,
        metavar="USD",
        help="price per million training tokens, to estimate the cost of one epoch",
    )
    stats.add_argument("--json", action="store_true", help="print the reports as JSON")
    _add_split_options(stats, several_budgets=True)
    stats.set_defaults(run=_stats)

    validate = commands.add_parser(
        "validate",
        help="find what would waste a fine-tuning run, before it starts",
        description="Check every record: structure, roles, content, tool calls and results, "
        "duplicates, template markers in text, and (with --max-tokens) length. Exit 0 only "
        "when there are no errors or warnings.",
        epilog=VALIDATE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("inputs", nargs="+", metavar="INPUT", help="files, globs or directories")
    _add_split_options(validate, budget_default=None)
    validate.set_defaults(run=_validate)

    show = commands.add_parser(
        "show",
        help="show which messages each sample trains",
        description="Show the samples of one conversation: pinned messages, context, the "
        "trained target, where history was dropped, and the turns skipped with their reasons.",
        epilog=SHOW_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("input", metavar="INPUT", help="a file; - for standard input")
    show.add_argument(
        "--conversation",
        default="0",
        metavar="N",
        help="which conversation: its position in the file (from 0) or its id (default 0)",
    )
    show.add_argument("--sample", type=_natural, metavar="K", help="show only sample K")
    show.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output (default auto: only on a terminal)",
    )
    _add_split_options(show)
    show.set_defaults(run=_show)

    report = commands.add_parser(
        "report",
        help="write one HTML page: token charts, the window sweep, findings and their records",
        description="Write a self-contained HTML page about the inputs: tokens per conversation "
        "and per role, what a split at each --max-tokens would produce (default 512 to 128k), "
        "and the validation findings, each linked to its record. The page loads nothing from "
        "the network and runs no script.",
        epilog=REPORT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("inputs", nargs="+", metavar="INPUT", help="files, globs or directories")
    report.add_argument(
        "-o", "--output", required=True, help="the HTML file to write; - for standard output"
    )
    report.add_argument("--title", default="convsplit report", help="the page's heading")
    report.add_argument(
        "--check-tokens",
        type=_positive,
        metavar="N",
        help="also list conversations and turns over N tokens as findings (as validate "
        "--max-tokens N)",
    )
    report.add_argument(
        "--max-listed",
        type=_positive,
        default=30,
        metavar="N",
        help="findings listed, with their records, per kind (default 30); all are counted",
    )
    _add_split_options(report, several_budgets=True)
    report.set_defaults(run=_report)
    for command in (split, stats, validate, show, report):
        # Also after the command; SUPPRESS keeps the top-level --debug when not repeated.
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
        )
    return parser


def _no_command(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _add_split_options(
    parser: argparse.ArgumentParser,
    *,
    several_budgets: bool = False,
    budget_default: int | None = 4096,
) -> None:
    """The options every command that splits shares."""
    group = parser.add_argument_group("budget and tokenizer")
    if several_budgets:
        group.add_argument(
            "--max-tokens",
            type=_positive,
            action="append",
            metavar="N",
            help="tokens per sample; repeat to compare several (default: 4096 for stats, "
            "512 to 128k for report)",
        )
    else:
        group.add_argument(
            "--max-tokens",
            type=_positive,
            default=budget_default,
            metavar="N",
            help="tokens per sample, template included"
            + (" (default 4096)" if budget_default else "; checks lengths against it"),
        )
    group.add_argument(
        "--reserve-target",
        type=_natural,
        default=0,
        metavar="N",
        help="count every target as at least N tokens",
    )
    group.add_argument(
        "--min-context",
        type=_natural,
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
        "--chat-format",
        default="openai",
        metavar="NAME",
        help=f"template whose tokens are counted: {', '.join(chat_format_names())}, or "
        "hf:FOLDER for a model's own template (default openai)",
    )

    group = parser.add_argument_group("windows")
    group.add_argument(
        "--window",
        default="full",
        choices=window_names(),
        help="full: one sample per turn with all history that fits (default); "
        "last-turns: at most --turns turns; chunks: several targets per sample",
    )
    group.add_argument(
        "--turns",
        type=_positive,
        metavar="K",
        help="with --window last-turns: turns kept, the target's included (default 4)",
    )
    group.add_argument(
        "--carry-tokens",
        type=_natural,
        metavar="N",
        help="with --window chunks: history tokens carried into each chunk",
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
        type=_natural,
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
        "--writer-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the output writer, e.g. weight_targets=true",
    )


def _positive(text: str) -> int:
    value = _natural(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1; got {text!r}")
    return value


def _natural(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
    if not 0 <= value <= sys.maxsize:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {sys.maxsize:,}; got {text!r}"
        )
    return value


def _pairs(items: Sequence[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise _UsageError(f"{option} takes KEY=VALUE; got {item!r}")
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


class _UsageError(Exception):
    """Options that conflict or do not parse: reported before any work starts."""


def _window(args: argparse.Namespace) -> WindowStrategy:
    if args.turns is not None and args.window != "last-turns":
        raise _UsageError("--turns goes with --window last-turns")
    if args.carry_tokens is not None and args.window != "chunks":
        raise _UsageError("--carry-tokens goes with --window chunks")
    if args.window == "last-turns":
        return get_window("last-turns", turns=args.turns or 4)
    if args.window == "chunks":
        return get_window("chunks", carry_tokens=args.carry_tokens or 0)
    return get_window(args.window)


def _budget(args: argparse.Namespace, max_tokens: int) -> Budget:
    if args.min_context and args.min_context >= max_tokens:
        raise _UsageError("--min-context must be smaller than --max-tokens")
    if args.reserve_target > max_tokens:
        raise _UsageError("--reserve-target cannot exceed --max-tokens")
    return Budget(max_tokens, args.reserve_target, args.min_context)


def split_spec(args: argparse.Namespace, max_tokens: int | None = None) -> SplitSpec:
    """The split spec that the parsed command-line arguments stand for."""
    name = args.model or args.encoding
    if args.bpe_file is not None:
        tokenizer = load_counter(name or DEFAULT_ENCODING, bpe_file=args.bpe_file)
    return SplitSpec(
        _budget(args, max_tokens or args.max_tokens or 4096),
        tokenizer=tokenizer if args.bpe_file is not None else name,
        chat_format=args.chat_format,
        window=_window(args),
        truncation=get_truncation(args.truncation),
        on_long_target=args.on_long_target,
        keep_reasoning=args.keep_reasoning,
        input_format=args.input_format,
        output_format=args.output_format,
        writer_options=_writer_options(args.writer_option),
        role_map=_pairs(args.role_map, "--role-map"),
        max_record_bytes=args.max_record_bytes or None,
    )


def _split(args: argparse.Namespace) -> int:
    spec = split_spec(args)
    if args.scheduler is not None and args.engine != "dask":
        raise _UsageError("--scheduler goes with --engine dask")
    if args.engine == "dask" and args.output.endswith(".gz"):
        raise _UsageError("--engine dask writes a folder of uncompressed part files; drop .gz")
    targets = {"-o": args.output, "--rejects": args.rejects, "--report": args.report}
    folders = {"-o": targets.pop("-o")} if args.engine == "dask" else None
    check_targets(targets, expand_inputs(args.inputs), folders=folders)
    # The report file is opened first: a folder that is not there fails before any work.
    with AtomicOutput(args.report) if args.report else nullcontext() as report_out:
        progress = Progress(_total_size(args.inputs))
        try:
            if args.engine == "dask":
                from convsplit.integrations.dask import split_files_dask  # noqa: PLC0415 (imported when used: startup)

                report = split_files_dask(
                    args.inputs,
                    args.output,
                    spec,
                    scheduler=args.scheduler,
                    rejects=args.rejects,
                    n_workers=args.jobs if args.jobs > 1 else None,
                    strict=args.strict,
                    progress=progress,
                )
            else:
                report = split_files(
                    args.inputs,
                    args.output,
                    spec,
                    rejects=args.rejects,
                    jobs=args.jobs,
                    strict=args.strict,
                    progress=progress,
                )
        finally:
            progress.close()
        _finish(report, report_out, args.rejects)
    return EXIT_REJECTED if report.rejected else EXIT_OK


def _records(inputs: Sequence[str], spec: SplitSpec) -> Iterator[Record]:
    for path in expand_inputs(inputs):
        yield from read_records(
            path,
            input_format=spec.input_format,
            role_map=spec.role_map,
            max_record_bytes=spec.max_record_bytes,
        )


def _stats(args: argparse.Namespace) -> int:
    from convsplit.inspect.stats import token_reports  # noqa: PLC0415 (imported when used: startup)
    from convsplit.inspect.summaries import format_reports  # noqa: PLC0415 (imported when used: startup)

    budgets = args.max_tokens or [4096]
    spec = split_spec(args, budgets[0])
    rejected = 0

    def conversations() -> Iterator[Conversation]:
        nonlocal rejected
        for record in _records(args.inputs, spec):
            if record.conversation is None:
                rejected += 1
            else:
                yield record.conversation

    reports = token_reports(conversations(), spec, budgets=[_budget(args, b) for b in budgets])
    if args.json:
        print(json.dumps([asdict(r) for r in reports], indent=2))
    else:
        print(format_reports(reports, price=args.price, rejected=rejected))
    return EXIT_REJECTED if rejected else EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from convsplit.inspect.summaries import format_findings  # noqa: PLC0415 (imported when used: startup)
    from convsplit.inspect.validation import validate_records  # noqa: PLC0415 (imported when used: startup)

    spec = split_spec(args, args.max_tokens)
    findings = validate_records(
        _records(args.inputs, spec), spec, check_tokens=args.max_tokens is not None
    )
    text, clean = format_findings(findings)
    print(text)
    return EXIT_OK if clean else EXIT_REJECTED


def _show(args: argparse.Namespace) -> int:
    from convsplit.inspect.show import View, show_conversation  # noqa: PLC0415 (imported when used: startup)

    spec = split_spec(args)
    wanted: str = args.conversation
    records = read_records(
        args.input,
        input_format=spec.input_format,
        role_map=spec.role_map,
        max_record_bytes=spec.max_record_bytes,
    )
    for index, record in enumerate(records):
        conversation = record.conversation
        matches = str(index) == wanted or (conversation is not None and conversation.id == wanted)
        if not matches:
            continue
        if conversation is None:
            raise record.error or InvalidConversationError("unreadable record")
        color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
        width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100
        view = View(color=color, width=width, sample=args.sample)
        print(show_conversation(conversation, spec, view=view, index=index))
        return EXIT_OK
    raise _UsageError(f"{args.input} has no conversation {wanted!r}")


def _report(args: argparse.Namespace) -> int:
    from convsplit.inspect.html_report import DEFAULT_WINDOWS, collect_report, write_report  # noqa: PLC0415 (imported when used: startup)

    budgets = args.max_tokens or list(DEFAULT_WINDOWS)
    spec = split_spec(args, budgets[0])
    data = collect_report(
        _records(args.inputs, spec),
        spec,
        budgets=[_budget(args, b) for b in budgets],
        check_budget=_budget(args, args.check_tokens) if args.check_tokens else None,
        max_listed=args.max_listed,
    )
    write_report(args.output, data, title=args.title)
    print(f"{visible(str(args.output))}: {data.summary()}", file=sys.stderr)
    return EXIT_REJECTED if data.rejected else EXIT_OK


def _finish(report: Report, report_out: AtomicOutput | None, rejects: str | None) -> None:
    print(report.summary(), file=sys.stderr)
    for line in _warnings(report, rejects):
        print(visible(line), file=sys.stderr)
    if report_out is not None:
        report_out.write(report.to_json().encode())


_SKIP_HINTS = {
    "target_too_long": "raise --max-tokens, or --on-long-target truncate",
    "too_little_context": "lower --min-context",
    "no_user_before": "those turns have no user message before them",
    "empty_target": "those assistant messages are empty",
    "weight_zero": "those assistant messages have weight 0",
}


def _warnings(report: Report, rejects: str | None) -> Iterator[str]:
    """What a person should look at after a run: where records were rejected, and a run
    that trained nothing or skipped most turns, with the main reason."""
    if report.rejected:
        kept = f"written to {rejects}" if rejects else "use --rejects FILE to keep them"
        yield f"warning: {report.rejected:,} records rejected ({kept}):"
        for reject in report.first_rejects:
            line = "" if reject.line is None else f":{reject.line}"
            yield f"  {reject.path}{line}: {reject.reason}"
        if report.rejected > len(report.first_rejects):
            yield f"  and {report.rejected - len(report.first_rejects):,} more"
    if not report.records:
        yield "warning: the inputs hold no records"
    skipped = sum(report.skipped.values())
    if report.assistant_turns and skipped * 2 > report.assistant_turns:
        reason, count = max(report.skipped.items(), key=lambda item: (item[1], item[0]))
        what = "no turn was trained" if not report.targeted else "most turns were skipped"
        yield (
            f"warning: {what}: {skipped:,} of {report.assistant_turns:,} skipped, "
            f"{count:,} {reason} ({_SKIP_HINTS.get(reason, 'see --report')})"
        )


def _total_size(inputs: Sequence[str]) -> int | None:
    try:
        return sum(os.path.getsize(p) for p in inputs if p != "-" and os.path.isfile(p)) or None
    except OSError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        with signals_as_interrupts():
            return _run(build_parser().parse_args(argv))
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, Interrupted) and interrupt.signum != signal.SIGINT:
            print(f"error: stopped by {interrupt}; no output was written", file=sys.stderr)
            return interrupt.exit_status
        print("error: interrupted; no output was written", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args))
    except (_UsageError, UnknownNameError, InvalidOptionError) as error:
        # An unknown name or a bad option value is a usage error wherever it is found.
        print(
            f"error: {visible(str(error))}\n(see 'convsplit {args.command} --help')",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except (ConvsplitError, OSError, ValueError, IndexError) as error:
        if _closed_pipe(error):
            # A reader that has had enough (`| head`) ends the command quietly, as in Unix.
            _silence_stdout()
            return 128 + signal.SIGPIPE
        if args.debug:
            raise
        print(f"error: {visible(_describe(error))}", file=sys.stderr)
        return EXIT_FAILED


def _closed_pipe(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, BrokenPipeError):
            return True
        error = error.__cause__
    return False


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so Python's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    return str(error)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
