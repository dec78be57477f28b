"""README.md tells the truth: its example runs as shown, and every CLI option is in it."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from convsplit.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_example_prints_what_the_readme_shows() -> None:
    blocks = re.findall(r"```python\n(.*?)```\n```text\n(.*?)```", README, flags=re.S)
    assert blocks, "README has no python example followed by its output"
    for code, expected in blocks:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
        assert out.stdout == expected


def _options(parser: argparse.ArgumentParser) -> set[str]:
    found = {o for action in parser._actions for o in action.option_strings if o.startswith("--")}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
    return found - {"--help"}


def test_every_cli_option_is_documented() -> None:
    missing = sorted(o for o in _options(build_parser()) if f"`{o}" not in README)
    assert missing == []


def test_every_command_is_documented_with_an_example() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sub in commands.choices.items():
        assert f"convsplit {name}" in README
        assert "Example:" in (sub.epilog or ""), name


_SHOWN_RUNS = re.findall(r"```text\n\$ (convsplit [^\n]*)\n(.*?)```", README, flags=re.S)


def test_readme_shows_runs() -> None:
    assert len(_SHOWN_RUNS) >= 4, "README shows fewer `$ convsplit` runs than it did"


@pytest.mark.parametrize(("command", "expected"), _SHOWN_RUNS, ids=[c for c, _ in _SHOWN_RUNS])
def test_each_shown_run_prints_what_the_readme_shows(
    tmp_path: Path, command: str, expected: str
) -> None:
    """Each ```text block that starts with ``$ convsplit ...`` is run as it stands, on a
    copy of the examples, and prints exactly the rest of the block (stdout then stderr)."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    args = shlex.split(command)[1:]
    out = subprocess.run(
        [sys.executable, "-m", "convsplit", *args],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={**os.environ, "COLUMNS": "100"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout + out.stderr == expected
