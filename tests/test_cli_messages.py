"""What the command line tells a person: its version, its help, usage errors, warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import EXAMPLES, conversation, run, write_jsonl


def test_version() -> None:
    import convsplit

    done = run("--version")
    assert (done.returncode, done.stdout.decode()) == (0, f"convsplit {convsplit.__version__}\n")


def test_no_command_prints_the_help() -> None:
    done = run()
    assert done.returncode == 2
    assert done.stderr.decode().startswith("usage: convsplit ")
    assert "split" in done.stderr.decode() and "validate" in done.stderr.decode()


def test_debug_also_after_the_command(tmp_path: Path) -> None:
    done = run("split", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--debug")
    assert done.returncode == 1
    assert b"Traceback" in done.stderr


@pytest.mark.parametrize(
    ("option", "message"),
    [
        pytest.param(
            ["--writer-option", "bogus=1"],
            "error: unknown openai writer option 'bogus'; expected one of ",
            id="writer-option",
        ),
        pytest.param(
            ["--role-map", "bot=robot"],
            "error: unknown role 'robot'; expected one of assistant, developer, function_call, system, tool, "
            "user",
            id="role-map",
        ),
        pytest.param(
            ["--model", "gpt-99"],
            "error: unknown tokenizer or OpenAI model 'gpt-99'; expected one of <any OpenAI "
            "model name>, cl100k_base, hf:<path to tokenizer.json>, o200k_base, o200k_harmony, p50k_base, p50k_edit, r50k_base\n",
            id="model",
        ),
    ],
)
def test_an_unknown_name_is_a_usage_error(option: list[str], message: str, tmp_path: Path) -> None:
    done = run("split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl"), *option)
    assert done.returncode == 2
    assert done.stderr.decode().startswith(message)
    assert done.stderr.decode().endswith("(see 'convsplit split --help')\n")
    assert not (tmp_path / "o.jsonl").exists()


def test_too_large_a_record_limit_is_a_usage_error(tmp_path: Path) -> None:
    done = run(
        "split",
        str(EXAMPLES),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--max-record-bytes",
        "99999999999999999999",
    )
    assert done.returncode == 2
    assert done.stderr.decode().startswith(
        "error: argument --max-record-bytes: expected a whole number from 0 to "
    )


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["split", str(EXAMPLES), "-o", "-"], id="split"),
        pytest.param(["split", str(EXAMPLES), "-o", "-", "--jobs", "2"], id="split-jobs"),
        pytest.param(["show", str(EXAMPLES), "--conversation", "1"], id="show"),
    ],
)
def test_a_closed_pipe_ends_quietly(command: list[str], tmp_path: Path) -> None:
    many = write_jsonl(tmp_path / "many.jsonl", [conversation(k, 8) for k in range(400)])
    command = [str(many) if c == str(EXAMPLES) else c for c in command]
    proc = subprocess.Popen(
        [sys.executable, "-m", "convsplit", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # as `| head -c 10` does
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) in {0, 141}
    assert b"error" not in stderr and b"Traceback" not in stderr


def test_rejects_are_summarised_with_where_and_why(tmp_path: Path) -> None:
    good = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
    lines = [json.dumps(good)] + ['{"messages": 5}'] * 8 + ["[1, 2"]
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run("split", str(data), "-o", str(tmp_path / "o.jsonl"))
    assert done.returncode == 3
    warning = done.stderr.decode().splitlines()[4:]  # after the summary and trainer note
    assert warning[0] == "warning: 9 records rejected (use --rejects FILE to keep them):"
    assert warning[1] == f"  {data}:2: field 'messages': expected a list of messages; got a number"
    assert warning[2].startswith(f"  {data}:10: ")
    assert warning[3:] == ["  and 7 more"]


def test_a_run_that_trains_nothing_says_why(tmp_path: Path) -> None:
    done = run("split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl"), "--max-tokens", "10")
    assert done.returncode == 0
    assert done.stderr.decode().splitlines()[-1] == (
        "warning: no turn was trained: 15 of 15 skipped, 14 target_too_long "
        "(raise --max-tokens, or --on-long-target truncate; convsplit show lists what each needs)"
    )


def test_an_empty_input_is_a_warning(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    done = run("split", str(empty), "-o", str(tmp_path / "o.jsonl"))
    assert done.stderr.decode().splitlines()[-1] == "warning: the inputs hold no records"


def test_blocksize_goes_with_the_dask_engine(tmp_path: Path) -> None:
    done = run("split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl"), "--blocksize", "16MiB")
    assert (done.returncode, done.stderr.decode()) == (
        2,
        "error: --blocksize goes with --engine dask\n(see 'convsplit split --help')\n",
    )


@pytest.mark.parametrize("size", ["16", "0", "12 parsecs", "1.5GiB"])
def test_a_blocksize_is_a_size(tmp_path: Path, size: str) -> None:
    done = run("split", str(EXAMPLES), "-o", str(tmp_path / "o"), "--blocksize", size)
    if size == "16":
        assert done.stderr.decode().startswith("error: --blocksize goes with --engine dask")
    else:
        assert done.returncode == 2
        assert f"expected a size such as 16MiB, 'auto' or 'none'; got {size!r}" in (
            done.stderr.decode()
        )


def test_offline_refuses_a_download_and_says_where_it_looked(tmp_path: Path) -> None:
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("CONVSPLIT_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-m", "convsplit", "split", str(EXAMPLES), "-o", str(tmp_path / "o"),
         "--encoding", "r50k_base", "--offline"],
        capture_output=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    message = done.stderr.decode()
    assert message.startswith("error: no verified copy of the r50k_base vocabulary is available")
    assert "not downloaded: CONVSPLIT_OFFLINE is set" in message


def test_text_output_counts_with_chatml_unless_told(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    done = run("split", str(EXAMPLES), "-o", str(out), "--to", "text", "--max-tokens", "200")
    assert done.returncode == 0, done.stderr
    assert "<|im_start|>" in json.loads(out.read_bytes().splitlines()[0])["text"]
    refused = run("split", str(EXAMPLES), "-o", str(out), "--to", "text", "--chat-format", "openai")
    assert refused.returncode == 2
    assert "has no text rendering" in refused.stderr.decode()
