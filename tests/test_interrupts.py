"""A signal whose exception Python swallows still stops the command.

The exception a signal raises lands wherever the main thread is; in a finalizer or an
at-fork hook Python prints "Exception ignored" and carries on. Seen with ``--jobs 2`` and
Ctrl-C as the workers started (logging's at-fork hook): the run finished and wrote its
output, and the signals that could have stopped it again were already ignored. Here the
signal is sent from a finalizer, the same kind of place, deterministically.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from convsplit import Budget, SplitSpec, split_files
from convsplit.run.interrupts import Interrupted, signals_as_interrupts


class _SignalOnCollect:
    """Sends ``signum`` to this process when collected: its exception cannot leave
    ``__del__``, so Python reports it as unraisable and goes on."""

    def __init__(self, signum: int) -> None:
        self.signum = signum

    def __del__(self) -> None:
        signal.raise_signal(self.signum)


def _lose(signum: int) -> None:
    """A signal arrives while a finalizer runs (the object is collected at once)."""
    _SignalOnCollect(signum)


def _records(path: Path, count: int) -> Path:
    lines = [
        {"id": f"c{k}", "messages": [{"role": "user", "content": f"question {k}"},
                                     {"role": "assistant", "content": f"answer {k}"}]}
        for k in range(count)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return path


def test_a_signal_lost_in_a_finalizer_is_raised_on_leaving_the_block(
    capfd: pytest.CaptureFixture[str],
) -> None:  # the hook in place is pytest's, which would turn it into a warning
    hook = sys.unraisablehook
    with pytest.raises(Interrupted) as caught, signals_as_interrupts():
        _lose(signal.SIGTERM)
        after = True  # the block went on: the exception was swallowed
    assert after
    assert caught.value.signum == signal.SIGTERM
    assert "Exception ignored" not in capfd.readouterr().err  # noted, not printed
    assert sys.unraisablehook is hook
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_other_unraisable_exceptions_still_reach_the_hook_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda what: seen.append(what.exc_value))

    class _Failing:
        def __del__(self) -> None:
            raise RuntimeError("a finalizer failed")

    with pytest.raises(Interrupted), signals_as_interrupts():
        _Failing()
        _lose(signal.SIGINT)
    assert [type(e) for e in seen] == [RuntimeError]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_split_interrupted_where_the_exception_is_lost_writes_nothing(
    tmp_path: Path, jobs: int
) -> None:
    """The signal is lost in the parent while the run goes on (here inside a progress
    callback's finalizer): the split stops at its next batch, or at the latest before its
    output is committed, and leaves nothing behind."""
    data = _records(tmp_path / "in.jsonl", 3000)
    calls = 0

    def progress(report: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            _lose(signal.SIGINT)

    with pytest.raises(Interrupted), signals_as_interrupts():
        split_files([data], tmp_path / "out.jsonl", SplitSpec(Budget(256)), jobs=jobs,
                    rejects=tmp_path / "rejects.jsonl", progress=progress)  # fmt: skip
    assert calls == 1 if jobs == 1 else calls >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_a_signal_noted_in_one_block_does_not_stop_the_next() -> None:
    with signals_as_interrupts():
        pass
    # A signal noted in a block is forgotten once it is left: a later run is not stopped.
    with pytest.raises(Interrupted), signals_as_interrupts():
        _lose(signal.SIGINT)
    with signals_as_interrupts():
        pass
