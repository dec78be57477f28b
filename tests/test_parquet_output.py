"""Parquet output: the same rows as the JSON lines, typed, written in row groups as they come.

Read back with pyarrow itself (``pq.read_table``), never with convsplit."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from convsplit import Budget, InvalidOptionError, SplitSpec, split_files
from convsplit.errors import OutputError
from convsplit.formats.parquet import ParquetLines

pa = pytest.importorskip(
    "pyarrow", reason="needs convsplit[parquet]: pip install 'convsplit[parquet]'"
)
pq = pytest.importorskip("pyarrow.parquet")

EXAMPLES = Path(__file__).parents[1] / "examples" / "conversations.jsonl"


def both(tmp_path: Path, spec: SplitSpec, jobs: int = 1) -> tuple[list[object], object]:
    """The JSON rows and the Parquet table of one split."""
    split_files([EXAMPLES], tmp_path / "s.jsonl", spec)
    split_files([EXAMPLES], tmp_path / "s.parquet", spec, jobs=jobs)
    lines = (tmp_path / "s.jsonl").read_bytes().splitlines()
    return [json.loads(line) for line in lines], pq.read_table(tmp_path / "s.parquet")


@pytest.mark.parametrize(
    ("output_format", "options"),
    [
        pytest.param("tokens", {}, id="tokens"),
        pytest.param("tokens", {"metadata": "columns"}, id="tokens-metadata"),
        pytest.param("text", {}, id="text-spans"),
        pytest.param("text", {"layout": "segments"}, id="text-segments"),
    ],
)
def test_parquet_holds_the_jsonl_rows(
    tmp_path: Path, output_format: str, options: dict[str, str]
) -> None:
    spec = SplitSpec(
        Budget(200), chat_format="plain", output_format=output_format, writer_options=options
    )
    rows, table = both(tmp_path, spec)
    assert rows and table.to_pylist() == rows
    assert table.column_names == list(rows[0])  # type: ignore[call-overload]


def test_token_columns_are_int32_and_int8_lists(tmp_path: Path) -> None:
    spec = SplitSpec(Budget(200), chat_format="plain", output_format="tokens")
    _, table = both(tmp_path, spec)
    assert table.schema.field("input_ids").type == pa.list_(pa.int32())
    assert table.schema.field("assistant_masks").type == pa.list_(pa.int8())


def test_jobs_write_the_same_rows(tmp_path: Path) -> None:
    spec = SplitSpec(Budget(200), chat_format="plain", output_format="tokens")
    rows, table = both(tmp_path, spec, jobs=2)
    assert table.to_pylist() == rows


def test_rows_are_written_in_row_groups_as_they_come() -> None:
    """Lines cut anywhere; a row group once ``row_group_bytes`` of them are buffered, so
    the buffer never holds more than that and one line."""
    lines = [json.dumps({"input_ids": list(range(n)), "assistant_masks": [1] * n}).encode() + b"\n"
             for n in range(1, 300)]  # fmt: skip
    data = b"".join(lines)
    sink = io.BytesIO()
    out = ParquetLines(sink, name="x.parquet", row_group_bytes=2000)
    for start in range(0, len(data), 777):
        out.write(data[start : start + 777])
    out.close()
    sink.seek(0)
    parquet = pq.ParquetFile(sink)
    assert parquet.read().to_pylist() == [json.loads(line) for line in lines]
    groups = [parquet.metadata.row_group(k).num_rows for k in range(parquet.num_row_groups)]
    assert len(groups) > 50
    sizes = iter(map(len, lines))
    for rows in groups:  # each group: the lines up to the first that reaches the limit
        size = sum(next(sizes) for _ in range(rows))
        assert size - 2000 < 2 * 300 * 6


def test_no_samples_is_an_empty_file_pyarrow_reads(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    spec = SplitSpec(chat_format="plain", output_format="tokens")
    split_files([empty], tmp_path / "s.parquet", spec)
    assert pq.read_table(tmp_path / "s.parquet").num_rows == 0


def test_a_cut_last_line_is_an_error() -> None:
    out = ParquetLines(io.BytesIO(), name="x.parquet")
    out.write(b'{"input_ids": [1]')
    with pytest.raises(OutputError, match=r"x\.parquet: the last sample row is cut off"):
        out.close()


def test_conversational_rows_are_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="Parquet output holds text or tokens samples"):
        split_files([EXAMPLES], tmp_path / "s.parquet", SplitSpec(output_format="trl"))
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_parquet_rejects_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "convsplit", "split", str(EXAMPLES), "-o",
         str(tmp_path / "s.parquet"), "--to", "tokens", "--chat-format", "plain",
         "--rejects", str(tmp_path / "bad.parquet")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"error: {tmp_path / 'bad.parquet'}: the rejects file is written as JSON lines"
    )
    assert list(tmp_path.iterdir()) == []
