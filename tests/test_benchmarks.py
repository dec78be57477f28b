"""Every benchmark script runs once on a tiny corpus and writes what it promises.

Benchmarks are not timed tests: nothing here asserts a speed. Each script runs as its own
process, as a user would run it, with the temporary folder (where corpora, the vocabulary
cache and outputs go) pointed inside pytest's ``tmp_path``.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import corpus  # noqa: E402 (a script folder, not a package)

HAS_LANGCHAIN = importlib.util.find_spec("langchain_core") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def run_script(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TMPDIR=str(tmp_path), MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def read_csv(path: Path) -> list[dict[str, str]]:
    assert path.is_file(), f"{path} was not written"
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_corpus_is_deterministic_and_has_what_the_issue_lists() -> None:
    first, second, other = io.StringIO(), io.StringIO(), io.StringIO()
    corpus.write(first, 0.3, seed=7)
    corpus.write(second, 0.3, seed=7)
    corpus.write(other, 0.3, seed=8)
    assert first.getvalue() == second.getvalue()
    assert first.getvalue() != other.getvalue()
    records = [json.loads(line) for line in first.getvalue().splitlines()]
    messages = [m for r in records for m in r["messages"]]
    assert all(2 <= len(r["messages"]) <= 200 for r in records)
    assert max(len(r["messages"]) for r in records) > 50  # the long tail is there
    lengths = [len(m["content"]) for m in messages if m.get("content")]
    assert min(lengths) >= 2
    assert max(lengths) <= 4000
    text = "".join(m.get("content") or "" for m in messages)
    assert "```python" in text
    assert any(ord(c) > 0x1F000 for c in text)  # emoji
    assert any("\u0400" <= c <= "\u04ff" for c in text)  # Cyrillic
    calls = {c["id"] for m in messages for c in m.get("tool_calls") or ()}
    answered = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
    assert calls
    assert calls == answered
    systems = [m["content"] for m in messages if m["role"] == "system"]
    assert len(systems) > len(set(systems))  # system prompts repeat across conversations


def test_throughput_runs_every_contender(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = run_script(
        tmp_path,
        "throughput.py",
        "--megabytes",
        "0.2",
        "--windows",
        "1024",
        "--repeat",
        "1",
        "--output-dir",
        str(out),
    )
    rows = read_csv(out / "throughput.csv")
    assert list(rows[0]) == [
        "max_tokens",
        "contender",
        "seconds",
        "cpu_s",
        "mb_per_s",
        "samples",
        "samples_per_s",
        "x_floor",
        "x_time",
        "x_time_tiktoken",
        "output_mb",
    ]
    expected = {
        "floor",
        "floor-tiktoken",
        "convsplit",
        "convsplit-jobs2",
        "convsplit-tiktoken",
        "naive",
    } | ({"langchain"} if HAS_LANGCHAIN else set())
    assert {r["contender"] for r in rows} == expected
    assert all(float(r["seconds"]) > 0 for r in rows)
    assert all(int(r["samples"]) > 0 for r in rows if not r["contender"].startswith("floor"))
    by = {r["contender"]: r for r in rows}
    assert (by["floor"]["max_tokens"], by["floor"]["x_floor"]) == ("1024", "1.0")  # per window
    assert by["floor-tiktoken"]["x_time_tiktoken"] == "1.0"
    for same in ("convsplit-jobs2", "convsplit-tiktoken"):  # same samples, same bytes
        assert (by[same]["samples"], by[same]["output_mb"]) == (
            by["convsplit"]["samples"],
            by["convsplit"]["output_mb"],
        )
    assert "x the floor" in result.stdout
    assert "\n| max_tokens | contender |" in (out / "throughput.md").read_text()
    if not HAS_LANGCHAIN:
        assert "langchain: skipped (pip install langchain-core" in result.stderr


def test_memory_compares_small_and_large_inputs(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = run_script(
        tmp_path,
        "memory.py",
        "--small",
        "0.05",
        "--large",
        "0.2",
        "--windows",
        "1024",
        "--long-messages",
        "2000",
        "--distinct",
        "2",
        "3",
        "--output-dir",
        str(out),
    )
    rows = read_csv(out / "memory.csv")
    assert list(rows[0]) == [
        "max_tokens",
        "input_mb",
        "seconds",
        "mb_per_s",
        "peak_rss_mb",
        "x_small",
    ]
    assert len(rows) == 6  # two corpora, two one-record inputs, two of distinct messages
    assert all(float(r["peak_rss_mb"]) > 0 for r in rows)
    assert "peak RSS at 1024" in result.stdout
    assert "(one record, 500 tool call/result pairs): " in result.stdout
    assert "peak RSS with distinct 1 MB messages, " in result.stdout
    assert not list((tmp_path / "convsplit-bench").glob("corpus-*"))  # generated, then removed


def test_sweep_writes_csv_markdown_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = run_script(
        tmp_path,
        "sweep.py",
        "--megabytes",
        "0.1",
        "--windows",
        "512",
        "4096",
        "--output-dir",
        str(out),
    )
    rows = read_csv(out / "sweep.csv")
    assert list(rows[0]) == [
        "dataset",
        "max_tokens",
        "truncation",
        "conversations",
        "assistant_turns",
        "samples",
        "training_tokens",
        "whole_tokens",
        "amplification",
        "skipped_share",
        "kept_mean",
        "kept_median",
        "seconds",
    ]
    generated = [r for r in rows if r["dataset"].startswith("generated")]
    assert {(r["max_tokens"], r["truncation"]) for r in generated} == {
        (w, t) for w in ("512", "4096") for t in ("drop-oldest", "middle-out", "truncate-content")
    }
    for row in rows:
        assert 0 <= float(row["skipped_share"]) <= 1
        assert 0 <= float(row["kept_median"]) <= 1
        assert 0 <= float(row["kept_mean"]) <= 1
    small, large = (
        next(r for r in generated if r["max_tokens"] == w and r["truncation"] == "drop-oldest")
        for w in ("512", "4096")
    )
    assert float(small["amplification"]) < float(large["amplification"])
    assert (out / "sweep.md").is_file()
    if HAS_MATPLOTLIB:
        assert (out / "sweep.png").read_bytes().startswith(b"\x89PNG")
    else:
        assert "chart: skipped (pip install matplotlib" in result.stderr


def test_stages_names_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "results"
    run_script(tmp_path, "stages.py", "--megabytes", "0.1", "--output-dir", str(out))
    rows = read_csv(out / "stages.csv")
    assert list(rows[0]) == ["stage", "seconds", "share"]
    stages = [r["stage"] for r in rows]
    assert stages[0] == "load vocabulary"
    assert "total (in process)" in stages
    assert "floor's counting: count every message once" in stages
    seconds = {r["stage"]: r["seconds"] for r in rows}
    floor = float(seconds["floor: start, read + parse + count once"])
    required = float(seconds["required beyond the floor: start-up, models, writing"])
    # The bound: both ratios follow from the rows above them, the free one the smaller.
    with_serializing = float(seconds["x floor, splitting free"])
    without = float(seconds["x floor, splitting and serializing free"])
    assert without == pytest.approx((floor + required) / floor, abs=0.01)
    assert without > 1
    assert without <= with_serializing


@pytest.mark.skipif(not HAS_LANGCHAIN, reason="langchain-core is not installed (bench extra)")
def test_langchain_and_naive_write_the_same_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both baselines keep the same history here, so the comparison is like for like."""
    import harness

    monkeypatch.setattr(harness, "SCRATCH", tmp_path / "scratch")
    data = tmp_path / "corpus.jsonl"
    with open(data, "w", encoding="utf-8") as out:
        corpus.write(out, 0.1, seed=3)
    env = harness.child_env(harness.vocabulary_cache())
    counts = {}
    for script in ("naive_split.py", "langchain_trim.py"):
        output = tmp_path / f"{script}.jsonl"
        result = subprocess.run(
            [
                sys.executable,
                str(BENCHMARKS / script),
                str(data),
                "-o",
                str(output),
                "--max-tokens",
                "2048",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        counts[script] = json.loads(result.stdout)
        assert output.stat().st_size > 0
    assert counts["naive_split.py"] == counts["langchain_trim.py"]


def test_windows_times_many_windows_against_one(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = run_script(
        tmp_path, "windows.py", "--megabytes", "0.2", "--windows", "512", "1024",
        "--single", "512", "--repeat", "1", "--output-dir", str(out),
    )  # fmt: skip
    rows = read_csv(out / "windows.csv")
    assert [r["run"] for r in rows] == ["one pass, K windows", "one window"]
    assert float(rows[0]["output_mb"]) > float(rows[1]["output_mb"])
    assert "2 windows in one pass: " in result.stdout
