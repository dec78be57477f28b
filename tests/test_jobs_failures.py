"""``--jobs N`` ends whatever fails: an error in a batch, a full disk, a signal, a dead parent.

Each run is a real process with a real pool, under a timeout: a hang fails the test instead
of the suite. After each, no worker process is left and no temporary file either.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from convsplit import (
    Budget,
    ConvsplitError,
    FullHistory,
    Layout,
    Request,
    SplitSpec,
    WorkerError,
    split_files,
)
from tests.test_faults import _children

TIMEOUT = 60


def _conversation(k: int, *, words: int = 2) -> dict[str, object]:
    return {
        "id": f"c{k}",
        "messages": [
            {"role": "user", "content": f"Question {k}: hello there"},
            {"role": "assistant", "content": " ".join(["word"] * words)},
        ],
    }


@pytest.fixture
def long_target_file(tmp_path: Path) -> Path:
    """2,000 small conversations, one with a 5,000-word target, 2,000 more (the report's)."""
    records = [_conversation(k) for k in range(2000)]
    records.append(_conversation(-1, words=5000))
    records += [_conversation(k) for k in range(3000, 5000)]
    path = tmp_path / "le.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _command(data: Path, out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "convsplit", "split", str(data), "-o", out, *extra]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


def _wait_gone(pids: list[int], seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _start_with_workers(
    command: list[str], **popen: object
) -> tuple[subprocess.Popen[bytes], list[int]]:
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]
    deadline = time.monotonic() + TIMEOUT
    while len(workers := _children(proc.pid)) < 2:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.02)
    return proc, workers


def _only_inputs_left(folder: Path, *names: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


@pytest.mark.parametrize("output", ["file", "gzip", "stdout"])
def test_an_error_in_a_batch_ends_the_run_as_one_job_does(
    long_target_file: Path, tmp_path: Path, output: str
) -> None:
    out = {"file": str(tmp_path / "out.jsonl"), "gzip": str(tmp_path / "out.jsonl.gz")}.get(
        output, "-"
    )
    options = ["--max-tokens", "1024", "--on-long-target", "error"]
    one = subprocess.run(
        _command(long_target_file, out, *options), capture_output=True, timeout=TIMEOUT, check=False
    )
    proc = subprocess.Popen(
        _command(long_target_file, out, *options, "--jobs", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    workers: list[int] = []
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None:
        workers = sorted(set(workers) | set(_children(proc.pid)))
        assert time.monotonic() < deadline, "--jobs 2 hung after an error in a worker"
        time.sleep(0.01)
    stderr = proc.stderr.read() if proc.stderr else b""
    assert (proc.returncode, stderr) == (one.returncode, one.stderr)
    assert one.returncode == 1
    assert b"needs 5017 tokens" in one.stderr
    assert not _wait_gone(workers)
    _only_inputs_left(tmp_path, "le.jsonl")


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


def test_a_full_disk_under_two_jobs_fails_cleanly(long_target_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        _command(long_target_file, str(out), "--max-tokens", "1024", "--jobs", "2"),
        capture_output=True,
        preexec_fn=_limit_file_size,
        timeout=TIMEOUT,
        check=False,
    )
    assert (done.returncode, done.stderr.decode()) == (
        1,
        f"error: cannot write {out}: File too large; nothing was written\n",
    )
    _only_inputs_left(tmp_path, "le.jsonl")


@pytest.mark.parametrize(
    ("send", "status", "message"),
    [
        pytest.param(
            lambda proc: os.killpg(proc.pid, signal.SIGINT),
            130,
            "error: interrupted; no output was written\n",
            id="ctrl-c-to-the-group",
        ),
        pytest.param(
            lambda proc: os.kill(proc.pid, signal.SIGTERM),
            143,
            "error: stopped by SIGTERM; no output was written\n",
            id="sigterm",
        ),
        pytest.param(
            lambda proc: os.kill(proc.pid, signal.SIGHUP),
            129,
            "error: stopped by SIGHUP; no output was written\n",
            id="sighup",
        ),
    ],
)
def test_a_signal_ends_two_jobs_with_nothing_left(
    tmp_path: Path,
    send: Callable[[subprocess.Popen[bytes]], None],
    status: int,
    message: str,
) -> None:
    data = tmp_path / "in.jsonl"
    records = [_conversation(k, words=200) for k in range(40_000)]
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    proc, workers = _start_with_workers(
        _command(data, str(out), "--max-tokens", "512", "--jobs", "2"), start_new_session=True
    )
    time.sleep(0.3)
    send(proc)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, stderr.decode()) == (status, message)
    assert not _wait_gone(workers)
    _only_inputs_left(tmp_path, "in.jsonl")


def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    records = [_conversation(k, words=200) for k in range(40_000)]
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    proc, workers = _start_with_workers(
        _command(data, str(tmp_path / "out.jsonl"), "--max-tokens", "512", "--jobs", "2")
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)  # stderr closes: no worker holds it open
    assert not _wait_gone(workers)


@dataclass(frozen=True)
class _Failing:
    """A window that fails on one conversation, as a bug in a user's strategy would."""

    error: Callable[[str], BaseException] = RuntimeError
    name: str = "failing"

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        if layout.conversation.id == "c777":
            raise self.error("a strategy failed on c777")
        return FullHistory().requests(layout, targets, budget)


def _records(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    records = [_conversation(k) for k in range(1500)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_unexpected_error_in_a_worker_is_raised_as_it_was(tmp_path: Path, jobs: int) -> None:
    options = SplitSpec(budget=Budget(256), window=_Failing())
    before = set(_children(os.getpid()))  # other tests' helpers may live on (a cluster)
    with pytest.raises(RuntimeError, match="a strategy failed on c777"):
        split_files([_records(tmp_path)], tmp_path / "out.jsonl", options, jobs=jobs)
    assert not _wait_gone(sorted(set(_children(os.getpid())) - before))
    _only_inputs_left(tmp_path, "in.jsonl")


class _UnpicklableError(Exception):
    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("this error does not pickle")


def test_an_error_that_cannot_travel_comes_back_as_its_text(tmp_path: Path) -> None:
    options = SplitSpec(budget=Budget(256), window=_Failing(error=_UnpicklableError))
    before = set(_children(os.getpid()))
    with pytest.raises(WorkerError) as caught:
        split_files([_records(tmp_path)], tmp_path / "out.jsonl", options, jobs=2)
    assert str(caught.value) == (
        "a worker process failed: _UnpicklableError: a strategy failed on c777; no output was written"
    )
    assert isinstance(caught.value, ConvsplitError)
    assert not _wait_gone(sorted(set(_children(os.getpid())) - before))
    _only_inputs_left(tmp_path, "in.jsonl")


def _before_main(status: int, stderr: bytes) -> bool:
    """Whether the signal came before convsplit's ``main`` began: the process killed before
    Python set its handler, a failure to start the interpreter, or a KeyboardInterrupt with
    no frame in ``main``."""
    if (status == -signal.SIGINT and not stderr) or b"init_import_site" in stderr:
        return True
    return stderr.endswith(b"KeyboardInterrupt\n") and b", in main\n" not in stderr


@pytest.mark.parametrize("entry", ["script", "module"])
def test_ctrl_c_while_the_command_starts_prints_one_line(tmp_path: Path, entry: str) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps(_conversation(1)) + "\n", encoding="utf-8")
    script = Path(sys.executable).with_name("convsplit")
    command = ([str(script)] if entry == "script" else [sys.executable, "-m", "convsplit"]) + [
        "split",
        str(data),
        "-o",
        str(tmp_path / "out.jsonl"),
        "--jobs",
        "2",
    ]
    if entry == "script" and not script.exists():
        pytest.skip(f"no console script beside {sys.executable}")
    # Until ``convsplit.__main__.main`` holds the signal (the interpreter importing its
    # site module, then the package's first lines) nothing of the program can take charge
    # of it: Python itself reports it. On a loaded machine that can last past 0.1 s, so
    # such a try is started again a little later; the tries that reach convsplit must
    # each end in the one line.
    delay, seen = 0.1, 0
    while seen < 6 and delay < 3:
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=TIMEOUT)
        delay += 0.05
        if _before_main(proc.returncode, stderr):
            continue
        if stderr.startswith(b"conversations:"):
            # Done before the signal came (or it came while Python exited): complete.
            assert proc.returncode in {0, -signal.SIGINT}
            assert (tmp_path / "out.jsonl").stat().st_size > 0
            break
        seen += 1
        assert (proc.returncode, stderr.decode()) == (
            130,
            "error: interrupted; no output was written\n",
        ), f"after {delay - 0.05:.2f} s"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    assert seen, "no Ctrl-C reached convsplit before it finished"
