"""Which files a directory input reads: every name convsplit reads, in any case."""

from __future__ import annotations

import json
from pathlib import Path

from convsplit import Budget, SplitSpec, split_files
from convsplit.run.inputs import expand_inputs

_LINE = json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                 {"role": "assistant", "content": "Hello"}]}) + "\n"  # fmt: skip


def test_a_directory_is_searched_for_every_name_convsplit_reads(tmp_path: Path) -> None:
    names = ["a.jsonl", "b.ndjson", "c.JSONL", "d.Json", "e.ndjson.gz", "f.parquet"]
    for name in [*names, "notes.md", "table.csv", "g.jsonl.partial"]:
        (tmp_path / name).write_text(_LINE, encoding="utf-8")
    assert [Path(p).name for p in expand_inputs([tmp_path])] == names


def test_one_name_given_alone_is_one_input(tmp_path: Path) -> None:
    """Not its letters: ``"/tmp/x.jsonl"`` once walked ``/`` before failing on ``t``."""
    path = tmp_path / "chats.jsonl"
    path.write_text(_LINE, encoding="utf-8")
    assert expand_inputs(str(path)) == expand_inputs(path) == [str(path)]
    report = split_files(str(path), tmp_path / "out.jsonl", SplitSpec(Budget(100)))
    assert report.samples == 1
