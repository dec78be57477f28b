"""Faults a long unattended run meets: a dying worker, a full disk. Clear errors, no output."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.test_cli import conversation, run, write_jsonl


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(status.parent.name))
    return found


def test_a_worker_that_dies_fails_the_run_with_a_clear_error(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [conversation(k, 20) for k in range(3000)])
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "convsplit",
            "split",
            str(data),
            "-o",
            str(out),
            "--jobs",
            "2",
            "--max-tokens",
            "512",
        ],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(workers := _children(proc.pid)) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)  # never hangs (and never blocks on a full pipe)
    assert proc.returncode == 1
    assert stderr.decode() == (
        "error: a worker process died (killed or out of memory); no output was written\n"
    )
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_a_write_error_is_reported_and_leaves_no_partial_file(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [conversation(k, 6) for k in range(30)])
    assert data.stat().st_size < 200_000
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "convsplit", "split", str(data), "-o", str(out)],
        capture_output=True,
        preexec_fn=_limit_file_size,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"error: cannot write {out}: File too large; nothing was written\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]


def test_a_missing_output_folder_is_a_clear_error(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [conversation(1, 2)])
    out = tmp_path / "no" / "such" / "folder" / "out.jsonl"
    done = run("split", str(data), "-o", str(out))
    assert (done.returncode, done.stderr.decode()) == (
        1,
        f"error: cannot write {out}: No such file or directory; nothing was written\n",
    )


def test_rerun_after_a_failure_gives_the_same_bytes(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [conversation(k, 5) for k in range(50)])
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert run("split", str(data), "-o", str(first)).returncode == 0
    assert run("split", str(data), "-o", str(second), "--jobs", "2").returncode == 0
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_bytes().splitlines()[0])["messages"][0]["role"] == "system"
