"""A conversation with no assistant turn is read, but nothing of it can be trained: the
run says how many there were, in its summary and its report, instead of passing them by."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from convsplit import Budget, SplitSpec, split_files

_RECORDS = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
    {"messages": []},
    {"messages": [{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "only a question"}]},
    {"messages": [{"role": "assistant", "content": "a greeting, before any user"}]},
]  # fmt: skip


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _RECORDS), encoding="utf-8")
    return path


@pytest.mark.parametrize("jobs", [1, 2])
def test_conversations_without_an_assistant_turn_are_counted(tmp_path: Path, jobs: int) -> None:
    report = split_files([_data(tmp_path)], tmp_path / "out.jsonl", SplitSpec(Budget(100)),
                         jobs=jobs)  # fmt: skip
    # The last one has an assistant turn (skipped: no user before it); the two before, none.
    assert (report.conversations, report.without_turns, report.assistant_turns) == (4, 2, 2)
    assert report.as_dict()["without_turns"] == 2


def test_the_summary_says_how_many_hold_no_assistant_turn(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "convsplit", "split", str(_data(tmp_path)),
         "-o", str(tmp_path / "out.jsonl"), "--max-tokens", "100"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines()[:3] == [
        "conversations: 4 of 4 records (0 rejected)",
        "  2 of them hold no assistant turn: nothing to train (convsplit validate lists them)",
        "assistant turns: 2 (1 trained, 1 skipped: 1 no_user_before)",
    ]
