"""The Dask engine's progress moves within a partition: running tasks send their counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from convsplit import Budget, Report, SplitSpec
from convsplit.integrations import _dask_tasks, split_files_dask
from convsplit.integrations._dask_parts import Partition
from convsplit.integrations._dask_progress import RunningProgress, new_topic
from convsplit.integrations._dask_tasks import PartOutput, PartResult, split_part
from tests.test_integrations_dask import MISSING, corpus_module


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Workers as threads of this process, so a test's setting reaches them."""
    distributed = pytest.importorskip("distributed", reason=MISSING)
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None
    ) as client:
        yield client


def corpus(path: Path, records: int) -> Path:
    lines = corpus_module().lines(seed=3)
    path.write_text("".join(next(lines) for _ in range(records)), encoding="utf-8")
    return path


def test_a_running_task_sends_its_counts_batch_by_batch(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dask_tasks, "PROGRESS_SECONDS", 0.0)  # every batch of 64 records
    source = corpus(tmp_path / "c.jsonl", 300)
    topic = new_topic()
    future = client.submit(
        split_part, Partition(str(source), str(source)), (1, 0), SplitSpec(Budget(2000)),
        PartOutput(str(tmp_path / "part-00000.jsonl"), topic=topic),
    )  # fmt: skip
    result: PartResult = future.result()
    sent = [message for _, message in client.get_events(topic)]
    assert [m["records"] for m in sent] == [64, 128, 192, 256, 300]
    assert {m["part"] for m in sent} == {"part-00000.jsonl"} == {result.part}
    assert sent[-1]["sample_tokens"] == result.report.sample_tokens
    assert sent[-1]["input_bytes"] == result.report.input_bytes


def test_without_a_topic_or_a_worker_nothing_is_sent(tmp_path: Path) -> None:
    source = corpus(tmp_path / "c.jsonl", 70)
    result = split_part(Partition(str(source), str(source)), (1, 0), SplitSpec(Budget(2000)),
                        PartOutput(str(tmp_path / "p.jsonl"), topic="t"))  # fmt: skip
    assert result.report.records == 70  # outside a worker: split as always


def test_the_running_report_adds_finished_and_running_parts() -> None:
    shown: list[Report] = []
    running = RunningProgress(shown.append, None, "t", 0.0)
    running.take([
        {"part": "part-00000.jsonl", "records": 10, "input_bytes": 100, "sample_tokens": 5},
        {"part": "part-00001.jsonl", "records": 3, "input_bytes": 30, "sample_tokens": 1},
        {"part": "part-00000.jsonl", "records": 20, "input_bytes": 200, "sample_tokens": 9},
    ])  # fmt: skip
    assert (running.report().records, running.report().input_bytes) == (23, 230)
    running.part_done(PartResult(Report(records=25, input_bytes=250), part="part-00000.jsonl"))
    running.take([{"part": "part-00000.jsonl", "records": 20}])  # late: the part is done
    assert (shown[-1].records, shown[-1].input_bytes) == (28, 280)


def test_the_run_s_last_progress_is_its_report(client: Any, tmp_path: Path) -> None:
    source = corpus(tmp_path / "c.jsonl", 200)
    seen: list[int] = []
    report = split_files_dask(
        [source], tmp_path / "out", SplitSpec(Budget(2000)), scheduler=client,
        blocksize=8_000, progress=lambda r: seen.append(r.records),
    )  # fmt: skip
    assert seen and seen[-1] == report.records == 200
    assert seen == sorted(seen)
