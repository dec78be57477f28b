"""A LLaMA-Factory ``dataset_info.json`` entry read as convsplit's reading options: each
documented shape (alpaca and sharegpt, columns, tags, ranking, kto_tag), built here as
small records in those shapes, splits exactly as the same record in the usual names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from convsplit import Budget, SplitSpec
from convsplit.errors import InvalidOptionError, UnknownNameError
from convsplit.formats.llamafactory import dataset_info, read_dataset_info
from convsplit.run.records import RecordSplitter


def split_bytes(record: object, **options: Any) -> bytes:
    splitter = RecordSplitter(SplitSpec(Budget(300), **options))
    return b"".join(splitter.writer.lines(splitter.split(splitter.parse(record), 0)))


def info_file(tmp_path: Path, entries: dict[str, Any]) -> Path:
    path = tmp_path / "dataset_info.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


ALPACA = {"instruction": "Add", "input": "2+2", "output": "4", "system": "Be terse."}


def test_alpaca_with_its_own_column_names() -> None:
    info = dataset_info(
        {"file_name": "qa.json",
         "columns": {"prompt": "question", "query": "context", "response": "answer",
                     "system": "persona", "history": "earlier"}},
        name="qa",
    )  # fmt: skip
    assert info.input_format == "pairs"
    assert info.fields == {
        "instruction": "question", "input": "context", "output": "answer",
        "system": "persona", "history": "earlier",
    }  # fmt: skip
    record = {"question": "Add", "context": "2+2", "answer": "4", "persona": "Be terse.",
              "earlier": [["1+1?", "2"]]}  # fmt: skip
    canonical = {**ALPACA, "history": [["1+1?", "2"]]}
    assert split_bytes(record, **info.options()) == split_bytes(canonical)


def test_alpaca_defaults_need_no_field_names() -> None:
    info = dataset_info({"file_name": "a.json"}, name="a", folder=Path("data"))
    assert (info.input_format, info.fields, info.role_map) == ("pairs", {}, {})
    assert info.file_name == Path("data/a.json")


def test_sharegpt_with_openai_style_tags_reads_role_and_content_messages() -> None:
    info = dataset_info(
        {"formatting": "sharegpt", "columns": {"messages": "messages"},
         "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                  "assistant_tag": "assistant"}},
        name="mllm",
    )  # fmt: skip
    assert info.options() == {"input_format": "auto", "fields": {}, "role_map": {}}
    record = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
    }
    assert split_bytes(record, **info.options()) == split_bytes(record)


def test_sharegpt_with_every_tag_renamed() -> None:
    info = dataset_info(
        {"formatting": "sharegpt",
         "columns": {"messages": "dialog", "system": "persona", "tools": "functions"},
         "tags": {"role_tag": "speaker", "content_tag": "text", "user_tag": "customer",
                  "assistant_tag": "agent", "observation_tag": "result",
                  "function_tag": "call", "system_tag": "rules"}},
        name="custom",
    )  # fmt: skip
    assert info.fields == {
        "messages": "dialog", "system": "persona", "tools": "functions",
        "role": "speaker", "content": "text",
    }  # fmt: skip
    assert info.role_map == {
        "customer": "user", "agent": "assistant", "result": "tool", "call": "function_call",
        "rules": "system",
    }  # fmt: skip
    tool = {"name": "weather", "parameters": {"type": "object"}}
    call = json.dumps({"name": "weather", "arguments": {"city": "Paris"}})
    record = {
        "dialog": [
            {"speaker": "customer", "text": "Weather in Paris?"},
            {"speaker": "call", "text": call},
            {"speaker": "result", "text": "Sunny"},
            {"speaker": "agent", "text": "Sunny."},
        ],
        "persona": "Be terse.",
        "functions": json.dumps([tool]),
    }
    canonical = {
        "conversations": [
            {"from": "human", "value": "Weather in Paris?"},
            {"from": "function_call", "value": call},
            {"from": "observation", "value": "Sunny"},
            {"from": "gpt", "value": "Sunny."},
        ],
        "system": "Be terse.",
        "tools": json.dumps([tool]),
    }
    assert split_bytes(record, **info.options()) == split_bytes(canonical)


def test_sharegpt_default_conversations_need_no_field_name() -> None:
    info = dataset_info(
        {"formatting": "sharegpt", "columns": {"messages": "conversations"}}, name="g"
    )
    assert info.fields == {}


def test_ranking_and_kto_entries_name_their_fields_for_the_preference_readers() -> None:
    dpo = dataset_info(
        {"formatting": "sharegpt", "ranking": True,
         "columns": {"messages": "conversations", "chosen": "better", "rejected": "worse"}},
        name="dpo",
    )  # fmt: skip
    assert (dpo.ranking, dpo.kto, dpo.fields) == (
        True,
        False,
        {"chosen": "better", "rejected": "worse"},
    )
    kto = dataset_info(
        {"formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "label"}},
        name="kto",
    )
    assert (kto.ranking, kto.kto, kto.fields) == (False, True, {})
    tagged = dataset_info({"columns": {"kto_tag": "kto_tag"}}, name="kto2")
    assert tagged.fields == {"label": "kto_tag"}


def test_a_wrong_entry_is_an_error_naming_the_file_entry_and_key(tmp_path: Path) -> None:
    path = info_file(tmp_path, {"a": {"formatting": "csv"}, "b": {"columns": {"prompt": 3}},
                                "c": {"ranking": "yes"}})  # fmt: skip
    with pytest.raises(InvalidOptionError, match="dataset 'a': formatting must be one of alpaca"):
        read_dataset_info(path, "a")
    with pytest.raises(
        InvalidOptionError, match="dataset 'b': columns: 'prompt' must be a non-empty"
    ):
        read_dataset_info(path, "b")
    with pytest.raises(InvalidOptionError, match="dataset 'c': ranking must be true or false"):
        read_dataset_info(path, "c")
    with pytest.raises(
        UnknownNameError, match=r"unknown dataset of .* 'd'; expected one of a, b, c"
    ):
        read_dataset_info(path, "d")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidOptionError, match=r"bad\.json: not valid JSON"):
        read_dataset_info(tmp_path / "bad.json", "a")


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "convsplit", *args], capture_output=True, check=False
    )


def test_the_command_line_reads_an_entry(tmp_path: Path) -> None:
    path = info_file(
        tmp_path,
        {"qa": {"file_name": "qa.jsonl", "columns": {"prompt": "q", "response": "a"}}},
    )
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"q": "2+2?", "a": "4", "source": "faq"}) + "\n")
    out = tmp_path / "out.jsonl"
    done = run("split", str(data), "-o", str(out), "--dataset-info", str(path), "--dataset", "qa")
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == {
        "messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    }
    alone = run("split", str(data), "-o", str(out), "--dataset-info", str(path))
    assert alone.returncode == 2
    assert b"--dataset-info and --dataset go together" in alone.stderr


def test_ranking_and_kto_entries_read_through_to_the_preference_outputs(tmp_path: Path) -> None:
    path = info_file(
        tmp_path,
        {
            "dpo": {"formatting": "sharegpt", "ranking": True,
                    "columns": {"messages": "dialog", "chosen": "better", "rejected": "worse"},
                    "tags": {"role_tag": "speaker", "content_tag": "text",
                             "user_tag": "customer", "assistant_tag": "agent"}},
            "kto": {"formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "ok"},
                    "tags": {"role_tag": "role", "content_tag": "content"}},
        },
    )  # fmt: skip
    dpo = tmp_path / "dpo.jsonl"
    dpo.write_text(json.dumps({
        "dialog": [{"speaker": "customer", "text": "2+2?"}],
        "better": {"speaker": "agent", "text": "4"},
        "worse": {"speaker": "agent", "text": "5"},
    }) + "\n")  # fmt: skip
    kto = tmp_path / "kto.jsonl"
    said = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}]
    kto.write_text(json.dumps({"messages": said, "ok": False}) + "\n")
    out = tmp_path / "out.jsonl"
    flags = ["--dataset-info", str(path), "--dataset"]
    done = run("split", str(dpo), "-o", str(out), "--to", "preference", *flags, "dpo")
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == {
        "prompt": [{"role": "user", "content": "2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    }
    done = run("split", str(kto), "-o", str(out), "--to", "kto", *flags, "kto")
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["label"] is False
    refused = run("split", str(kto), "-o", str(out), *flags, "kto")
    assert refused.returncode == 3
    assert b"preference_data" in refused.stderr


def test_without_an_input_the_entry_s_file_name_is_read_beside_the_dataset_info(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    path = info_file(
        tmp_path / "data",
        {"qa": {"file_name": "qa.jsonl", "columns": {"prompt": "q", "response": "a"}},
         "chats": {"file_name": "chats", "formatting": "sharegpt"},
         "hub": {"hf_hub_url": "llamafactory/alpaca_en", "file_name": "alpaca.json"},
         "bare": {"columns": {"prompt": "q"}},
         "gone": {"file_name": "gone.jsonl"}},
    )  # fmt: skip
    (tmp_path / "data" / "qa.jsonl").write_text(json.dumps({"q": "2+2?", "a": "4"}) + "\n")
    (tmp_path / "data" / "chats").mkdir()
    turns = [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]
    for name in ("one.jsonl", "two.jsonl"):
        (tmp_path / "data" / "chats" / name).write_text(json.dumps({"conversations": turns}) + "\n")
    out = tmp_path / "out.jsonl"
    flags = ["--dataset-info", str(path), "--dataset"]
    done = run("split", "-o", str(out), *flags, "qa")
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == {
        "messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    }
    done = run("split", "-o", str(out), *flags, "chats")  # a folder: every file in it
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 2
    for command in (["stats"], ["validate"], ["show"]):
        done = run(*command, *flags, "qa")
        assert done.returncode == 0, (command, done.stderr)
    folder = run("show", *flags, "chats")
    assert folder.returncode == 2
    assert f"show reads one file; {tmp_path}/data/chats is a folder".encode() in folder.stderr
    refusals = {
        "hub": "dataset 'hub' is read from hf_hub_url 'llamafactory/alpaca_en', not a local "
        "file; convsplit reads local files only: download it and give its file as INPUT",
        "bare": "dataset 'bare' names no file_name; give its file as INPUT",
        "gone": f"dataset 'gone': file_name {tmp_path}/data/gone.jsonl: no such file or folder",
    }
    for name, message in refusals.items():
        refused = run("split", "-o", str(out), *flags, name)
        assert refused.returncode == 2
        assert refused.stderr.decode().startswith(f"error: {message}\n"), refused.stderr
    none = run("split", "-o", str(out))
    assert none.returncode == 2
    assert none.stderr.decode().startswith(
        "error: no INPUT: name files, globs or directories (or --dataset-info FILE --dataset "
        "NAME to read the file the entry names)\n"
    )
