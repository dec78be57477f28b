"""The command line's parser: every subcommand, its options, its help and example.

The options every splitting command shares are in :mod:`convsplit.cli_options`; what each
command does is in :mod:`convsplit.cli_commands`.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from convsplit import __version__
from convsplit import cli_commands as commands
from convsplit.cli_messages import EXIT_USAGE, flags_by_option
from convsplit.cli_options import (
    add_split_options,
    add_strategy_options,
    blocksize,
    natural,
    positive,
)

#: What an INPUT left out stands for.
_FROM_ENTRY = " (none: the file_name of the --dataset-info entry)"

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
  convsplit validate data/ --json | jq '.kinds'
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


FORMATS_EXAMPLE = """\
Example:
  convsplit formats | less
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
    subcommands = parser.add_subparsers(dest="command", parser_class=_Parser)
    parser.set_defaults(run=lambda _: _no_command(parser))

    split = subcommands.add_parser(
        "split",
        help="split conversations into samples",
        description="Split every conversation of the inputs into per-assistant-turn samples.",
        epilog=SPLIT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    split.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help=f"files, globs or directories; - for standard input{_FROM_ENTRY}",
    )
    split.add_argument(
        "-o", "--output", required=True, help="samples file (.gz compresses); - for standard output"
    )
    strategies = [add_split_options(split, several_windows=True)]
    split.add_argument("--report", metavar="FILE", help="write the run's accounting as JSON")
    split.add_argument(
        "--rejects",
        metavar="FILE",
        help="write records that could not be read, with file, line, reason",
    )
    split.add_argument(
        "--jobs",
        type=positive,
        metavar="N",
        help="worker processes (output is identical for any N; default 1, and with "
        "--engine dask one per core)",
    )
    split.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local processes (default), or a Dask cluster: -o then names a folder of "
        "part-NNNNN.jsonl files (part-NNNNN.parquet for an -o ending in .parquet)",
    )
    split.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: the scheduler, e.g. tcp://10.0.0.5:8786 (default: a local "
        "cluster of --jobs processes, one per core without --jobs)",
    )
    split.add_argument(
        "--blocksize",
        type=blocksize,
        default="auto",
        metavar="BYTES",
        help="with --engine dask: cut plain JSONL files in blocks of this size (e.g. 16MiB); "
        "auto (default): about four blocks per worker, 1-64 MiB; none: one part per file",
    )
    split.add_argument(
        "--strict", action="store_true", help="stop at the first bad record instead of rejecting it"
    )
    split.set_defaults(run=commands.split)

    stats = subcommands.add_parser(
        "stats",
        help="token distribution, and what a split at each --max-tokens would produce",
        description="Token distribution of the inputs and, for each --max-tokens given, what "
        "a split would produce: samples, tokens per epoch, turns skipped, history kept, cost.",
        epilog=STATS_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stats.add_argument(
        "inputs", nargs="*", metavar="INPUT", help=f"files, globs or directories{_FROM_ENTRY}"
    )
    stats.add_argument(
        "--price",
        type=float,
        metavar="USD",
        help="price per million training tokens, to estimate the cost of one epoch",
    )
    stats.add_argument(
        "--json",
        action="store_true",
        help="print the reports, the records rejected and the --price cost as JSON",
    )
    strategies.append(add_split_options(stats, several_budgets=True))
    stats.set_defaults(run=commands.stats)

    validate = subcommands.add_parser(
        "validate",
        help="find what would waste a fine-tuning run, before it starts",
        description="Check every record: structure, roles, content, tool calls and results, "
        "duplicates, template markers in text, and (with --max-tokens) length. Exit 0 only "
        "when there are no errors or warnings.",
        epilog=VALIDATE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument(
        "inputs", nargs="*", metavar="INPUT", help=f"files, globs or directories{_FROM_ENTRY}"
    )
    validate.add_argument(
        "--max-listed",
        type=natural,
        default=10,
        metavar="N",
        help="findings listed per kind (default 10; 0: all); all are counted",
    )
    validate.add_argument(
        "--json",
        action="store_true",
        help="print every finding and the counts by kind as one JSON document",
    )
    strategies.append(add_split_options(validate, budget_default=None))
    validate.set_defaults(run=commands.validate)

    show = subcommands.add_parser(
        "show",
        help="show which messages each sample trains",
        description="Show the samples of one conversation: pinned messages, context, the "
        "trained target, where history was dropped, and the turns skipped with their reasons.",
        epilog=SHOW_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument(
        "input", nargs="?", metavar="INPUT", help=f"a file; - for standard input{_FROM_ENTRY}"
    )
    show.add_argument(
        "--conversation",
        default="0",
        metavar="N",
        help="which conversation: its position in the file (from 0) or its id (default 0)",
    )
    show.add_argument("--sample", type=natural, metavar="K", help="show only sample K")
    show.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output (default auto: only on a terminal)",
    )
    strategies.append(add_split_options(show))
    show.set_defaults(run=commands.show)

    report = subcommands.add_parser(
        "report",
        help="write one HTML page: token charts, the window sweep, findings and their records",
        description="Write a self-contained HTML page about the inputs: tokens per conversation "
        "and per role, what a split at each --max-tokens would produce (default 512 to 128k), "
        "and the validation findings, each linked to its record. The page loads nothing from "
        "the network and runs no script.",
        epilog=REPORT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "inputs", nargs="*", metavar="INPUT", help=f"files, globs or directories{_FROM_ENTRY}"
    )
    report.add_argument(
        "-o", "--output", required=True, help="the HTML file to write; - for standard output"
    )
    report.add_argument("--title", default="convsplit report", help="the page's heading")
    report.add_argument(
        "--check-tokens",
        type=positive,
        metavar="N",
        help="also list conversations and turns over N tokens as findings (as validate "
        "--max-tokens N)",
    )
    report.add_argument(
        "--max-listed",
        type=positive,
        default=30,
        metavar="N",
        help="findings listed, with their records, per kind (default 30); all are counted",
    )
    strategies.append(add_split_options(report, several_budgets=True))
    report.set_defaults(run=commands.report)
    listing = subcommands.add_parser(
        "formats",
        help="list every input and output format, its trainer setting and writer options",
        description="Every format --from reads and --to writes: what it is, an example "
        "record or row, the trainer setting that trains exactly the targets, and every "
        "--writer-option with its default.",
        epilog=FORMATS_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.set_defaults(run=commands.list_formats)
    for command in (split, stats, validate, show, report, listing):
        # Also after the command; SUPPRESS keeps the top-level --debug when not repeated.
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
        )
    for group in strategies:  # last: a strategy's option may not take a flag of convsplit's
        add_strategy_options(group)
    parser.set_defaults(flags=flags_by_option(parser))  # to word errors as flags
    return parser


def _no_command(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE
