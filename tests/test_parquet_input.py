"""Parquet input: the same records as JSONL give the same bytes out; rejects name file and row.

The Parquet files are made by pyarrow alone (``pyarrow.json.read_json`` of the JSONL file),
never by convsplit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from convsplit import Budget, InvalidConversationError, SplitSpec, split_files
from convsplit.formats import read_records

pa = pytest.importorskip(
    "pyarrow", reason="needs convsplit[parquet]: pip install 'convsplit[parquet]'"
)
pq = pytest.importorskip("pyarrow.parquet")
pj = pytest.importorskip("pyarrow.json")

ROOT = Path(__file__).parents[1]
SHARED = ROOT.parent / "shared" / "data"
JSONL = [
    pytest.param(ROOT / "examples" / "conversations.jsonl", id="examples"),
    pytest.param(SHARED / "openai_cookbook_toy_chat_fine_tuning.jsonl", id="cookbook"),
    pytest.param(SHARED / "llamafactory_reason_tool_use_demo_50.jsonl", id="llamafactory-tools"),
]
SPECS = [
    pytest.param(SplitSpec(Budget(300)), id="openai"),
    pytest.param(SplitSpec(Budget(300), output_format="trl"), id="trl"),
    pytest.param(SplitSpec(Budget(300), output_format="sharegpt"), id="sharegpt"),
    pytest.param(SplitSpec(Budget(300), chat_format="plain", output_format="tokens"), id="tokens"),
]


def as_parquet(source: Path, target: Path, rows_per_group: int = 2) -> Path:
    if not source.is_file():
        pytest.skip(f"{source} not found (the real data folder sits beside the project root)")
    pq.write_table(pj.read_json(source), target, row_group_size=rows_per_group)
    return target


@pytest.mark.parametrize("source", JSONL)
@pytest.mark.parametrize("spec", SPECS)
def test_parquet_records_split_to_the_same_bytes_as_jsonl(
    tmp_path: Path, source: Path, spec: SplitSpec
) -> None:
    parquet = as_parquet(source, tmp_path / "in.parquet")
    assert pq.ParquetFile(parquet).num_row_groups > 1
    a = split_files([source], tmp_path / "a.jsonl", spec)
    b = split_files([parquet], tmp_path / "b.jsonl", spec)
    c = split_files([parquet], tmp_path / "c.jsonl", spec, jobs=2)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "c.jsonl").read_bytes()
    assert (a.records, a.samples, a.rejected) == (b.records, b.samples, b.rejected)
    assert (a.records, a.samples) == (c.records, c.samples)


def test_rejects_keep_the_file_and_row_number(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]},
        {"messages": [{"role": "bot", "content": "Hi"}]},
    ]
    parquet = tmp_path / "chats.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=2)
    report = split_files([parquet], tmp_path / "s.jsonl", SplitSpec(), rejects=tmp_path / "r.jsonl")
    assert (report.records, report.rejected) == (3, 1)
    (reject,) = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert (reject["path"], reject["line"]) == (str(parquet), 3)
    assert json.loads(reject["record"]) == rows[2]
    assert "'bot'" in reject["reason"]


def test_a_row_over_the_size_limit_is_rejected_unread(tmp_path: Path) -> None:
    parquet = tmp_path / "big.parquet"
    rows = [{"prompt": "Hi", "completion": "Hello"}, {"prompt": "x" * 5000, "completion": "y"}]
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    records = list(read_records(parquet, max_record_bytes=1000))
    assert records[0].conversation is not None
    assert records[1].error is not None and records[1].lineno == 2
    assert "larger than 1,000 bytes" in str(records[1].error)


def test_a_file_that_is_not_parquet_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake.parquet"
    fake.write_text('{"messages": []}\n')
    with pytest.raises(InvalidConversationError, match=r"fake\.parquet: cannot read as Parquet"):
        list(read_records(fake))


def test_the_cli_reads_parquet_in_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    as_parquet(ROOT / "examples" / "conversations.jsonl", folder / "chats.parquet")
    done = subprocess.run(
        [sys.executable, "-m", "convsplit", "split", str(folder), "-o", str(tmp_path / "s.jsonl")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "convsplit", "split", str(ROOT / "examples" / "conversations.jsonl"),
         "-o", str(tmp_path / "t.jsonl")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (tmp_path / "s.jsonl").read_bytes() == (tmp_path / "t.jsonl").read_bytes()
