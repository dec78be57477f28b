"""Fuzzing: arbitrary JSON and arbitrary bytes through the readers and the splitter.

Only convsplit's own errors may escape, and every record comes out read or rejected.
Hypothesis runs here; the coverage-guided atheris harness (fuzz/fuzz_read_split.py) runs
for a bounded time where atheris is installed, and its past crashes are replayed below.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import (
    Budget,
    Chunks,
    ConvsplitError,
    SplitSpec,
    TruncateContent,
    split_conversation,
)
from convsplit.formats import Record, read_records

ROOT = Path(__file__).resolve().parents[1]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)
keys = st.sampled_from(
    ["messages", "conversations", "role", "from", "content", "value", "tool_calls", "tools",
     "prompt", "completion", "instruction", "output", "name", "weight", "function"]
)  # fmt: skip
shaped = st.recursive(
    json_values,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=40,
)


def read_and_split(data: bytes) -> None:
    """Read ``data`` as JSONL and as a sniffed file (a JSON array, objects), and split."""
    for name in ("fuzz.jsonl", "fuzz.json"):
        try:
            records = list(read_records(io.BytesIO(data), name=name))
        except ConvsplitError:
            continue
        _split_each(records)


def _split_each(records: list[Record]) -> None:
    for record in records:
        assert (record.conversation is None) != (record.error is None)
        if record.conversation is not None:
            for window in (None, Chunks(carry_tokens=8)):
                spec = SplitSpec(Budget(48), truncation=TruncateContent())
                split_conversation(
                    record.conversation, spec if window is None else replace(spec, window=window)
                )


@given(st.lists(shaped, max_size=6))
def test_arbitrary_json_records_are_read_or_rejected(values: list[object]) -> None:
    data = b"".join(json.dumps(v).encode() + b"\n" for v in values)
    records = list(read_records(io.BytesIO(data), name="fuzz.jsonl"))
    assert len(records) == len(values)
    read_and_split(data)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    read_and_split(data)


@pytest.mark.parametrize(
    "case", sorted((ROOT / "fuzz" / "regressions").iterdir()), ids=lambda p: p.name
)
def test_past_crashes_stay_fixed(case: Path) -> None:
    read_and_split(case.read_bytes())


def test_atheris_finds_nothing_in_a_bounded_run(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")
    found = tmp_path / "found"  # libFuzzer adds what it finds to the first corpus folder
    found.mkdir()
    done = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "fuzz_read_split.py"), "-max_total_time=20",
         f"-artifact_prefix={tmp_path}/", str(found), str(ROOT / "fuzz" / "corpus")],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
