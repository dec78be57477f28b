"""Ctrl-C, ``kill`` and a closed terminal end a command the same way: cleanly.

Python turns only SIGINT into an exception; SIGTERM and SIGHUP end the process at once,
leaving temporary files and worker processes behind. While a command runs, all three raise
:class:`Interrupted` in the main thread, so the same ``finally`` blocks that handle Ctrl-C
(kill the workers, remove the temporary files) run for each. Once one has arrived, later
ones are ignored: a second Ctrl-C must not cut the clean-up short.

The exception is raised wherever the main thread is when the signal comes. Where that is
a finalizer or an at-fork hook (``logging`` has one, run as worker processes start),
Python prints it as "Exception ignored" and carries on, and the signals that could stop
the command again are ignored by then. So the signal is also noted:
:func:`raise_if_interrupted`, called as a command goes on and before it commits its
output, raises it again there, and the block raises it on leaving.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: The signal that arrived in the running block, if one did (at most one is taken).
_arrived: list[int] = []


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
        _arrived.append(signum)
        raise Interrupted(signum)

    def unraisable(what: sys.UnraisableHookArgs) -> None:
        if not isinstance(what.exc_value, Interrupted):  # noted; raised again later
            previous_hook(what)

    _arrived.clear()
    previous_hook = sys.unraisablehook
    sys.unraisablehook = unraisable
    previous = {
        number: signal.signal(number, interrupt)
        for number in _SIGNALS
        if signal.getsignal(number) is not signal.SIG_IGN
    }
    try:
        yield
        raise_if_interrupted()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        sys.unraisablehook = previous_hook
        _arrived.clear()


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` for a signal that arrived in the running block and whose
    exception was lost (see the module docstring); nothing outside such a block."""
    if _arrived:
        raise Interrupted(_arrived[0])
