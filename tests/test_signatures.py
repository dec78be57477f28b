"""The project's rule for parameters: at most 5 positional ones (and 8 in all, which ruff's
stable PLR0913 checks with the rest of the lint). ruff has the positional rule, PLR0917,
in preview only; it is run here alone so that no other rule changes with ruff's preview.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def positional_findings(*paths: str | Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("ruff", reason="needs ruff (in the test extra)")
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--preview", "--config",
         "lint.explicit-preview-rules = true", "--select", "PLR0917", "--output-format",
         "concise", "--no-cache", *map(str, paths)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip


def test_no_function_takes_more_than_five_positional_parameters() -> None:
    """Past five, parameters are keyword-only or grouped in an object (a ``# noqa: PLR0917``
    with its reason where a caller must pass them by position)."""
    done = positional_findings("convsplit", "benchmarks", "fuzz")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_check_finds_six_positional_parameters(tmp_path: Path) -> None:
    """The rule still runs (a renamed rule or setting would make the check above vacuous)."""
    module = tmp_path / "many.py"
    module.write_text("def f(a, b, c, d, e, g):\n    return a\n", encoding="utf-8")
    done = positional_findings(module)
    assert done.returncode == 1
    assert "PLR0917" in done.stdout or "too-many-positional-arguments" in done.stdout
