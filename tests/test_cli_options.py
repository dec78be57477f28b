"""Options on the command line: strategies bring their own flags, and errors name flags.

A strategy registered in the user's program (before it runs ``convsplit.cli.main``) gets
the flags its options declare, read, checked and passed like convsplit's own. An error's
remedy is worded as the flag to use, never as library syntax.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from convsplit.budget import Budget
from convsplit.cli import build_parser, main
from convsplit.cli_messages import flags_by_option, in_cli_words
from convsplit.core import truncation, windows
from convsplit.core.layout import Layout
from convsplit.core.truncation import DropOldest, get_truncation, truncation_names
from convsplit.core.windows import (
    LastTurns,
    Request,
    get_window,
    register_window,
    window_names,
    window_options,
)
from convsplit.errors import ConvsplitError, InvalidOptionError, TargetTooLongError
from convsplit.registry import StrategyOption
from tests.test_cli import EXAMPLES, run, write_jsonl


@dataclass(frozen=True)
class Recent:
    """A user's window: the last ``keep`` turns (as ``last-turns``)."""

    keep: int = 3
    name: str = "recent"

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        return LastTurns(self.keep).requests(layout, targets, budget)


KEEP = StrategyOption("keep", "turns kept", minimum=2, default=3)


@pytest.fixture
def registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test are gone after it."""
    for registry in (windows._WINDOWS, truncation._TRUNCATIONS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))


def split(tmp_path: Path, *args: str, name: str = "o.jsonl") -> tuple[int, bytes]:
    out = tmp_path / name
    status = main(["split", str(EXAMPLES), "-o", str(out), "--max-tokens", "1000", *args])
    return status, out.read_bytes() if out.exists() else b""


@pytest.mark.usefixtures("registries")
def test_a_registered_window_gets_its_flags_and_is_built_with_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_window("recent", Recent, options=[KEEP])
    assert split(tmp_path, "--window", "recent", "--keep", "2", name="a") == split(
        tmp_path, "--window", "last-turns", "--turns", "2", name="b"
    )
    # Not given: the declared default, as --help says.
    assert split(tmp_path, "--window", "recent", name="c") == split(
        tmp_path, "--window", "last-turns", "--turns", "3", name="d"
    )
    assert split(tmp_path, "--window", "recent")[1] != split(tmp_path, "--window", "full")[1]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["split", "--help"])
    assert "--keep N              with --window recent: turns kept (default 3)\n" in (
        capsys.readouterr().out
    )


@pytest.mark.usefixtures("registries")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--keep", "2"], "error: --keep goes with --window recent\n", id="other-window"
        ),
        pytest.param(
            ["--window", "recent", "--keep", "1"],
            "error: argument --keep: expected a whole number >= 2; got '1'\n",
            id="minimum",
        ),
        pytest.param(
            ["--window", "recent", "--turns", "2"],
            "error: --turns goes with --window last-turns\n",
            id="builtin-option",
        ),
    ],
)
def test_a_registered_windows_flag_is_checked_like_convsplits_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    register_window("recent", Recent, options=[KEEP])
    status = status_of(["split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl"), *args])
    assert (status, capsys.readouterr().err) == (2, message + "(see 'convsplit split --help')\n")
    assert not (tmp_path / "o.jsonl").exists()


def status_of(argv: list[str]) -> int:
    """``main``'s exit status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code or 0)


@pytest.mark.usefixtures("registries")
def test_an_option_shared_by_two_strategies_goes_with_either(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_window("recent", Recent, options=[KEEP])
    register_window("recent-too", Recent, options=[KEEP])
    assert split(tmp_path, "--window", "recent-too", "--keep", "2")[0] == 0
    capsys.readouterr()
    assert main(["split", str(EXAMPLES), "-o", str(tmp_path / "x"), "--keep", "2"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: --keep goes with --window recent or --window recent-too\n"
    )


@pytest.mark.usefixtures("registries")
def test_a_truncation_strategy_gets_text_and_number_options(tmp_path: Path) -> None:
    built: list[dict[str, Any]] = []

    def labelled(**options: Any) -> DropOldest:
        built.append(options)
        return DropOldest()

    truncation.register_truncation(
        "labelled",
        labelled,
        options=[
            StrategyOption("label", "a label", type=str, metavar="TEXT"),
            StrategyOption("share", "a share", type=float, minimum=0, default=0.5),
        ],
    )
    assert split(tmp_path, "--truncation", "labelled", "--label", "x", "--share", "1e-1")[0] == 0
    assert split(tmp_path, "--truncation", "labelled")[0] == 0
    assert built == [{"label": "x", "share": 0.1}, {"share": 0.5}]


@pytest.mark.usefixtures("registries")
def test_an_option_that_takes_a_convsplit_flag_is_refused_by_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    register_window("mine", Recent, options=[StrategyOption("strict", "clashes")])
    assert status_of(["split", "--help"]) == 1
    assert capsys.readouterr().err == (
        "error: --window mine declares the option 'strict', but --strict is already a "
        "convsplit flag; register it under another name\n"
    )


def test_an_option_name_must_be_a_keyword() -> None:
    with pytest.raises(InvalidOptionError, match="a strategy option's name is a keyword"):
        StrategyOption("carry-tokens", "not a keyword")


def test_declared_defaults_are_the_factories_own() -> None:
    """What --help promises is what the library does without the option."""
    for name in window_names():
        for option in window_options(name):
            assert getattr(get_window(name), option.name) == option.default, (name, option)
    for name in truncation_names():
        for option in truncation.truncation_options(name):
            assert getattr(get_truncation(name), option.name) == option.default, (name, option)


def test_window_options_of_an_unknown_window_list_the_known() -> None:
    with pytest.raises(ConvsplitError, match="unknown window 'nope'; expected one of chunks"):
        window_options("nope")


# -- errors name flags -------------------------------------------------------------------------


@dataclass(frozen=True)
class Hint:
    """The shape an error's ``hints`` take: an option, and the values that would do."""

    option: str
    values: tuple[str, ...] = ()
    mapping: bool = False

    def __str__(self) -> str:  # the library's wording
        if not self.values:
            return f"{self.option}=..."
        pairs = (v.partition("=") for v in self.values)
        shown = [f"{{{k!r}: {v!r}}}" for k, _, v in pairs] if self.mapping else self.values
        return f"{self.option}={' or '.join(shown if self.mapping else map(repr, shown))}"


@pytest.mark.parametrize(
    ("hint", "library", "cli"),
    [
        pytest.param(
            Hint("on_long_target", ("skip", "truncate")),
            "on_long_target='skip' or 'truncate'",
            "--on-long-target skip or truncate",
            id="choice",
        ),
        pytest.param(
            Hint("role_map", ("bot=assistant",), mapping=True),
            "role_map={'bot': 'assistant'}",
            "--role-map bot=assistant",
            id="mapping",
        ),
        pytest.param(
            Hint("role_map", ("<field>=user", "<field>=assistant"), mapping=True),
            "role_map={'<field>': 'user'} or {'<field>': 'assistant'}",
            "--role-map FIELD=user or FIELD=assistant",
            id="placeholder",
        ),
        pytest.param(
            Hint("writer_options", ("multi_target=completion",), mapping=True),
            "writer_options={'multi_target': 'completion'}",
            "--writer-option multi_target=completion",
            id="writer-option",
        ),
        pytest.param(Hint("input_format"), "input_format=...", "--from {", id="any-value"),
        pytest.param(
            Hint("keep_reasoning", ("True",)),
            "keep_reasoning='True'",
            "--keep-reasoning",
            id="switch",
        ),
        pytest.param(
            Hint("no_such_option", ("x",)), "no_such_option='x'", "no_such_option='x'", id="no-flag"
        ),
    ],
)
def test_a_hint_is_worded_as_the_flag_that_sets_its_option(
    hint: Hint, library: str, cli: str
) -> None:
    flags = flags_by_option(build_parser())
    assert str(hint) == library
    assert in_cli_words(f"a problem (use {hint})", [hint], flags).startswith(
        f"a problem (use {cli}"
    )


def test_an_error_carrying_a_hint_is_printed_in_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI side alone: an error from the library with a hint, as the library will raise
    it, comes out worded as the flag (whatever the library's own wording)."""
    hint = Hint("on_long_target", ("skip", "truncate"))
    error = TargetTooLongError(f"conversation c1: too long (use {hint})")
    error.hints = (hint,)  # type: ignore[attr-defined]

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("convsplit.cli_commands.split_files", fail)
    assert main(["split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl")]) == 1
    assert capsys.readouterr().err == (
        "error: conversation c1: too long (use --on-long-target skip or truncate)\n"
    )


def test_a_long_target_error_names_the_flag(tmp_path: Path) -> None:
    done = run("split", str(EXAMPLES), "-o", "-", "--max-tokens", "20", "--on-long-target", "error")
    assert done.returncode == 1
    assert done.stderr.decode().endswith(
        "; max_tokens is 20 (use --on-long-target skip or truncate)\n"
    )


def test_an_unknown_role_names_the_flag(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"messages": [{"role": "bot", "content": "x"}]}\n', encoding="utf-8")
    for args in (["--strict"], []):  # an error, and a reject's reason in the warning
        done = run("split", str(data), "-o", str(tmp_path / "o.jsonl"), *args)
        assert "got 'bot' (map it: --role-map bot=assistant)\n" in done.stderr.decode()


def test_unnamed_pair_fields_name_the_flag(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", [{"asker": "Hi", "agent": "Hello"}])
    done = run("split", str(data), "-o", "-", "--from", "pairs", "--strict")
    assert done.stderr.decode().endswith(
        "(name them with --role-map FIELD=user or FIELD=assistant)\n"
    )
