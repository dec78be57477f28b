"""Several windows in one pass (``split_windows``, ``split -o 'out-{max_tokens}.jsonl'``):
each window's file is the bytes its own run writes, the files appear together or not at
all, and a bad record is rejected once."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from convsplit import Budget, SplitSpec
from convsplit.errors import InvalidConversationError, InvalidOptionError, OutputError
from convsplit.run.pipeline import split_files, split_windows
from convsplit.run.records import RecordSplitter
from tests.reference import count_row

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = [96, 512, 4096]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmarks' generated corpus (tools, long messages, many languages), small, plus
    one line that is not JSON."""
    path = tmp_path_factory.mktemp("corpus") / "chats.jsonl"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "corpus.py"), "--megabytes", "0.15",
         "-o", str(path)],
        check=True,
    )  # fmt: skip
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines[:3], b"{not json\n", *lines[3:]]))
    return path


def _single(corpus: Path, folder: Path, budget: int, spec: SplitSpec, suffix: str) -> bytes:
    out = folder / f"single-{budget}{suffix}"
    split_files([corpus], out, spec.with_budget(Budget(budget)), rejects=folder / "r.jsonl")
    return out.read_bytes()


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize(
    ("output_format", "suffix"), [("openai", ".jsonl"), ("sharegpt", ".jsonl.gz")]
)
def test_each_window_is_its_own_run(
    corpus: Path, tmp_path: Path, jobs: int, output_format: str, suffix: str
) -> None:
    spec = SplitSpec(output_format=output_format)
    reports = split_windows(
        [corpus], tmp_path / f"w-{{max_tokens}}{suffix}", spec, WINDOWS,
        rejects=tmp_path / "rejects.jsonl", jobs=jobs,
    )  # fmt: skip
    assert list(reports) == WINDOWS
    for n in WINDOWS:
        written = (tmp_path / f"w-{n}{suffix}").read_bytes()
        assert written == _single(corpus, tmp_path, n, spec, suffix), n
        lines = (gzip.decompress(written) if suffix.endswith(".gz") else written).splitlines()
        assert len(lines) == reports[n].samples > 0
    assert reports[96].samples < reports[4096].samples  # the windows differ
    rejects = (tmp_path / "rejects.jsonl").read_bytes().splitlines()
    assert len(rejects) == 1  # once, not once per window
    assert json.loads(rejects[0])["record"] == "{not json"
    assert all(r.rejected == 1 and r.records == reports[96].records for r in reports.values())


def test_samples_fit_their_window_counted_independently(corpus: Path, tmp_path: Path) -> None:
    split_windows([corpus], tmp_path / "w-{max_tokens}.jsonl", SplitSpec(), [512, 2048])
    for n in (512, 2048):
        rows = [json.loads(line) for line in (tmp_path / f"w-{n}.jsonl").read_text().splitlines()]
        counts = [
            count_row(r, "openai", encoding_name="o200k_base", format_name="openai") for r in rows
        ]
        assert counts and max(counts) <= n


def test_files_appear_together_or_not_at_all(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "d512").mkdir()  # d4096 is missing: its file cannot be created
    with pytest.raises(OutputError, match="d4096"):
        split_windows([corpus], tmp_path / "d{max_tokens}" / "s.jsonl", SplitSpec(), [512, 4096])
    assert list((tmp_path / "d512").iterdir()) == []
    # A failure during the run (a bad record under strict) leaves none of them either.
    with pytest.raises(InvalidConversationError):
        split_windows([corpus], tmp_path / "w{max_tokens}.jsonl", SplitSpec(), [512, 4096],
                      strict=True)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d512"]


def test_output_name_must_hold_the_window(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match=re.escape("{max_tokens}")):
        split_windows([], tmp_path / "out.jsonl", SplitSpec(), [512, 1024])
    with pytest.raises(InvalidOptionError, match="twice"):
        split_windows([], tmp_path / "o{max_tokens}", SplitSpec(), [512, Budget(512)])


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convsplit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_command_line(corpus: Path, tmp_path: Path) -> None:
    done = _cli("split", str(corpus), "-o", "s.jsonl", "--max-tokens", "512",
                "--max-tokens", "1024", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "{max_tokens}" in done.stderr
    done = _cli("split", str(corpus), "-o", "s-{max_tokens}.jsonl", "--max-tokens", "512",
                "--max-tokens", "1024", "--jobs", "2", "--report", "r.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 3, done.stderr  # the line that is not JSON
    assert "--max-tokens 512:" in done.stderr and "--max-tokens 1024:" in done.stderr
    report = json.loads((tmp_path / "r.json").read_text())["windows"]
    for n in (512, 1024):
        lines = (tmp_path / f"s-{n}.jsonl").read_bytes().splitlines()
        assert report[str(n)]["samples"] == len(lines)
    done = _cli("split", str(corpus), "-o", "one-{max_tokens}.jsonl", cwd=tmp_path)
    assert done.returncode == 3 and (tmp_path / "one-4096.jsonl").exists()


def test_a_writer_of_ones_own_goes_with_one_budget() -> None:
    """``writer=`` replaces the spec's one writer; several budgets have a writer each."""
    spec = SplitSpec(Budget(200))
    assert RecordSplitter(spec, writer=spec.writer()).budgets == [Budget(200)]
    with pytest.raises(InvalidOptionError, match="writer= is for one budget"):
        RecordSplitter(spec, [Budget(100), Budget(200)], writer=spec.writer())
