"""Dask inputs named by URL, read by the workers through ``dask.bytes.read_bytes`` (fsspec).

fsspec's ``memory://`` filesystem is a real fsspec implementation that needs no network;
it lives in one process, so the cluster here runs its workers as threads of this one.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from convsplit import Budget, SplitSpec, split_files
from convsplit.errors import InvalidConversationError
from convsplit.integrations import split_files_dask
from tests.test_cli import EXAMPLES, run
from tests.test_integrations_dask import MISSING, corpus_module


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed", reason=MISSING)
    with distributed.Client(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as client:
        yield client


@pytest.fixture
def store() -> Iterator[tuple[Any, str]]:
    fsspec = pytest.importorskip("fsspec", reason=MISSING)
    fs = fsspec.filesystem("memory")
    root = f"/convsplit-{uuid.uuid4().hex}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def corpus_bytes() -> tuple[bytes, bytes, bytes]:
    """JSONL with CRLF, blank lines, invalid JSON and bad records; gzip; a JSON array."""
    lines = corpus_module().lines(seed=11)
    text = ""
    for k in range(90):
        text += next(lines).replace("\n", "\r\n") if k % 7 == 0 else next(lines)
        if k % 25 == 3:
            text += "\n   \n"
        if k % 40 == 5:
            text += '{"messages": [{"role": "bot", "content": "hi"}]}\n{"messages": [\n'
    packed = gzip.compress(b"".join(next(lines).encode() for _ in range(10)), mtime=0)
    array = "[\n" + ",\n".join(next(lines).strip() for _ in range(5)) + "\n]\n"
    return text.encode(), packed, array.encode()


def without_files(report: Any) -> dict[str, Any]:
    data = asdict(report)
    for key in ("seconds", "files"):
        data.pop(key)
    data["first_rejects"] = [(r["line"], r["reason"]) for r in data["first_rejects"]]
    return data


def test_a_folder_url_splits_as_the_same_files_do_locally(
    client: Any, store: tuple[Any, str], tmp_path: Path
) -> None:
    fs, root = store
    names = ("a.jsonl", "b.jsonl.gz", "c.json")
    local_folder = tmp_path / "in"
    local_folder.mkdir()
    for name, data in zip(names, corpus_bytes(), strict=True):
        fs.pipe(f"{root}/{name}", data)
        (local_folder / name).write_bytes(data)
    spec = SplitSpec(budget=Budget(2000), writer_options={"metadata": "inline"})
    expected = split_files([local_folder], tmp_path / "local.jsonl", spec,
                           rejects=tmp_path / "local-rejects.jsonl")  # fmt: skip

    got = split_files_dask(
        [f"memory://{root}/"],
        tmp_path / "samples",
        spec,
        scheduler=client,
        rejects=tmp_path / "rejects.jsonl",
        blocksize=20_000,
    )

    parts = sorted((tmp_path / "samples").iterdir())
    assert len(parts) > 4  # the JSONL file was cut in blocks
    assert b"".join(p.read_bytes() for p in parts) == (tmp_path / "local.jsonl").read_bytes()
    assert without_files(got) == without_files(expected)
    assert got.rejected == expected.rejected == 6
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_bytes().splitlines()]
    local_rejects = [
        json.loads(line) for line in (tmp_path / "local-rejects.jsonl").read_bytes().splitlines()
    ]
    assert [(r["line"], r["reason"], r["record"]) for r in rejects] == [
        (r["line"], r["reason"], r["record"]) for r in local_rejects
    ]
    assert {r["path"] for r in rejects} == {f"memory://{root}/a.jsonl"}


def test_a_missing_url_is_named(client: Any, store: tuple[Any, str], tmp_path: Path) -> None:
    _, root = store
    with pytest.raises(InvalidConversationError, match=f"memory://{root}/none.jsonl: no such"):
        split_files_dask([f"memory://{root}/none.jsonl"], tmp_path / "o", SplitSpec(),
                         scheduler=client)  # fmt: skip


def test_the_command_line_reads_urls_with_the_dask_engine_only(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason=MISSING)
    source = tmp_path / "chats.jsonl"
    source.write_bytes(EXAMPLES.read_bytes())
    url = f"file://{source}"
    refused = run("split", url, "-o", str(tmp_path / "o.jsonl"))
    assert (refused.returncode, refused.stderr.decode().splitlines()[0]) == (
        2,
        f"error: an input named by URL ({url}) is read by --engine dask",
    )
    done = run("split", url, "-o", str(tmp_path / "parts"), "--engine", "dask", "--jobs", "1")
    assert done.returncode == 0, done.stderr
    assert run("split", str(source), "-o", str(tmp_path / "local.jsonl")).returncode == 0
    parts = sorted((tmp_path / "parts").iterdir())
    assert b"".join(p.read_bytes() for p in parts) == (tmp_path / "local.jsonl").read_bytes()
