"""Hugging Face datasets: a dataset of conversations gives the local pipeline's samples."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from convsplit import Budget, MissingExtraError, Report, SplitSpec, split_files
from convsplit.formats.containers import Source

ROOT = Path(__file__).resolve().parents[1]
REAL_FILES = [
    "fastchat_dummy_conversation.json",
    "llamafactory_glaive_toolcall_en_demo.json",
    "llamafactory_reason_tool_use_demo_50.jsonl",
    "openai_cookbook_toy_chat_fine_tuning.jsonl",
]
#: Report fields that depend on how the input is held, not on what it says.
UNCOMPARABLE = ("files", "input_bytes", "seconds", "first_rejects")  # rows, not file lines


@pytest.fixture
def hf() -> ModuleType:
    """``datasets`` (>= 4.7, for ``Json``), or a skip saying how to get it."""
    return pytest.importorskip(
        "datasets",
        minversion="4.7",
        reason="datasets>=4.7 is not installed: pip install 'convsplit[hf]'",
    )


@pytest.fixture(autouse=True)
def quiet_and_offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    try:
        import datasets
    except ImportError:
        yield
        return
    datasets.disable_progress_bars()
    yield
    datasets.enable_progress_bars()


def as_jsonl(source: Path, folder: Path) -> Path:
    """A copy of a real file as JSONL, the form ``load_dataset("json")`` reads line by line."""
    target = folder / (source.name.split(".")[0] + ".jsonl")
    with Source.open(source) as opened, target.open("wb") as out:
        for record in opened.records():
            out.write(record.text.replace(b"\n", b" ") + b"\n")
    return target


def local(path: Path, options: SplitSpec, tmp_path: Path) -> tuple[list[bytes], Report, list[Any]]:
    """What ``convsplit split`` writes for ``path``: lines, report, rejects."""
    out, bad = tmp_path / "local.jsonl", tmp_path / "local-rejects.jsonl"
    report = split_files([path], out, options, rejects=bad)
    rejects = [json.loads(line) for line in bad.read_text().splitlines()]
    return out.read_bytes().splitlines(), report, rejects


def lines_of(rows: Any) -> list[bytes]:
    """Dataset rows back to JSON lines: the columns a sample has, in the writer's order."""
    return [orjson.dumps({k: v for k, v in row.items() if v is not None}) for row in rows]


def comparable(report: Report) -> dict[str, Any]:
    data = asdict(report)
    for name in UNCOMPARABLE:
        data.pop(name)
    return data


def assert_adds_up(report: Report) -> None:
    assert report.records == report.conversations + report.rejected
    assert report.assistant_turns == report.targeted + sum(report.skipped.values())
    assert report.samples == report.targeted  # one target per sample with the default window


def load(hf: ModuleType, path: Path, tmp_path: Path, **kwargs: Any) -> Any:
    return hf.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"), **kwargs
    )


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_files_split_as_the_local_pipeline_splits_them(
    hf: ModuleType, shared_data: Path, tmp_path: Path, name: str
) -> None:
    from convsplit.integrations import split_dataset

    path = as_jsonl(shared_data / name, tmp_path)
    options = SplitSpec(budget=Budget(1000))
    expected, report, _ = local(path, options, tmp_path)

    split = split_dataset(load(hf, path, tmp_path), options, num_proc=2)

    assert lines_of(split.samples) == expected
    assert comparable(split.report) == comparable(report)
    assert_adds_up(split.report)
    assert len(split.rejects) == 0


@pytest.mark.parametrize(
    ("writer", "writer_options"),
    [
        pytest.param("trl", {}, id="trl"),
        pytest.param("trl", {"arguments": "string"}, id="trl-string-arguments"),
        pytest.param("sharegpt", {}, id="sharegpt"),
        pytest.param("text", {}, id="text-spans"),
        pytest.param("text", {"layout": "segments"}, id="text-segments"),
        pytest.param("prompt_completion", {}, id="prompt-completion"),
        pytest.param(
            "openai",
            {"metadata": "inline", "keep_reasoning": True, "parallel_tool_calls": False},
            id="openai-inline",
        ),
    ],
)
@pytest.mark.parametrize(
    "name",
    ["llamafactory_glaive_toolcall_en_demo.json", "llamafactory_reason_tool_use_demo_50.jsonl"],
)
def test_every_writer_gives_its_own_columns(
    hf: ModuleType,
    shared_data: Path,
    tmp_path: Path,
    name: str,
    writer: str,
    writer_options: dict[str, Any],
) -> None:
    """Tool calls, tool results, reasoning and tool schemas: messages whose keys differ."""
    from convsplit.integrations import sample_features, split_dataset

    path = as_jsonl(shared_data / name, tmp_path)
    options = SplitSpec(budget=Budget(1500), output_format=writer, writer_options=writer_options)
    expected, report, _ = local(path, options, tmp_path)

    split = split_dataset(load(hf, path, tmp_path), options)

    assert split.samples.features == sample_features(options)
    assert lines_of(split.samples) == expected
    assert comparable(split.report) == comparable(report)


def test_message_lists_are_json_columns_that_decode_to_dicts(
    hf: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    """What TRL and OpenAI users get: lists of message dicts, each with its own keys."""
    from convsplit.integrations import split_dataset

    path = as_jsonl(shared_data / "llamafactory_glaive_toolcall_en_demo.json", tmp_path)
    split = split_dataset(load(hf, path, tmp_path), SplitSpec(budget=Budget(1000)))

    assert split.samples.features == hf.Features({"messages": hf.Json(), "tools": hf.Json()})
    calling = next(row for row in split.samples if any("tool_calls" in m for m in row["messages"]))
    roles = {m["role"]: set(m) for m in calling["messages"]}
    assert roles["user"] == {"role", "content"}  # no tool_calls: null filled in
    assert "tool_calls" in roles["assistant"]
    assert calling["tools"][0]["type"] == "function"


def test_stored_json_is_the_writers_bytes(hf: ModuleType) -> None:
    """``datasets``' own JSON encoder keeps 10 digits of a float; the stored text is exact."""
    from convsplit.integrations import split_dataset

    arguments = '{"x": 0.12345678901234568}'
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Compute"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": arguments},
                        }
                    ],
                },
            ]
        }
    ]
    dataset = hf.Dataset.from_list(rows, on_mixed_types="use_json")
    options = SplitSpec(budget=Budget(100), output_format="trl")
    split = split_dataset(dataset, options)
    stored = split.samples.with_format("arrow")["completion"].to_pylist()[0]
    assert "0.12345678901234568" in stored


def test_rejected_rows_are_returned_with_their_reason(hf: ModuleType, tmp_path: Path) -> None:
    from convsplit.integrations import split_dataset

    rows = [
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ]
        },
        {"messages": [{"role": "bot", "content": "Hi"}]},
        {"conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]},
        {"messages": "not a list"},
        {"prompt": "Say hi", "completion": "Hi"},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    options = SplitSpec(budget=Budget(100))
    expected, report, local_rejects = local(path, options, tmp_path)

    split = split_dataset(load(hf, path, tmp_path), options, num_proc=2, batch_size=2)

    assert lines_of(split.samples) == expected
    assert split.rejects.column_names == ["row", "reason", "field", "record"]
    got = list(split.rejects)
    assert [r["row"] for r in got] == [r["line"] - 1 for r in local_rejects] == [1, 3]
    assert [(r["reason"], r["field"]) for r in got] == [
        (r["reason"], r["field"]) for r in local_rejects
    ]
    assert [json.loads(r["record"]) for r in got] == [
        json.loads(r["record"]) for r in local_rejects
    ]
    assert comparable(split.report) == comparable(report)
    assert [r.reason for r in split.report.first_rejects] == [
        r.reason for r in report.first_rejects
    ]
    assert (split.report.records, split.report.rejected) == (5, 2)
    assert_adds_up(split.report)


def test_metadata_names_each_samples_row(hf: ModuleType, shared_data: Path, tmp_path: Path) -> None:
    from convsplit.integrations import split_dataset

    path = as_jsonl(shared_data / "fastchat_dummy_conversation.json", tmp_path)
    inline = SplitSpec(budget=Budget(60), writer_options={"metadata": "inline"})
    expected, _, _ = local(path, inline, tmp_path)

    split = split_dataset(
        load(hf, path, tmp_path), SplitSpec(budget=Budget(60)), metadata=True, num_proc=2
    )

    assert [row["metadata"] for row in split.samples] == [
        orjson.loads(line)["metadata"] for line in expected
    ]


def test_an_iterable_dataset_is_split_lazily(
    hf: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    from convsplit.integrations import split_dataset

    path = as_jsonl(shared_data / "llamafactory_reason_tool_use_demo_50.jsonl", tmp_path)
    options = SplitSpec(budget=Budget(1200), output_format="trl")
    expected, report, _ = local(path, options, tmp_path)

    split = split_dataset(load(hf, path, tmp_path, streaming=True), options)

    assert isinstance(split.samples, hf.IterableDataset)
    assert lines_of(split.samples) == expected
    assert list(split.rejects) == []
    assert comparable(split.report) == comparable(report)
    with pytest.raises(ValueError, match="num_proc applies to a Dataset"):
        split_dataset(load(hf, path, tmp_path, streaming=True), options, num_proc=2)


def test_an_iterable_dataset_of_unknown_features(hf: ModuleType) -> None:
    from convsplit.integrations import split_dataset

    def rows() -> Iterator[dict[str, Any]]:
        yield {
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
        }
        yield {"messages": [{"role": "assistant", "content": "Alone"}]}

    dataset = hf.IterableDataset.from_generator(rows)
    assert dataset.features is None
    split = split_dataset(dataset, SplitSpec(budget=Budget(100)))
    assert [row["messages"][-1]["content"] for row in split.samples] == ["Yo"]
    assert split.report.skipped == {"no_user_before": 1}


def test_nulls_that_arrow_filled_in_are_not_read_as_data(hf: ModuleType, tmp_path: Path) -> None:
    """A struct column holds the union of its rows' keys: absent keys come back as null."""
    from convsplit.integrations import split_dataset

    rows = [
        {
            "id": "a",
            "messages": [
                {"role": "user", "content": "Hi", "lang": "en"},
                {"role": "assistant", "content": "Hello"},
            ],
        },
        {"messages": [{"role": "user", "content": "Yo"}, {"role": "assistant", "content": "Hey"}]},
    ]
    message = {
        "role": hf.Value("string"),
        "content": hf.Value("string"),
        "lang": hf.Value("string"),
    }
    features = hf.Features({"id": hf.Value("string"), "messages": hf.List(message)})
    dataset = hf.Dataset.from_list(rows, features=features)
    assert dataset[1]["messages"][0]["lang"] is None and dataset[1]["id"] is None
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    options = SplitSpec(budget=Budget(100), writer_options={"keep_extras": True})
    expected, _, _ = local(path, options, tmp_path)

    split = split_dataset(dataset, options)

    assert lines_of(split.samples) == expected
    assert b'"lang":null' not in b"".join(lines_of(split.samples))


def test_a_writer_of_your_own_needs_its_columns(
    hf: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convsplit.formats import _WRITERS
    from convsplit.integrations import split_dataset
    from convsplit.samples import SplitResult

    class LastWords:
        name = "last_words"

        def lines(self, result: SplitResult) -> Iterator[bytes]:
            for sample in result.samples:
                yield orjson.dumps({"last": sample.messages[-1].text}) + b"\n"

    monkeypatch.setitem(_WRITERS, "last_words", LastWords)  # registered for this test only
    dataset = hf.Dataset.from_list(
        [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}]
    )
    options = SplitSpec(budget=Budget(100), output_format="last_words")
    with pytest.raises(ValueError, match="the columns of writer 'last_words' are not known"):
        split_dataset(dataset, options)
    with pytest.raises(ValueError, match="wrote fields last that the dataset has no columns for"):
        split_dataset(dataset, options, features=hf.Features({"other": hf.Value("string")}))

    split = split_dataset(dataset, options, features=hf.Features({"last": hf.Value("string")}))
    assert list(split.samples) == [{"last": "Yo"}]


def test_a_dataset_dict_is_refused_with_what_to_do(hf: ModuleType) -> None:
    from convsplit.integrations import split_dataset

    rows = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
    ]
    splits = hf.DatasetDict({"train": hf.Dataset.from_list(rows)})
    with pytest.raises(TypeError, match=r"got DatasetDict \(for a DatasetDict, split each split"):
        split_dataset(splits, SplitSpec(budget=Budget(100)))
    assert len(split_dataset(splits["train"], SplitSpec(budget=Budget(100))).samples) == 1


def test_a_missing_datasets_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from convsplit.integrations import split_dataset

    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    with pytest.raises(MissingExtraError) as caught:
        split_dataset([], SplitSpec(budget=Budget(100)))
    assert str(caught.value) == (
        "datasets is not installed (splitting a Hugging Face dataset needs it); "
        "run: pip install 'convsplit[hf]'"
    )


def test_importing_the_integrations_imports_neither_datasets_nor_dask() -> None:
    code = textwrap.dedent(
        """
        import sys
        import convsplit.integrations, convsplit.integrations.hf_datasets
        import convsplit.integrations.dask
        print(sorted(m for m in ("datasets", "pyarrow", "dask", "distributed") if m in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
