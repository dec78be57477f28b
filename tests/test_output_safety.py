"""Outputs that must not destroy data: descriptors written through, temporary names that fit
and are never read back, temporaries removed on any exception, names that look like globs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from convsplit.errors import InvalidConversationError, OutputError
from convsplit.run.inputs import expand_inputs
from convsplit.run.output import AtomicOutput, check_targets, is_temporary, open_descriptor

ROOT = Path(__file__).resolve().parents[1]
LINE = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
NAME_MAX = 255


def conversations(path: Path, count: int = 5) -> Path:
    path.write_text((json.dumps(LINE) + "\n") * count)
    return path


def convsplit(
    *args: str, stdout: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "convsplit", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


# -- descriptors -------------------------------------------------------------------------------


def descriptor_names(tmp_path: Path) -> list[str]:
    names = ["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]
    link = tmp_path / "latest.jsonl"
    link.symlink_to("/dev/stdout")  # a link of the user's own, leading to a descriptor
    return [n for n in names if n == "-" or os.path.exists(n)] + [str(link)]


@pytest.mark.skipif(not Path("/dev/stdout").exists(), reason="needs /dev/stdout")
def test_output_to_a_descriptor_appends_to_the_file_the_shell_opened(tmp_path: Path) -> None:
    """``-o /dev/stdout >> run.log``: the log is kept, the samples appended after it."""
    data = conversations(tmp_path / "in.jsonl")
    for name in descriptor_names(tmp_path):
        log = tmp_path / "run.log"
        log.write_bytes(b"earlier\n")
        inode = log.stat().st_ino
        with open(log, "ab") as append:
            done = convsplit("split", str(data), "-o", name, stdout=append.fileno())
        assert done.returncode == 0, (name, done.stderr)
        lines = log.read_bytes().splitlines()
        assert lines[0] == b"earlier", name
        assert len(lines) == 1 + 5 and all(json.loads(line) for line in lines[1:]), name
        assert log.stat().st_ino == inode, name  # the same file, not one renamed over it
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "latest.jsonl", "run.log"]


@pytest.mark.skipif(not Path("/dev/fd").exists(), reason="needs /dev/fd")
def test_a_descriptor_of_this_process_is_written_in_place_at_its_position(tmp_path: Path) -> None:
    target = tmp_path / "log.txt"
    target.write_bytes(b"kept\n")
    with open(target, "ab") as held:
        assert open_descriptor(f"/dev/fd/{held.fileno()}") == held.fileno()
        for k in range(2):
            with AtomicOutput(f"/dev/fd/{held.fileno()}") as out:
                assert out.positional_path is None  # nothing to write at offsets
                out.write_chunks([b"run ", str(k).encode(), b"\n"])
        held.write(b"after\n")  # the descriptor is still open and where it was
    assert target.read_bytes() == b"kept\nrun 0\nrun 1\nafter\n"
    assert open_descriptor(target) is None
    assert open_descriptor(tmp_path / "absent.jsonl") is None


def test_a_descriptor_that_is_not_open_is_a_clear_error(tmp_path: Path) -> None:
    free = os.open(os.devnull, os.O_RDONLY)
    os.close(free)  # a number no descriptor has now
    expected = rf"cannot write /dev/fd/{free}: Bad file descriptor"
    with pytest.raises(OutputError, match=expected), AtomicOutput(f"/dev/fd/{free}"):
        pass


@pytest.mark.skipif(not Path("/dev/stdout").exists(), reason="needs /dev/stdout")
@pytest.mark.parametrize("output", ["-", "/dev/stdout"])
def test_standard_output_redirected_onto_an_input_is_refused(tmp_path: Path, output: str) -> None:
    """``convsplit split data.jsonl -o - >> data.jsonl`` would read its own samples back."""
    data = conversations(tmp_path / "data.jsonl")
    before = data.read_bytes()
    with open(data, "ab") as append:
        done = convsplit("split", str(data), "-o", output, stdout=append.fileno())
    where = "standard output" if output == "-" else output
    assert (done.returncode, done.stderr.decode()) == (
        1,
        f"error: -o and an input file both name {where}; nothing was written\n",
    )
    assert data.read_bytes() == before


# -- temporary names ---------------------------------------------------------------------------


def long_name(tmp_path: Path, stem: str, suffix: str) -> Path:
    """A name of exactly 255 bytes (the most Linux file systems take)."""
    room = NAME_MAX - len(suffix.encode())
    name = (stem * room)[:room]
    while len(name.encode()) > room:
        name = name[:-1]
    name += "x" * (room - len(name.encode())) + suffix
    assert len(name.encode()) == NAME_MAX
    return tmp_path / name


def test_names_of_255_bytes_work_for_the_output_the_rejects_and_the_report(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps(LINE) + "\n" + '{"messages": 1}\n')
    output = long_name(tmp_path, "s", ".jsonl")
    rejects = long_name(tmp_path, "é", ".jsonl")  # two bytes a character: cut between them
    report = long_name(tmp_path, "r", ".json")
    done = convsplit(
        "split", str(data), "-o", str(output), "--rejects", str(rejects), "--report", str(report)
    )
    assert done.returncode == 3, done.stderr  # one record rejected
    assert output.read_bytes().count(b"\n") == 1
    assert json.loads(rejects.read_text())["line"] == 2
    assert json.loads(report.read_text())["rejected"] == 1
    assert sorted(tmp_path.iterdir()) == sorted([data, output, rejects, report])


def test_the_temporary_is_recognised_and_fits_whatever_the_name(tmp_path: Path) -> None:
    for target in (
        tmp_path / "out.jsonl",
        long_name(tmp_path, "a", ".jsonl"),
        long_name(tmp_path, "日本", ".jsonl.gz"),
    ):
        with AtomicOutput(target) as out:
            out.write(b"x\n")
            (temporary,) = [p for p in tmp_path.iterdir() if p.name != target.name]
            assert is_temporary(temporary.name), temporary.name
            assert len(temporary.name.encode()) <= NAME_MAX
            temporary.name.encode()  # whole characters, never half of one
        assert sorted(tmp_path.iterdir()) == [target]
        target.unlink()
    assert not is_temporary("out.jsonl") and not is_temporary(".out.jsonl.partial")


def test_searches_never_read_temporaries_but_a_name_given_is_read(tmp_path: Path) -> None:
    """A killed run leaves ``.NAME.XXXXXXXX.partial`` files and folders: never inputs."""
    data = tmp_path / "data"
    (data / ".samples.abcd1234.partial").mkdir(parents=True)
    left = conversations(data / ".samples.abcd1234.partial" / "part-00000.jsonl")
    stray = conversations(data / ".b.jsonl.k2x9a0qe.partial.jsonl")  # not a temporary name
    mine = conversations(data / "a.jsonl")
    leftover = conversations(data / ".a.jsonl.k2x9a0qe.partial")
    assert expand_inputs([data]) == [str(stray), str(mine)]
    assert expand_inputs([f"{data}/*.jsonl"]) == [str(mine)]
    with pytest.raises(InvalidConversationError, match="matches only temporary files"):
        expand_inputs([f"{data}/.*/*.jsonl"])
    assert expand_inputs([f"{data}/.*"]) == [str(stray)]
    assert expand_inputs([left, leftover]) == [str(left), str(leftover)]  # named: read
    assert expand_inputs([f"{data}/.samples.abcd1234.partial/*.jsonl"]) == [str(left)]


def test_a_file_named_like_a_pattern_is_read_as_named(tmp_path: Path) -> None:
    literal = conversations(tmp_path / "chat[1].jsonl")
    other = conversations(tmp_path / "chat1.jsonl")
    assert expand_inputs([literal]) == [str(literal)]
    assert expand_inputs([tmp_path / "chat[12].jsonl"]) == [str(other)]  # no such file: a pattern
    with pytest.raises(InvalidConversationError, match="no file matches this pattern"):
        expand_inputs([tmp_path / "chat[23].jsonl"])
    done = convsplit("split", str(literal), "-o", "-")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(b"\n") == 5


# -- temporaries removed on any exception ------------------------------------------------------


@pytest.mark.parametrize("error", [SystemExit, KeyboardInterrupt, MemoryError])
def test_any_exception_leaves_neither_the_output_nor_its_temporary(
    tmp_path: Path, error: type[BaseException]
) -> None:
    with pytest.raises(error), AtomicOutput(tmp_path / "out.jsonl") as out:
        out.write(b"partial\n")
        raise error
    assert list(tmp_path.iterdir()) == []


def test_sigterm_turned_into_an_exception_removes_the_temporary(tmp_path: Path) -> None:
    """As the command line does: SIGTERM raises in the main thread, mid-write."""
    script = tmp_path / "writer.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import signal, sys
            from convsplit.run.output import AtomicOutput

            def stop(number, frame):
                raise SystemExit(128 + number)

            signal.signal(signal.SIGTERM, stop)
            with AtomicOutput({str(tmp_path / "out" / "samples.jsonl")!r}) as out:
                while True:
                    out.write(b"x" * 4096 + b"\\n")
            """
        )
    )
    (tmp_path / "out").mkdir()
    process = subprocess.Popen(
        [sys.executable, str(script)], env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        deadline = time.monotonic() + 60
        while not any((tmp_path / "out").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # well into writing
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        process.kill()
    assert list((tmp_path / "out").iterdir()) == []


# -- outputs against inputs, with an output folder ---------------------------------------------


def test_an_output_folder_may_hold_no_input_and_no_other_output(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    part = conversations(samples / "part-00000.jsonl")
    data = conversations(tmp_path / "data.jsonl")
    (tmp_path / "link").symlink_to(samples)
    held = "holds an input file, {}, and the run replaces what the folder holds"
    for folder, found in ((samples, part), (tmp_path / "link", part), (tmp_path, data)):
        with pytest.raises(OutputError, match=held.format(found).replace("[", r"\[")):
            check_targets({}, [str(found)], folders={"-o": folder})
    with pytest.raises(OutputError, match=f"-o and an input file both name {data}"):
        check_targets({}, [str(data)], folders={"-o": data})
    with pytest.raises(
        OutputError,
        match=rf"--rejects {samples}/r.jsonl is inside -o {samples}, whose content the run "
        "replaces; write --rejects outside it",
    ):
        check_targets({"--rejects": samples / "r.jsonl"}, [str(data)], folders={"-o": samples})
    with pytest.raises(OutputError, match=f"--report and -o both name {samples}"):
        check_targets({"--report": samples}, [], folders={"-o": samples})
    check_targets(
        {"--rejects": tmp_path / "r.jsonl", "--report": "-"},
        [str(data)],
        folders={"-o": tmp_path / "samples-2"},
    )
