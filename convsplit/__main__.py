"""``python -m convsplit`` and the ``convsplit`` command.

The command line is imported here, not at the top: Ctrl-C while it loads then ends with
the same one line as Ctrl-C at any later moment, not a traceback.
"""

import sys


def main() -> int:
    """Load the command line and run it; returns the exit status."""
    try:
        from convsplit.cli import main as run  # noqa: PLC0415 (see the module docstring)
    except KeyboardInterrupt:
        print("error: interrupted; no output was written", file=sys.stderr)
        return 130
    return run()


if __name__ == "__main__":
    sys.exit(main())
