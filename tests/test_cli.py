"""The command line, run as users run it: the real entry point in a subprocess."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "conversations.jsonl"


def run(
    *args: str, stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "convsplit", *args]
    return subprocess.run(command, input=stdin, capture_output=True, cwd=cwd, check=False)


def conversation(k: int, turns: int) -> dict[str, object]:
    messages: list[dict[str, object]] = [{"role": "system", "content": "You are helpful."}]
    for t in range(turns):
        messages.append({"role": "user", "content": f"Question {k}.{t}: " + "tell me more " * 30})
        messages.append({"role": "assistant", "content": f"Answer {k}.{t}. " + "Sure, " * 40})
    return {"id": f"c{k}", "messages": messages}


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_split_writes_samples_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "samples.jsonl"
    done = run("split", str(EXAMPLES), "-o", str(out), "--max-tokens", "200")
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode() == (
        "conversations: 4 of 4 records (0 rejected)\n"
        "assistant turns: 15 (14 trained, 1 skipped: 1 no_user_before)\n"
        "samples: 14 (1,946 tokens, 489 trained)\n"
        "note: to train exactly the targets, axolotl (type: chat_template) needs "
        "message_field_training: weight (its default roles_to_train: [assistant] then trains the "
        "unweighted targets) and sequence_len at least --max-tokens (OpenAI fine-tuning: nothing "
        "to set)\n"
    )
    lines = out.read_bytes().splitlines()
    assert len(lines) == 14
    first = json.loads(lines[0])
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert "weight" not in first["messages"][-1]


def test_context_assistants_carry_weight_zero(tmp_path: Path) -> None:
    out = tmp_path / "samples.jsonl"
    assert run("split", str(EXAMPLES), "-o", str(out), "--max-tokens", "4096").returncode == 0
    last_cooking = json.loads(out.read_bytes().splitlines()[5])
    weights = [m.get("weight") for m in last_cooking["messages"] if m["role"] == "assistant"]
    assert weights == [0, 0, 0, 0, 0, None]


def test_python_dash_m_and_the_console_script_agree(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("convsplit")
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run("split", str(EXAMPLES), "-o", str(a))
    subprocess.run(
        [str(script), "split", str(EXAMPLES), "-o", str(b)], check=True, capture_output=True
    )
    assert a.read_bytes() == b.read_bytes()


def test_stdin_to_stdout_and_gzip(tmp_path: Path) -> None:
    piped = run("split", "-", "-o", "-", "--max-tokens", "200", stdin=EXAMPLES.read_bytes())
    assert piped.returncode == 0
    zipped = tmp_path / "samples.jsonl.gz"
    assert run("split", str(EXAMPLES), "-o", str(zipped), "--max-tokens", "200").returncode == 0
    assert gzip.decompress(zipped.read_bytes()) == piped.stdout


def test_jobs_two_writes_the_same_bytes_as_jobs_one(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [conversation(k, 1 + k % 9) for k in range(400)])
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert run("split", str(data), "-o", str(one), "--max-tokens", "512").returncode == 0
    assert (
        run("split", str(data), "-o", str(two), "--max-tokens", "512", "--jobs", "2").returncode
        == 0
    )
    assert one.read_bytes() == two.read_bytes()
    assert len(one.read_bytes().splitlines()) == sum(1 + k % 9 for k in range(400))


def test_bad_records_go_to_rejects_and_the_run_goes_on(tmp_path: Path) -> None:
    data = tmp_path / "mixed.jsonl"
    data.write_text(
        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}\n'
        "{not json\n"
        '{"messages": [{"role": "bot", "content": "x"}]}\n',
        encoding="utf-8",
    )
    out, rejects, report = tmp_path / "o.jsonl", tmp_path / "r.jsonl", tmp_path / "report.json"
    done = run(
        "split", str(data), "-o", str(out), "--rejects", str(rejects), "--report", str(report)
    )
    assert done.returncode == 3
    warning = done.stderr.decode().splitlines()[-3:]
    assert warning[0] == f"warning: 2 records rejected (written to {rejects}):"
    assert warning[1].startswith(f"  {data}:2: invalid JSON: ")  # the wording is orjson's
    assert warning[2].startswith(f"  {data}:3: message 0: field 'role': expected one of ")
    assert len(out.read_bytes().splitlines()) == 1
    bad = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(b["line"], b["record"]) for b in bad] == [
        (2, "{not json"),
        (3, '{"messages": [{"role": "bot", "content": "x"}]}'),
    ]
    assert bad[1]["field"] == "role"
    accounting = json.loads(report.read_text())
    assert accounting["records"] == 3 == accounting["conversations"] + accounting["rejected"]
    assert accounting["assistant_turns"] == accounting["targeted"] + sum(
        accounting["skipped"].values()
    )


def test_strict_stops_at_the_first_bad_record_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"messages": [{"role": "bot", "content": "x"}]}\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    done = run("split", str(data), "-o", str(out), "--strict")
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"error: {data} line 1: message 0: field 'role': expected one of system, developer, "
        "user, assistant, tool; got 'bot' (map it: --role-map bot=assistant)\n"
    )
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [data]


def test_role_map_reads_unknown_roles(tmp_path: Path) -> None:
    data = tmp_path / "bot.jsonl"
    data.write_text(
        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Yo"}]}\n',
        encoding="utf-8",
    )
    out = tmp_path / "o.jsonl"
    assert run("split", str(data), "-o", str(out), "--role-map", "bot=assistant").returncode == 0
    assert json.loads(out.read_text())["messages"][1] == {"role": "assistant", "content": "Yo"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--turns", "3"],
            "error: --turns goes with --window last-turns\n(see 'convsplit split --help')\n",
        ),
        (
            ["--carry-tokens", "9"],
            "error: --carry-tokens goes with --window chunks\n(see 'convsplit split --help')\n",
        ),
        (
            ["--max-tokens", "0"],
            "error: argument --max-tokens: expected a whole number >= 1; got '0'\n(see 'convsplit split --help')\n",
        ),
        (
            ["--role-map", "bot"],
            "error: --role-map takes KEY=VALUE; got 'bot'\n(see 'convsplit split --help')\n",
        ),
        (
            ["--encoding", "o200k_base", "--model", "gpt-4o"],
            "error: argument --model: not allowed with argument --encoding\n(see 'convsplit split --help')\n",
        ),
    ],
)
def test_conflicting_options_are_rejected_before_any_work(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = run("split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl"), *args)
    assert (done.returncode, done.stderr.decode()) == (2, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere.jsonl"], "error: nowhere.jsonl: no such file\n"),
        (
            ["*.nothing"],
            "error: *.nothing: no file matches this pattern (and no file has this name)\n",
        ),
    ],
)
def test_errors_are_one_line_without_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = run("split", *args, "-o", str(tmp_path / "o.jsonl"), cwd=tmp_path)
    assert (done.returncode, done.stderr.decode()) == (1, message)


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (["-o", "in.jsonl"], "-o and an input file both name in.jsonl"),
        (["-o", "./sub/../in.jsonl", "--jobs", "2"], "-o and an input file both name"),
        (["-o", "s.jsonl", "--rejects", "s.jsonl"], "--rejects and -o both name s.jsonl"),
        (["-o", "s.jsonl", "--report", "s.jsonl"], "--report and -o both name s.jsonl"),
        (["-o", "s.jsonl", "--rejects", "in.jsonl"], "--rejects and an input file both"),
        (["-o", "-", "--rejects", "-"], "--rejects and -o both name standard output"),
    ],
)
def test_outputs_that_would_overwrite_an_input_or_each_other_are_refused(
    tmp_path: Path, outputs: list[str], message: str
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [conversation(0, 2)])
    (tmp_path / "sub").mkdir()
    before = data.read_bytes()
    done = run("split", "in.jsonl", *outputs, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.decode().startswith(f"error: {message}")
    assert done.stderr.decode().endswith("; nothing was written\n")
    assert data.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "sub"]


def test_a_report_that_cannot_be_written_fails_before_any_work(tmp_path: Path) -> None:
    report = tmp_path / "missing" / "report.json"
    done = run("split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl"), "--report", str(report))
    assert (done.returncode, done.stderr.decode()) == (
        1,
        f"error: cannot write {report}: No such file or directory; nothing was written\n",
    )
    assert list(tmp_path.iterdir()) == []  # no samples without their accounting


def test_devices_may_take_every_output(tmp_path: Path) -> None:
    devnull = "/dev/null"
    if not Path(devnull).exists():
        pytest.skip("needs /dev/null")
    outputs = ["-o", devnull, "--rejects", devnull, "--report", devnull]
    done = run("split", str(EXAMPLES), *outputs, "--max-tokens", "200")
    assert done.returncode == 0, done.stderr
    assert Path(devnull).is_char_device()


def test_help_shows_an_example() -> None:
    for args in (["--help"], ["split", "--help"]):
        done = run(*args)
        assert done.returncode == 0
        assert b"Example:" in done.stdout


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_an_interrupted_run_leaves_no_file_under_the_output_name(
    tmp_path: Path, sig: signal.Signals
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [conversation(k, 20) for k in range(1500)])
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "convsplit",
            "split",
            str(data),
            "-o",
            str(out),
            "--max-tokens",
            "2048",
        ],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".partial") and p.stat().st_size > 0 for p in tmp_path.iterdir()):
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert not out.exists()
    if sig == signal.SIGINT:
        assert stderr.decode().endswith("error: interrupted; no output was written\n")
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    done = run("split", str(data), "-o", str(out), "--max-tokens", "2048")
    assert done.returncode == 0
    again = tmp_path / "again.jsonl"
    run("split", str(data), "-o", str(again), "--max-tokens", "2048")
    assert out.read_bytes() == again.read_bytes()


def test_jobs_two_rejects_exactly_what_jobs_one_rejects(tmp_path: Path) -> None:
    """Worker processes parse what the parent only cut: same rejects, same lines."""
    good = [json.dumps(conversation(k, 3)) for k in range(200)]
    bad = ["{oops", "null", "[1]", '{"messages": [{"role": "bot"}]}']
    data = tmp_path / "mixed.jsonl"
    data.write_text("\n".join(good[:100] + bad + good[100:]) + "\n", encoding="utf-8")
    outputs = []
    for jobs in ("1", "2"):
        out, rejects = tmp_path / f"o{jobs}.jsonl", tmp_path / f"r{jobs}.jsonl"
        done = run("split", str(data), "-o", str(out), "--rejects", str(rejects), "--jobs", jobs)
        assert done.returncode == 3
        outputs.append((out.read_bytes(), rejects.read_bytes()))
    assert outputs[0] == outputs[1]
    assert [json.loads(line)["line"] for line in outputs[0][1].splitlines()] == [101, 102, 103, 104]
