"""``convsplit stats``, ``validate`` and ``split --engine dask``, run as users run them."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from convsplit.cli_formats import EXAMPLE, TRAINER_SETTINGS, writer_options
from convsplit.formats import OpenAIWriter, get_format, reader_names, writer_names
from tests.test_cli import EXAMPLES, ROOT, run

README_TEXT = (ROOT / "README.md").read_text(encoding="utf-8")

STATS = """\
conversations: 4
tokens per conversation: min 49, p5 75.4, median 254, p95 288.1, max 289
tokens per message: assistant median 34 (15), system median 13 (3), tool median 27 (2), user median 12.5 (12)

max_tokens  samples  tokens/epoch  trained/epoch  amplification  turns skipped  history kept  cost/epoch
       256       14         2,276            489          2.90x         1 (7%)           90%       $0.06
     4,096       14         2,443            489          2.89x         1 (7%)           96%       $0.06

at 256: skipped 1 no_user_before
at 4,096: skipped 1 no_user_before
"""


def test_stats_compares_budgets_side_by_side() -> None:
    done = run(
        "stats", str(EXAMPLES), "--max-tokens", "256", "--max-tokens", "4096", "--price", "25"
    )
    assert (done.returncode, done.stdout.decode()) == (0, STATS)


def test_stats_as_json_adds_up() -> None:
    done = run("stats", str(EXAMPLES), "--json", "--max-tokens", "128")
    data = json.loads(done.stdout)
    assert (data["conversations"], data["rejected"], data["price_per_million"]) == (4, 0, None)
    (report,) = data["reports"]
    assert report["budget"] == 128
    assert report["targets"] + sum(report["skipped"].values()) == 15
    assert report["sample_tokens"]["total"] == report["tokens_per_epoch"]
    assert "cost_per_epoch" not in report


def test_stats_json_has_the_rejected_records_and_the_cost(tmp_path: Path) -> None:
    data_file = tmp_path / "mixed.jsonl"
    data_file.write_bytes(EXAMPLES.read_bytes() + b"{oops\n")
    done = run("stats", str(data_file), "--json", "--max-tokens", "4096", "--price", "25")
    assert done.returncode == 3
    data = json.loads(done.stdout)
    assert (data["conversations"], data["rejected"], data["price_per_million"]) == (4, 1, 25.0)
    (report,) = data["reports"]
    assert report["cost_per_epoch"] == report["tokens_per_epoch"] * 25 / 1_000_000


def test_stats_of_no_conversations_says_so(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{oops\n[1]\n", encoding="utf-8")
    done = run("stats", str(broken))
    assert (done.returncode, done.stdout.decode()) == (
        3,
        "conversations: 0 (2 records rejected)\n"
        f"  2 cannot be read; the first: {broken} line 1: invalid JSON: unexpected character, "
        "expected a string key (line 1, column 2)\n"
        "no conversations to count: nothing would be split\n",
    )


def test_validate_groups_findings_with_file_and_line(tmp_path: Path) -> None:
    done = run("validate", str(EXAMPLES))
    assert done.returncode == 3
    text = done.stdout.decode()
    assert text.startswith(
        "warning assistant_before_user: an assistant message before any user one (1)\n"
        f"  {EXAMPLES}:4 message 1: message 1 is an assistant message before any user message "
        "(it is not trained)\n"
    )
    assert text.endswith("0 errors, 1 warning, 5 notes\n")


def test_validate_caps_each_kind_and_says_how_many_more(tmp_path: Path) -> None:
    many = tmp_path / "many.jsonl"
    records = [
        {"messages": [{"role": "user", "content": f"Hi {k}"}, {"role": "assistant", "content": ""}]}
        for k in range(25)
    ]
    many.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    done = run("validate", str(many), "--max-listed", "2")
    assert done.returncode == 3
    lines = done.stdout.decode().splitlines()
    assert lines[:4] == [
        "error empty_content: a message's content is empty or blank (25)",
        f"  {many}:1 message 1: message 1 (assistant) has empty content (it is not trained)",
        f"  {many}:2 message 1: message 1 (assistant) has empty content (it is not trained)",
        "  ... and 23 more",
    ]
    assert lines[-1] == "25 errors, 0 warnings, 25 notes"
    default = run("validate", str(many)).stdout.decode().splitlines()
    assert "  ... and 15 more" in default
    every = run("validate", str(many), "--max-listed", "0").stdout.decode().splitlines()
    assert not any(line.startswith("  ... and") for line in every)
    assert len(every) == 2 * (25 + 2) + 1


def test_validate_json_lists_every_finding_with_the_same_exit_status(tmp_path: Path) -> None:
    done = run("validate", str(EXAMPLES), "--json", "--max-listed", "1")
    assert done.returncode == 3
    data = json.loads(done.stdout)
    assert (data["clean"], data["totals"]) == (False, {"error": 0, "warning": 1, "info": 5})
    assert data["kinds"][0] == {"severity": "warning", "code": "assistant_before_user", "count": 1}
    assert sum(kind["count"] for kind in data["kinds"]) == len(data["findings"]) == 6
    before_user = [f for f in data["findings"] if f["code"] == "assistant_before_user"]
    assert [(f["path"], f["lineno"], f["message_index"]) for f in before_user] == [
        (str(EXAMPLES), 4, 1)
    ]
    clean = tmp_path / "clean.jsonl"
    clean.write_text(
        '{"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": '
        '"Hi"}, {"role": "assistant", "content": "Hello!"}]}\n',
        encoding="utf-8",
    )
    done = run("validate", str(clean), "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["findings"] == []


def test_convsplit_s_own_tool_call_samples_validate_without_unanswered_calls(
    tmp_path: Path,
) -> None:
    samples = tmp_path / "samples.jsonl"
    assert run("split", str(EXAMPLES), "-o", str(samples), "--max-tokens", "4096").returncode == 0
    ends_on_call = [
        json.loads(line)
        for line in samples.read_bytes().splitlines()
        if json.loads(line)["messages"][-1].get("tool_calls")
    ]
    assert ends_on_call  # the weather conversation's call is a target of its own
    done = run("validate", str(samples), "--json")
    codes = {finding["code"] for finding in json.loads(done.stdout)["findings"]}
    assert "unanswered_tool_call" not in codes
    assert codes <= {"no_system_message", "near_duplicate", "duplicate"}


def test_validate_names_a_record_in_no_known_format(tmp_path: Path) -> None:
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"foo": "bar"}\n', encoding="utf-8")
    done = run("validate", str(odd), "--json")
    (finding,) = json.loads(done.stdout)["findings"]
    assert (finding["code"], finding["severity"], finding["lineno"]) == (
        "unknown_format",
        "error",
        1,
    )


def test_validate_exits_zero_only_when_clean(tmp_path: Path) -> None:
    clean = tmp_path / "clean.jsonl"
    clean.write_text(
        '{"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": '
        '"Hi"}, {"role": "assistant", "content": "Hello!"}]}\n',
        encoding="utf-8",
    )
    done = run("validate", str(clean), "--max-tokens", "100")
    assert (done.returncode, done.stdout.decode()) == (0, "no problems found\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"messages": []}\n{oops\n', encoding="utf-8")
    done = run("validate", str(broken))
    assert done.returncode == 3
    assert f"  {broken}:2: " in done.stdout.decode()


def test_validate_reports_every_deliberate_problem_of_the_cookbook_file(shared_data: Path) -> None:
    toy = shared_data / "openai_cookbook_toy_chat_fine_tuning.jsonl"
    done = run("validate", str(toy), "--max-tokens", "4096")
    text = done.stdout.decode()
    assert f"  {toy}:4: no user message" in text
    assert f"  {toy}:5 message 2: message 2 (assistant) does not fit 4096 tokens" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scheduler", "tcp://127.0.0.1:1"], "error: --scheduler goes with --engine dask\n"),
        (["--engine", "dask", "-o", "parts.gz"], "error: --engine dask writes a folder of uncompressed part files; drop .gz\n"),
    ],
)  # fmt: skip
def test_engine_options_are_checked_before_any_work(
    tmp_path: Path, args: list[str], message: str
) -> None:
    output = [] if "-o" in args else ["-o", str(tmp_path / "o.jsonl")]
    done = run("split", str(EXAMPLES), *output, *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.decode() == message + "(see 'convsplit split --help')\n"
    assert list(tmp_path.iterdir()) == []


def test_dask_engine_writes_what_the_local_engine_writes(tmp_path: Path) -> None:
    pytest.importorskip(
        "distributed", reason="needs convsplit[dask]: pip install 'convsplit[dask]'"
    )
    local, parts = tmp_path / "local.jsonl", tmp_path / "parts"
    assert run("split", str(EXAMPLES), "-o", str(local), "--max-tokens", "200").returncode == 0
    done = run("split", str(EXAMPLES), "-o", str(parts), "--max-tokens", "200", "--engine", "dask")
    assert done.returncode == 0, done.stderr.decode()
    joined = b"".join(p.read_bytes() for p in sorted(parts.glob("part-*.jsonl")))
    assert joined == local.read_bytes()


@pytest.mark.parametrize(
    ("output_format", "setting"),
    [
        pytest.param("openai", "message_field_training: weight", id="openai"),
        pytest.param("sharegpt", "mask_history: true", id="sharegpt"),
        pytest.param("trl", "completion_only_loss", id="trl"),
        pytest.param("prompt_completion", "completion_only_loss", id="prompt_completion"),
        pytest.param("text", "spans", id="text"),
    ],
)
def test_the_trainer_setting_is_printed_once_per_run(
    tmp_path: Path, output_format: str, setting: str
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for k in range(3):
        (inputs / f"part{k}.jsonl").write_bytes(EXAMPLES.read_bytes())
    done = run("split", str(inputs), "-o", str(tmp_path / "o.jsonl"), "--to", output_format,
               "--chat-format", "chatml")  # fmt: skip
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.decode().splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    assert setting in notes[0]
    assert setting in README_TEXT  # README's "Training with ..." says the same


def test_no_trainer_note_when_nothing_is_written(tmp_path: Path) -> None:
    done = run("split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl"), "--max-tokens", "10")
    assert "note:" not in done.stderr.decode()


def test_formats_lists_every_format_trainer_setting_and_writer_option() -> None:
    done = run("formats")
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    inputs, outputs = text.split("\nOutput formats")
    for name in reader_names()[1:]:  # after "auto"
        assert f"\n  {name} " in inputs
    for name in writer_names():
        assert f"\n  {name} " in outputs
        fmt = get_format(name)
        for option, default, _ in writer_options(fmt):
            assert f" {option}={default}" in outputs
    for name, setting in TRAINER_SETTINGS.items():
        assert " ".join(setting.split()) in " ".join(outputs.split()), name
    every_option = {f.name for f in dataclasses.fields(OpenAIWriter) if f.init}
    assert {option for option, _, _ in writer_options(get_format("openai"))} == every_option
    # Wrapped at 100, but for examples (a row as written) and long JSON defaults.
    wide = [line for line in text.splitlines() if len(line) > 100]
    assert all("  example  " in line or "={" in line for line in wide)


def test_formats_examples_are_rows_the_writers_write(tmp_path: Path) -> None:
    text = run("formats").stdout.decode().split("\nOutput formats")[1]
    examples = dict(re.findall(r"\n  (\w+) [^\n]*(?:\n {20}[^\n]*)*\n  example +(\{[^\n]*)", text))
    source = tmp_path / "example.jsonl"
    source.write_text(
        json.dumps({"messages": [m.model_dump(exclude_none=True) for m in EXAMPLE.messages]})
        + "\n",
        encoding="utf-8",
    )
    for name in ("openai", "sharegpt", "trl", "prompt_completion"):
        out = tmp_path / f"{name}.jsonl"
        assert run("split", str(source), "-o", str(out), "--to", name).returncode == 0
        assert out.read_text(encoding="utf-8").splitlines()[-1] == examples[name]


def test_readme_formats_section_is_the_listing() -> None:
    found = re.search(r"```text\n\$ convsplit formats\n(.*?)```", README_TEXT, flags=re.S)
    assert found, "README has no 'convsplit formats' block"
    listing = run("formats").stdout.decode()
    assert found.group(1) == listing, (
        "README's formats section is out of date: replace its block with `convsplit formats`"
    )


def test_the_trainer_note_comes_once_for_several_windows(tmp_path: Path) -> None:
    output = str(tmp_path / "w-{max_tokens}.jsonl")
    done = run("split", str(EXAMPLES), "-o", output, "--max-tokens", "100", "--max-tokens", "300")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.decode().splitlines()
    assert [line for line in lines if line.startswith("note:")] == [lines[-1]]
