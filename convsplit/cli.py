"""The ``convsplit`` command: a thin layer over the library.

Each subcommand parses its options, calls the public function of the same name and maps
errors to one line on stderr. Exit status: 0 done, 1 failed (nothing written under the
output name), 2 bad usage, 3 done but some records were rejected (or, for ``validate``,
problems were found).

The parser is built in :mod:`convsplit.cli_parser` (with the shared split options of
:mod:`convsplit.cli_options`), the commands run in :mod:`convsplit.cli_commands`, and what
they say back is worded in :mod:`convsplit.cli_messages`; this module runs them and turns
every error into its one line.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping, Sequence

from convsplit.cli_messages import (
    EXIT_FAILED,
    EXIT_USAGE,
    UsageError,
    in_cli_words,
)
from convsplit.cli_options import split_spec
from convsplit.cli_parser import build_parser
from convsplit.errors import ConvsplitError, InvalidOptionError, UnknownNameError
from convsplit.run.interrupts import Interrupted, signals_as_interrupts
from convsplit.terminal import visible

__all__ = ["build_parser", "main", "split_spec"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        with signals_as_interrupts():
            try:
                parser = build_parser()
            except ConvsplitError as error:  # a strategy registered with a clashing option
                print(f"error: {visible(str(error))}", file=sys.stderr)
                return EXIT_FAILED
            return _run(parser.parse_args(argv))
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, Interrupted) and interrupt.signum != signal.SIGINT:
            print(f"error: stopped by {interrupt}; no output was written", file=sys.stderr)
            return interrupt.exit_status
        print("error: interrupted; no output was written", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args))
    except (UsageError, UnknownNameError, InvalidOptionError) as error:
        # An unknown name or a bad option value is a usage error wherever it is found.
        text = visible(_describe(error, args.flags))
        print(f"error: {text}\n(see 'convsplit {args.command} --help')", file=sys.stderr)
        return EXIT_USAGE
    except (ConvsplitError, OSError, ValueError, IndexError) as error:
        if _closed_pipe(error):
            # A reader that has had enough (`| head`) ends the command quietly, as in Unix.
            _silence_stdout()
            return 128 + signal.SIGPIPE
        if args.debug:
            raise
        print(f"error: {visible(_describe(error, args.flags))}", file=sys.stderr)
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


def _describe(error: BaseException, flags: Mapping[str, argparse.Action]) -> str:
    """The error in one line, any remedy it carries worded as the flag to use."""
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    return in_cli_words(str(error), getattr(error, "hints", ()), flags)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
