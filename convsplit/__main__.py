"""``python -m convsplit`` and the ``convsplit`` command.

The command line is imported here, not at the top, with Ctrl-C held back while it loads:
an interrupt in the middle of a module's import can surface as another error (Python wraps
one raised while a class is made), so it is noted and acted on once loading is done, with
the same one line as Ctrl-C at any later moment, never a traceback.
"""

import signal
import sys
from types import FrameType


def main() -> int:
    """Load the command line and run it; returns the exit status."""
    interrupted = False

    def note(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True

    previous = signal.signal(signal.SIGINT, note)
    try:
        from convsplit.cli import main as run  # noqa: PLC0415 (see the module docstring)
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("error: interrupted; no output was written", file=sys.stderr)
        return 130
    return run()


if __name__ == "__main__":
    sys.exit(main())
