"""Ctrl-C, ``kill`` and a closed terminal end a command the same way: cleanly.

Python turns only SIGINT into an exception; SIGTERM and SIGHUP end the process at once,
leaving temporary files and worker processes behind. While a command runs, all three raise
:class:`Interrupted` in the main thread, so the same ``finally`` blocks that handle Ctrl-C
(kill the workers, remove the temporary files) run for each. Once one has arrived, later
ones are ignored: a second Ctrl-C must not cut the clean-up short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A signal asked the command to stop; ``exit_status`` is the shell's 128 + number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_status = 128 + signum
        super().__init__(signal.Signals(signum).name)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted`.

    A signal already ignored (``nohup`` ignores SIGHUP) stays ignored. Outside the main
    thread, where Python cannot set handlers, it changes nothing. The previous handlers
    are put back on leaving.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        for number in _SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {
        number: signal.signal(number, interrupt)
        for number in _SIGNALS
        if signal.getsignal(number) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
