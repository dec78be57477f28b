"""Dask: the split on a real ``LocalCluster`` of two worker processes equals the local one."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from convsplit import (
    Budget,
    InvalidOptionError,
    MissingExtraError,
    OutputError,
    Report,
    SplitSpec,
    split_files,
)
from convsplit.errors import InvalidConversationError, TargetTooLongError, WorkerError
from convsplit.formats import Source
from convsplit.integrations import split_bag, split_files_dask
from convsplit.integrations._dask_parts import (
    Partition,
    auto_blocksize,
    count_part,
    open_records,
    part_starts,
    plan_partitions,
)
from convsplit.integrations._dask_tasks import reraise
from tests.test_cli import EXAMPLES, run

ROOT = Path(__file__).resolve().parents[1]
#: Inline metadata carries each sample's conversation index: it shows that every partition
#: numbered its records as the local pipeline does.
OPTIONS = SplitSpec(budget=Budget(1000), writer_options={"metadata": "inline"})


MISSING = "dask.distributed is not installed: pip install 'convsplit[dask]'"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A real cluster: two worker processes of one thread, as CI runs it."""
    distributed = pytest.importorskip("distributed", reason=MISSING)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def corpus_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus", ROOT / "benchmarks" / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_jsonl(source: Path, target: Path) -> Path:
    with Source.open(source) as opened, target.open("wb") as out:
        for record in opened.records():
            out.write(record.text.replace(b"\n", b" ") + b"\n")
    return target


def local(
    inputs: list[Path], tmp_path: Path, options: SplitSpec = OPTIONS
) -> tuple[bytes, bytes, Report]:
    out, bad = tmp_path / "local.jsonl", tmp_path / "local-rejects.jsonl"
    report = split_files(inputs, out, options, rejects=bad)
    return out.read_bytes(), bad.read_bytes(), report


def parts_of(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def joined(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in parts_of(folder))


def without_time(report: Report) -> dict[str, Any]:
    data = asdict(report)
    data.pop("seconds")
    return data


def assert_adds_up(report: Report) -> None:
    assert report.records == report.conversations + report.rejected
    assert report.assistant_turns == report.targeted + sum(report.skipped.values())


def test_real_files_split_on_the_cluster_as_locally(
    client: Any, shared_data: Path, tmp_path: Path
) -> None:
    """The JSON arrays and JSONL files as they are (whole partitions), and JSONL copies cut
    in blocks of 100 kB."""
    copies = [
        as_jsonl(shared_data / name, tmp_path / f"{name}.jsonl")
        for name in (
            "fastchat_dummy_conversation.json",
            "llamafactory_glaive_toolcall_en_demo.json",
        )
    ]
    inputs = [shared_data, *copies]
    expected, expected_rejects, report = local(inputs, tmp_path)
    progress: list[int] = []

    got = split_files_dask(
        inputs,
        tmp_path / "samples",
        OPTIONS,
        rejects=tmp_path / "rejects.jsonl",
        blocksize=100_000,
        progress=lambda running: progress.append(running.records),
    )

    parts = parts_of(tmp_path / "samples")
    assert len(parts) > 6 + 2  # the six files, and blocks of the larger JSONL ones
    assert [p.name for p in parts][:2] == ["part-00000.jsonl", "part-00001.jsonl"]
    assert joined(tmp_path / "samples") == expected
    assert (tmp_path / "rejects.jsonl").read_bytes() == expected_rejects == b""
    assert without_time(got) == without_time(report)
    assert_adds_up(got)
    # Once per finished part at least, and in between from the running parts' counts.
    assert len(progress) >= len(parts) and progress[-1] == got.records
    assert progress == sorted(progress)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".samples")]  # no temporaries


def test_a_generated_corpus_with_bad_lines_through_a_scheduler_address(
    client: Any, tmp_path: Path
) -> None:
    """Blank lines, CRLF, invalid JSON and bad records, in blocks that cut lines anywhere."""
    corpus = corpus_module()
    lines = corpus.lines(seed=7)
    path = tmp_path / "corpus.jsonl"
    with path.open("w", encoding="utf-8", newline="") as out:
        for k in range(120):
            out.write(next(lines).replace("\n", "\r\n") if k % 7 == 0 else next(lines))
            if k % 25 == 3:
                out.write("\n   \n")
            if k % 40 == 5:
                out.write('{"messages": [{"role": "bot", "content": "hi"}]}\n{"messages": [\n')
    gz = tmp_path / "more.jsonl.gz"
    gz.write_bytes(gzip.compress(b"".join(next(lines).encode() for _ in range(10)), mtime=0))
    inputs = [path, gz]
    options = SplitSpec(budget=Budget(2000), writer_options={"metadata": "inline"})
    expected, expected_rejects, report = local(inputs, tmp_path, options)

    got = split_files_dask(
        inputs,
        tmp_path / "samples",
        options,
        scheduler=client.scheduler.address,
        rejects=tmp_path / "rejects.jsonl",
        blocksize=50_000,
    )

    assert len(parts_of(tmp_path / "samples")) > 10
    assert joined(tmp_path / "samples") == expected
    assert (tmp_path / "rejects.jsonl").read_bytes() == expected_rejects
    assert [json.loads(r)["line"] for r in expected_rejects.splitlines()][:2] == [9, 10]
    assert without_time(got) == without_time(report)
    assert got.rejected == 6
    assert_adds_up(got)


def test_strict_stops_at_the_first_bad_record_and_writes_nothing(
    client: Any, tmp_path: Path
) -> None:
    good = '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}\n'
    path = tmp_path / "data.jsonl"
    path.write_text(good * 30 + '{"messages": [{"role": "bot"}]}\n' + good * 30 + "[1]\n")
    with pytest.raises(InvalidConversationError) as expected:
        split_files([path], tmp_path / "local.jsonl", OPTIONS, strict=True)

    with pytest.raises(InvalidConversationError) as caught:
        split_files_dask([path], tmp_path / "samples", OPTIONS, strict=True, blocksize=500)

    assert str(caught.value) == str(expected.value)
    assert str(caught.value).startswith(f"{path} line 31: message 0: field 'role'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl"]


def test_a_cut_off_file_is_split_and_rejected_as_locally(client: Any, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"messages": [{"role": "user", "content": "Hi"}, '
                    '{"role": "assistant", "content": "Hello"}]}\n')  # fmt: skip
    cut = tmp_path / "cut.json"
    cut.write_text(f'[\n  {good.read_text().strip()},\n  {{"messages": [\n')
    expected, expected_rejects, report = local([good, cut], tmp_path)
    got = split_files_dask([good, cut], tmp_path / "samples", OPTIONS,
                           rejects=tmp_path / "rejects.jsonl")  # fmt: skip
    assert joined(tmp_path / "samples") == expected
    assert (tmp_path / "rejects.jsonl").read_bytes() == expected_rejects
    assert b"the JSON array is cut off" in expected_rejects
    assert (report.conversations, report.rejected) == (2, 1)
    assert without_time(got) == without_time(report)


def test_an_error_on_a_worker_reaches_the_caller(client: Any, tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    long = "word " * 400
    path.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": long},
                ]
            }
        )
        + "\n"
    )
    options = SplitSpec(budget=Budget(100), on_long_target="error")
    with pytest.raises(TargetTooLongError):
        split_files_dask([path], tmp_path / "samples", options)
    assert not (tmp_path / "samples").exists()


class UnpicklableError(Exception):
    """An error that cannot travel from a worker to the client."""

    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def test_an_error_that_cannot_travel_becomes_a_worker_error() -> None:
    with pytest.raises(WorkerError, match="on a Dask worker: UnpicklableError: holds a lock"):
        reraise(UnpicklableError())
    with pytest.raises(TargetTooLongError, match="too long"):
        reraise(TargetTooLongError("too long"))


def test_the_output_folder_is_replaced_only_when_it_holds_part_files(
    client: Any, tmp_path: Path
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}\n'
    )
    samples = tmp_path / "samples"
    samples.mkdir()
    for k in range(3):  # a previous run with more parts
        (samples / f"part-{k:05d}.jsonl").write_text("old\n")
    split_files_dask([path], samples, OPTIONS)
    assert [p.name for p in parts_of(samples)] == ["part-00000.jsonl"]
    assert b"old" not in joined(samples)

    (samples / "notes.txt").write_text("mine")
    with pytest.raises(
        OutputError, match=r"holds other files than part-NNNNN.jsonl or .parquet \(notes.txt\)"
    ):
        split_files_dask([path], samples, OPTIONS)
    with pytest.raises(OutputError, match="it exists and is not a folder"):
        split_files_dask([path], path, OPTIONS)
    with pytest.raises(OutputError, match="no folder"):
        split_files_dask([path], tmp_path / "missing" / "samples", OPTIONS)
    with pytest.raises(OutputError, match="not standard output: name a folder"):
        split_files_dask([path], "-", OPTIONS)
    with pytest.raises(InvalidConversationError, match="cannot read standard input"):
        split_files_dask(["-"], tmp_path / "out", OPTIONS)
    assert (samples / "notes.txt").read_text() == "mine"


def test_a_folder_named_parquet_holds_parquet_parts_of_the_local_rows(
    client: Any, tmp_path: Path
) -> None:
    """Each part is written by the local run's Parquet writer: the parts' rows, in order,
    are the rows of the local run's one Parquet file and of its JSON lines."""
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
    lines = corpus_module().lines(seed=3)
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(next(lines) for _ in range(60)), encoding="utf-8")
    spec = SplitSpec(budget=Budget(1500), output_format="tokens", chat_format="plain")
    split_files([path], tmp_path / "local.parquet", spec)
    split_files([path], tmp_path / "local.jsonl", spec)

    split_files_dask([path], tmp_path / "samples.parquet", spec, blocksize=30_000)

    parts = parts_of(tmp_path / "samples.parquet")
    assert len(parts) > 2
    assert [p.name for p in parts][:2] == ["part-00000.parquet", "part-00001.parquet"]
    rows = [row for part in parts for row in pq.read_table(part).to_pylist()]
    assert rows == pq.read_table(tmp_path / "local.parquet").to_pylist()
    assert rows == [
        json.loads(line) for line in (tmp_path / "local.jsonl").read_text().splitlines()
    ]
    assert len(rows) > 60


def test_a_parquet_folder_for_rows_parquet_cannot_hold_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason=MISSING)
    path = tmp_path / "data.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "Hi"}]}\n')
    with pytest.raises(InvalidOptionError, match="Parquet output holds text or tokens samples"):
        split_files_dask([path], tmp_path / "samples.parquet", OPTIONS)
    assert not (tmp_path / "samples.parquet").exists()


def test_a_bag_of_lines_or_of_records_splits_as_the_files_do(client: Any, tmp_path: Path) -> None:
    dask = pytest.importorskip("dask", reason=MISSING)
    bag = pytest.importorskip("dask.bag", reason=MISSING)
    corpus = corpus_module()
    lines = corpus.lines(seed=3)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("".join(next(lines) for _ in range(30)) + "\n" + '{"messages": 1}\n')
    second.write_text("".join(next(lines) for _ in range(30)))
    expected, expected_rejects, report = local([first, second], tmp_path)

    text = bag.read_text([str(first), str(second)], blocksize=40_000)
    assert text.npartitions > 4
    split = split_bag(text, OPTIONS, name=str(first))
    got_lines, got_rejects, got_report = dask.compute(split.lines, split.rejects, split.report)

    assert "\n".join(got_lines) + "\n" == expected.decode()
    assert got_rejects == [json.loads(line) for line in expected_rejects.splitlines()]
    assert got_rejects[0]["line"] == 32  # the item's position in the bag: here, its line
    assert {**without_time(got_report), "files": report.files} == without_time(report)
    assert_adds_up(got_report)

    records = [json.loads(line) for line in first.read_text().splitlines() if line.strip()]
    parsed = split_bag(bag.from_sequence(records, npartitions=3), OPTIONS)
    only_first, _, _ = local([first], tmp_path)
    assert "\n".join(parsed.lines.compute()) + "\n" == only_first.decode()


def test_to_textfiles_writes_the_samples_and_a_blank_line_per_empty_partition(
    client: Any, tmp_path: Path
) -> None:
    pytest.importorskip("dask", reason=MISSING)
    bag = pytest.importorskip("dask.bag", reason=MISSING)
    corpus = corpus_module()
    path = tmp_path / "a.jsonl"
    lines = corpus.lines(seed=5)
    path.write_text("".join(next(lines) for _ in range(20)))
    expected, _, _ = local([path], tmp_path)

    split = split_bag(bag.read_text(str(path), blocksize=30_000), OPTIONS)
    split.lines.to_textfiles(
        str(tmp_path / "out" / "*.jsonl"),
        name_function=lambda k: f"{k:05d}",
        encoding="utf-8",
        last_endline=True,
    )

    # Dask ends every partition with a newline: one without samples leaves a blank line.
    written = joined(tmp_path / "out")
    assert written.count(b"\n\n") > 0
    assert [line for line in written.split(b"\n") if line] == expected.splitlines()


def test_without_a_scheduler_a_local_cluster_is_started(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason=MISSING)
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}\n'
        * 3
    )
    code = textwrap.dedent(
        f"""
        from convsplit import Budget
        from convsplit import SplitSpec
        from convsplit.integrations import split_files_dask
        if __name__ == "__main__":
            report = split_files_dask([{str(path)!r}], {str(tmp_path / "samples")!r},
                                      SplitSpec(budget=Budget(100)), n_workers=1)
            print(report.samples)
        """
    )
    script = tmp_path / "run.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
    assert joined(tmp_path / "samples").count(b"\n") == 3


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_command_line_starts_a_cluster_of_jobs_workers(tmp_path: Path, jobs: int) -> None:
    """``--engine dask --jobs N`` starts N workers (``--jobs 1`` started one per core, as
    no ``--jobs`` does): seen in the parts, since ``auto`` blocks give each worker thread
    about four."""
    pytest.importorskip("distributed", reason=MISSING)
    path = tmp_path / "data.jsonl"
    line = EXAMPLES.read_bytes().splitlines(keepends=True)[0]
    path.write_bytes(line * (6 * 2**20 // len(line) + 1))  # 6 MiB: 4 blocks for one thread
    size = path.stat().st_size
    parts = [len(plan_partitions([str(path)], blocksize=auto_blocksize(size, n))) for n in (1, 2)]
    assert parts[0] != parts[1]  # the part count tells one worker from two
    flags = ["--engine", "dask", "--jobs", str(jobs)]
    result = run("split", str(path), "-o", str(tmp_path / "out"), *flags)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out").glob("part-*.jsonl"))) == parts[jobs - 1]


# -- partitions, without a cluster ------------------------------------------------------------


def block_reading(path: Path, blocksize: int) -> list[tuple[int, bytes, object, str | None]]:
    """Every record of ``path`` read block by block, as the tasks read them."""
    parts = plan_partitions([str(path)], blocksize=blocksize)
    counts = [count_part(part, None) for part in parts]
    out = []
    for part, (first_line, _) in zip(
        parts, part_starts([p.path for p in parts], counts), strict=True
    ):
        assert part.end is not None
        with open_records(part, first_line, None) as records:
            out.extend((r.lineno, r.text, r.value, r.error) for r in records)
    return out


def test_blocks_of_every_size_read_each_record_once_on_its_line(tmp_path: Path) -> None:
    data = (
        b'\xef\xbb\xbf{"a": 1}\r\n'
        b"\n"
        b'  {"b": [1, 2]}\n'
        b"[1]\n"
        b"{broken\n"
        b"   \n"
        b'{"c": "\xc3\xa9\\n"}\r\n'
        b'{"d": 123456789012345678901}'
    )
    path = tmp_path / "data.jsonl"
    path.write_bytes(data)
    with Source.open(path) as source:
        expected = [(r.lineno, r.text, r.value, r.error) for r in source.records()]
    assert [e[0] for e in expected] == [1, 3, 4, 5, 7, 8]
    for blocksize in range(1, len(data)):
        assert block_reading(path, blocksize) == expected, blocksize


def test_only_plain_jsonl_is_cut(tmp_path: Path) -> None:
    array = tmp_path / "array.json"
    array.write_text("[" + ",".join(['{"messages": []}'] * 50) + "]")
    pretty = tmp_path / "pretty.json"
    pretty.write_text('{\n  "messages": []\n}\n' * 20)
    zipped = tmp_path / "data.jsonl.gz"
    zipped.write_bytes(gzip.compress(b'{"messages": []}\n' * 50))
    plain = tmp_path / "data.jsonl"
    plain.write_text('{"messages": []}\n' * 50)
    parts = plan_partitions([str(p) for p in (array, pretty, zipped, plain)], blocksize=100)
    assert [(Path(p.path).name, p.end is None) for p in parts][:4] == [
        ("array.json", True),
        ("pretty.json", True),
        ("data.jsonl.gz", True),
        ("data.jsonl", False),
    ]
    assert len(parts) == 3 + 9
    assert plan_partitions([str(plain)], blocksize=None) == [Partition(str(plain), str(plain))]


def test_a_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(MissingExtraError) as caught:
        split_files_dask([tmp_path], tmp_path / "out", OPTIONS)
    assert str(caught.value) == (
        "distributed is not installed (the Dask engine needs it); run: pip install 'convsplit[dask]'"
    )
    with pytest.raises(MissingExtraError, match=r"pip install 'convsplit\[dask\]'"):
        split_bag(None, OPTIONS)
