"""Window strategies refuse a bad option with the project's error, naming the option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from convsplit import Chunks, ConvsplitError, InvalidOptionError, LastTurns
from convsplit.core.truncation import get_truncation
from convsplit.core.windows import get_window


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: LastTurns(turns=0), "LastTurns turns must be an int >= 1; got 0", id="turns-0"
        ),
        pytest.param(
            lambda: LastTurns(turns="3"),
            "LastTurns turns must be an int >= 1; got str '3'",
            id="turns-str",
        ),
        pytest.param(
            lambda: get_window("last-turns", turns=True),
            "LastTurns turns must be an int >= 1; got bool True",
            id="turns-bool",
        ),
        pytest.param(
            lambda: Chunks(carry_tokens=-1),
            "Chunks carry_tokens must be an int >= 0; got -1",
            id="carry-negative",
        ),
        pytest.param(
            lambda: Chunks(carry_tokens=1.5),
            "Chunks carry_tokens must be an int >= 0; got float 1.5",
            id="carry-float",
        ),
        pytest.param(
            lambda: get_window("last-turns", turn=2),
            "window 'last-turns': got an unexpected keyword argument 'turn'; it takes turns",
            id="unknown-option",
        ),
        pytest.param(
            lambda: get_truncation("drop-oldest", keep=2),
            "truncation 'drop-oldest': got an unexpected keyword argument 'keep'; it takes no "
            "options",
            id="no-options",
        ),
    ],
)
def test_a_bad_strategy_option_is_an_option_error(build: object, message: str) -> None:
    """A ConvsplitError (callers catch one class), still a ValueError for those that
    caught the bare one it was."""
    with pytest.raises(InvalidOptionError) as caught:
        build()  # type: ignore[operator]
    assert str(caught.value) == message
    assert isinstance(caught.value, ConvsplitError)
    assert isinstance(caught.value, ValueError)


def test_a_numpy_style_integer_becomes_an_int() -> None:
    """A whole number of another integral type is kept as a plain ``int`` (a spec pickles
    and compares by value)."""

    class Whole(int):
        pass

    window = LastTurns(turns=Whole(2))
    assert type(window.turns) is int
    assert window == LastTurns(turns=2)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(
            ["--window", "last-turns", "--turns", "0"],
            "error: argument --turns: expected a whole number >= 1; got '0'\n",
            id="turns",
        ),
        pytest.param(
            ["--window", "chunks", "--carry-tokens", "-1"],
            "error: argument --carry-tokens: expected a whole number from 0 to "
            "9,223,372,036,854,775,807; got '-1'\n",
            id="carry-tokens",
        ),
    ],
)
def test_the_command_line_names_the_flag(flags: list[str], message: str, tmp_path: Path) -> None:
    """The CLI refuses the value before any work, worded as its flag (exit code 2)."""
    examples = Path(__file__).parents[1] / "examples" / "conversations.jsonl"
    out = tmp_path / "o.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "convsplit", "split", str(examples), "-o", str(out), *flags],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(message)
    assert not out.exists()
