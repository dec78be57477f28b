"""Which files a directory input reads: every name convsplit reads, in any case."""

from __future__ import annotations

import json
from pathlib import Path

from convsplit.run.inputs import expand_inputs

_LINE = json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                 {"role": "assistant", "content": "Hello"}]}) + "\n"  # fmt: skip


def test_a_directory_is_searched_for_every_name_convsplit_reads(tmp_path: Path) -> None:
    names = ["a.jsonl", "b.ndjson", "c.JSONL", "d.Json", "e.ndjson.gz", "f.parquet"]
    for name in [*names, "notes.md", "table.csv", "g.jsonl.partial"]:
        (tmp_path / name).write_text(_LINE, encoding="utf-8")
    assert [Path(p).name for p in expand_inputs([tmp_path])] == names
