"""The Dask engine never destroys data and never hangs: outputs that overlap inputs are
refused before any work, a killed run's leftovers are not read back, a scheduler without
workers fails in bounded time, and an interrupted run stops quietly leaving nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from convsplit import Budget, OutputError, SplitSpec
from convsplit.integrations import split_files_dask
from convsplit.run.output import is_temporary

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = SplitSpec(budget=Budget(1000))
LINE = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
MISSING = "dask.distributed is not installed: pip install 'convsplit[dask]'"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A real cluster of one worker process (the machine is small)."""
    distributed = pytest.importorskip("distributed", reason=MISSING)
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},  # 8787 may be taken
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def conversations(path: Path, count: int = 5) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((json.dumps(LINE) + "\n") * count)
    return path


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def convsplit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convsplit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=120,
        check=False,
    )


# -- refused before any work -------------------------------------------------------------------


def test_an_output_folder_holding_an_input_is_refused_before_any_work(tmp_path: Path) -> None:
    """``convsplit split prev/ -o prev/ --engine dask`` once replaced its input with samples."""
    conversations(tmp_path / "prev" / "part-00000.jsonl")
    conversations(tmp_path / "data" / "a.jsonl")
    conversations(tmp_path / "data" / "samples" / "part-00000.jsonl")  # a previous run's
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.jsonl")}
    for inputs, output, found in (
        ("prev/", "prev/", "prev/part-00000.jsonl"),
        ("prev", str(tmp_path / "prev"), "prev/part-00000.jsonl"),
        ("data", "data/samples", "data/samples/part-00000.jsonl"),
    ):
        done = convsplit("split", inputs, "-o", output, "--engine", "dask", cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.endswith(
            f"{output} holds an input file, {found}, and the run replaces what the folder "
            "holds; write to another folder; nothing was written\n"
        ), done.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.jsonl")} == before
    assert not [p for p in tmp_path.rglob("*") if is_temporary(p.name)]


def test_rejects_inside_the_output_folder_is_refused_leaving_nothing(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason=MISSING)
    data = conversations(tmp_path / "data.jsonl")
    samples = tmp_path / "samples"
    with pytest.raises(
        OutputError,
        match=rf"^rejects {samples}/rejects.jsonl is inside output folder {samples}, whose "
        "content the run replaces; write rejects outside it; nothing was written$",
    ):
        split_files_dask([data], samples, OPTIONS, rejects=samples / "rejects.jsonl")
    assert listing(tmp_path) == ["data.jsonl"]

    samples.mkdir()  # a previous run's parts: kept as they are
    conversations(samples / "part-00000.jsonl")
    with pytest.raises(OutputError, match="is inside output folder"):
        split_files_dask([data], samples, OPTIONS, rejects=samples / "rejects.jsonl")
    assert listing(tmp_path) == ["data.jsonl", "samples", "samples/part-00000.jsonl"]


# -- on a real cluster -------------------------------------------------------------------------


def test_a_killed_runs_leftovers_are_never_read_back(client: Any, tmp_path: Path) -> None:
    """A run killed with SIGKILL leaves its ``.partial`` folder beside the output; the next
    run over the same folder must read the inputs only."""
    data = tmp_path / "data"
    conversations(data / "a.jsonl", 3)
    conversations(data / ".samples.k2x9a0qe.partial" / "part-00000.jsonl", 50)
    conversations(data / ".samples.k2x9a0qe.partial" / ".rejects-part-00000.jsonl", 50)
    report = split_files_dask([data], data / "samples", OPTIONS)
    assert (report.files, report.records) == ([str(data / "a.jsonl")], 3)
    assert (data / "samples" / "part-00000.jsonl").read_bytes().count(b"\n") == 3


def test_a_folder_named_with_255_bytes_is_written_and_replaced(client: Any, tmp_path: Path) -> None:
    data = conversations(tmp_path / "data.jsonl")
    samples = tmp_path / ("s" * 255)
    for _ in range(2):  # made, then replaced
        split_files_dask([data], samples, OPTIONS, rejects=tmp_path / ("r" * 249 + ".jsonl"))
        assert (samples / "part-00000.jsonl").read_bytes().count(b"\n") == 5
        assert listing(tmp_path) == sorted(
            ["data.jsonl", samples.name, f"{samples.name}/part-00000.jsonl", "r" * 249 + ".jsonl"]
        )


def test_a_scheduler_without_workers_fails_in_bounded_time(tmp_path: Path) -> None:
    """Every worker gone (here: none ever came): a clear error, not a wait for ever."""
    distributed = pytest.importorskip("distributed", reason=MISSING)
    conversations(tmp_path / "a.jsonl")
    conversations(tmp_path / "b.jsonl")
    with distributed.LocalCluster(
        n_workers=0,
        protocol="tcp",  # reachable from another process
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},
    ) as cluster:
        address = cluster.scheduler_address
        done = subprocess.run(
            [sys.executable, "-m", "convsplit", "split", "a.jsonl", "b.jsonl", "-o", "samples",
             "--engine", "dask", "--scheduler", address],
            capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
            env={**ENV, "DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT": "1s"},
        )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        1,
        f"error: no Dask worker has been connected to the scheduler at {address} for 1 s "
        "(all gone, or none started), with 2 of 2 tasks not done; no output was written "
        "(start workers, or set DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT to wait "
        "longer)\n",
    )
    assert listing(tmp_path) == ["a.jsonl", "b.jsonl"]


# -- interrupted -------------------------------------------------------------------------------


def slow_inputs(folder: Path) -> list[Path]:
    """Inputs that keep two workers busy for several seconds, in many partitions."""
    messages = []
    for k in range(30):
        messages += [
            {"role": "user", "content": f"question {k} " * 20},
            {"role": "assistant", "content": f"answer {k} " * 20},
        ]
    line = json.dumps({"messages": messages}) + "\n"
    paths = []
    for k in range(12):
        path = folder / "data" / f"{k:02d}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line * 150)
        paths.append(path)
    return paths


def interrupt_once_splitting(process: subprocess.Popen[str], folder: Path, number: int) -> None:
    """Send ``number`` once the run has written its first part (not before: the run must be
    under way), to the whole process group as a terminal's Ctrl-C does."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        temporaries = [p for p in folder.iterdir() if is_temporary(p.name)]
        if temporaries and any(temporaries[0].iterdir()):
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be interrupted"
    os.killpg(process.pid, number)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs process groups (POSIX)")
def test_ctrl_c_prints_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason=MISSING)
    slow_inputs(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "convsplit", "split", "data", "-o", "samples", "--engine", "dask",
         "--jobs", "2", "--max-tokens", "4096"],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        interrupt_once_splitting(process, tmp_path, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert (process.returncode, stderr, stdout) == (
        130,
        "error: interrupted; no output was written\n",
        "",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs process groups (POSIX)")
def test_sigterm_turned_into_an_interrupt_leaves_nothing(tmp_path: Path) -> None:
    """As the command line turns SIGTERM into the interrupt's path: the temporary folder
    goes, whatever exception ends the run."""
    pytest.importorskip("distributed", reason=MISSING)
    slow_inputs(tmp_path)
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            """
            import signal, sys
            from convsplit import Budget
            from convsplit.integrations import split_files_dask
            from convsplit import SplitSpec

            def stop(number, frame):
                raise KeyboardInterrupt

            if __name__ == "__main__":
                signal.signal(signal.SIGTERM, stop)
                try:
                    split_files_dask(["data"], "samples", SplitSpec(budget=Budget(4096)),
                                     n_workers=2)
                except KeyboardInterrupt:
                    sys.exit(143)
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        interrupt_once_splitting(process, tmp_path, signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run.py"]
