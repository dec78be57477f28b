"""Output files: atomic, in order, and every write error reported, though written on a thread."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from convsplit.errors import OutputError
from convsplit.run import _writeback
from convsplit.run._writeback import Writeback, write_pieces
from convsplit.run.output import AtomicOutput, check_targets


def test_chunks_arrive_in_order_and_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    expected = bytearray()
    with AtomicOutput(target) as out:
        for k in range(2000):  # far more than the queue holds
            chunks = [f"{k}:".encode(), b"x" * (k % 7), b"\n"]
            out.write_chunks(chunks)
            expected += b"".join(chunks)
            if k == 1000:
                out.write(b"")  # nothing to write is fine
        assert not target.exists()  # still under its temporary name
    assert target.read_bytes() == bytes(expected)
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_gzip_output_is_the_same_bytes_every_run(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    for target in (first, second):
        with AtomicOutput(target) as out:
            for k in range(100):
                out.write_chunks([b'{"k":', str(k).encode(), b"}\n"])
    assert first.read_bytes() == second.read_bytes()
    assert gzip.decompress(first.read_bytes()).count(b"\n") == 100


def test_the_switch_interval_is_short_while_writing_and_put_back_after(tmp_path: Path) -> None:
    before = sys.getswitchinterval()
    try:
        with AtomicOutput(tmp_path / "a.jsonl") as out:
            assert sys.getswitchinterval() < before  # the writer gets the GIL back sooner
            with pytest.raises(RuntimeError), AtomicOutput(tmp_path / "b.jsonl"):
                raise RuntimeError  # a failed output puts it back too, as it found it
            assert sys.getswitchinterval() < before
            out.write(b"x\n")
        assert sys.getswitchinterval() == before
        with AtomicOutput(tmp_path / "c.jsonl"):
            sys.setswitchinterval(0.02)  # the caller's own choice stays
        assert sys.getswitchinterval() == 0.02
    finally:
        sys.setswitchinterval(before)


def _writer_threads() -> int:
    return sum(t.name == "convsplit-writer" for t in threading.enumerate())


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("failure", ["interrupt", "opening", "writing", "closing"])
def test_the_interpreter_is_left_as_found_whatever_fails(tmp_path: Path, failure: str) -> None:
    """No change outlives an output: the switch interval and the writer thread are gone after
    an interrupt inside the block, a target that cannot be opened, a write that fails, and a
    failure to rename into place."""
    before = sys.getswitchinterval()
    threads = _writer_threads()
    target = {"opening": tmp_path, "writing": Path("/dev/full")}.get(failure, tmp_path / "o")
    kind: type[BaseException] = KeyboardInterrupt if failure == "interrupt" else OutputError
    with pytest.raises(kind), AtomicOutput(target) as out:
        out.write(b"x" * 100_000)
        if failure == "interrupt":
            raise KeyboardInterrupt
        if failure == "writing":
            while True:  # the error comes back at a later write
                out.write(b"x" * 100_000)
        if failure == "closing":
            (tmp_path / "o").mkdir()  # renaming a file over a folder fails
    assert (sys.getswitchinterval(), _writer_threads()) == (before, threads)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["o"] if failure == "closing" else [])


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz", "-"])
def test_with_the_switch_off_the_same_bytes_are_written_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes],
    name: str,
) -> None:  # fmt: skip
    """``_writeback.ENABLED = False``: no thread, no change to the interpreter, and the same
    bytes as the fast path, written to a file, through gzip or to standard output."""
    pieces = [[f"{k}:".encode(), b"z" * (k % 13), b"\n"] for k in range(3000)]
    written = []
    for enabled in (True, False):
        monkeypatch.setattr(_writeback, "ENABLED", enabled)
        target = "-" if name == "-" else str(tmp_path / f"{enabled}-{name}")
        before = sys.getswitchinterval()
        with AtomicOutput(target) as out:
            assert (sys.getswitchinterval() == before) is not enabled
            assert (_writer_threads() > 0) is enabled
            for chunks in pieces:
                out.write_chunks(chunks)
        written.append(capfdbinary.readouterr().out if name == "-" else Path(target).read_bytes())
    assert written[0] == written[1]
    expected = b"".join(b"".join(chunks) for chunks in pieces)
    assert (gzip.decompress(written[0]) if name.endswith(".gz") else written[0]) == expected


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_with_the_switch_off_a_failed_write_is_the_same_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_writeback, "ENABLED", False)
    message = "cannot write /dev/full: No space left on device"
    with pytest.raises(OutputError, match=message), AtomicOutput("/dev/full") as out:
        for _ in range(100):  # past Python's buffer
            out.write(b"x" * 100_000)


def test_with_the_switch_off_no_advice_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advised: list[int] = []
    monkeypatch.setattr(os, "posix_fadvise", lambda *args: advised.append(1), raising=False)
    monkeypatch.setattr(_writeback, "ENABLED", False)
    with open(tmp_path / "out.bin", "wb") as out:
        writeback = Writeback(out.fileno(), keep=1, step=1)
        out.write(b"x" * 10)
        writeback.wrote(0, 10)
    assert advised == []


def _read_fifo(path: Path) -> tuple[threading.Thread, list[bytes]]:
    """A thread reading the FIFO ``path`` to its end (a pipe needs a reader to be written)."""
    got: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as fifo:
            got.append(fifo.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, got


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")
@pytest.mark.parametrize("name", ["pipe", "pipe.gz"])
def test_a_pipe_is_written_as_it_is_never_replaced_by_a_file(tmp_path: Path, name: str) -> None:
    target = tmp_path / name  # as /dev/null or a process substitution would be
    os.mkfifo(target)
    reader, got = _read_fifo(target)
    with AtomicOutput(target) as out:
        assert out.positional_path is None  # no offsets in a pipe: --jobs sends bytes back
        for k in range(3000):
            out.write_chunks([f"{k}:".encode(), b"y" * (k % 11), b"\n"])
    reader.join(timeout=30)
    expected = b"".join(f"{k}:".encode() + b"y" * (k % 11) + b"\n" for k in range(3000))
    assert got and (gzip.decompress(got[0]) if name.endswith(".gz") else got[0]) == expected
    assert stat.S_ISFIFO(target.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary left


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_split_writes_into_a_pipe_with_any_number_of_jobs(tmp_path: Path, jobs: str) -> None:
    data = tmp_path / "in.jsonl"
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    data.write_text((json.dumps(line) + "\n") * 50)
    target = tmp_path / "pipe"
    os.mkfifo(target)
    reader, got = _read_fifo(target)
    command = [sys.executable, "-m", "convsplit", "split", str(data), "-o", str(target)]
    subprocess.run([*command, "--jobs", jobs], check=True, capture_output=True, timeout=120)
    reader.join(timeout=30)
    assert got and got[0].count(b"\n") == 50
    assert stat.S_ISFIFO(target.stat().st_mode)


def test_a_link_is_written_through_to_its_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    real, link = tmp_path / "data" / "samples.jsonl", tmp_path / "latest.jsonl"
    real.write_bytes(b"old\n")
    link.symlink_to(real)
    with AtomicOutput(link) as out:
        out.write(b"new\n")
    assert link.is_symlink() and link.read_bytes() == b"new\n"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["samples.jsonl"]


def test_a_file_written_over_keeps_its_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o027)
    try:
        with AtomicOutput(tmp_path / "new.jsonl") as out:
            out.write(b"x\n")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.jsonl").stat().st_mode) == 0o640  # as open() makes it
    target = tmp_path / "private.jsonl"
    target.write_bytes(b"old\n")
    target.chmod(0o604)
    with AtomicOutput(target) as out:
        out.write(b"new\n")
    assert (target.read_bytes(), stat.S_IMODE(target.stat().st_mode)) == (b"new\n", 0o604)


def test_outputs_are_told_apart_through_links_and_spellings(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("{}\n")
    (tmp_path / "link.jsonl").symlink_to(data)
    with pytest.raises(OutputError, match=r"output and an input file both name .*link\.jsonl"):
        check_targets({"output": tmp_path / "link.jsonl"}, [str(data)])
    spelled = str(tmp_path / "x" / ".." / "new.jsonl")  # not there yet: by its resolved path
    with pytest.raises(OutputError, match="rejects and output both name"):
        check_targets({"output": tmp_path / "new.jsonl", "rejects": spelled})
    check_targets({"output": tmp_path / "a.jsonl", "rejects": tmp_path / "b.jsonl"}, [str(data)])
    check_targets({"output": "-", "rejects": None}, ["-"])  # stdin in, stdout out


def test_a_folder_as_target_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=f"cannot write {tmp_path}"), AtomicOutput(tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []


def test_an_error_inside_the_block_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt), AtomicOutput(target) as out:
        out.write(b"partial\n")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_failed_write_on_the_writer_thread_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    line = {"messages": [{"role": "user", "content": "hi " * 50},
                         {"role": "assistant", "content": "yo " * 50}]}  # fmt: skip
    data.write_text(json.dumps(line) + "\n")
    with open("/dev/full", "wb") as full:  # every write fails: ENOSPC
        done = subprocess.run(
            [sys.executable, "-m", "convsplit", "split", str(data), "-o", "-"],
            stdout=full,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert (done.returncode, done.stderr.decode()) == (
        1,
        "error: cannot write -: No space left on device; nothing was written\n",
    )


def test_pieces_are_written_in_order_past_the_writev_limit(tmp_path: Path) -> None:
    pieces = [f"{k}|".encode() * (k % 5) for k in range(5000)]  # > 4 writev batches
    target = tmp_path / "out.bin"
    with open(target, "wb") as out:
        assert write_pieces(out.fileno(), pieces) == len(b"".join(pieces))
    assert target.read_bytes() == b"".join(pieces)


def test_pieces_go_at_an_offset_without_moving_the_file_position(tmp_path: Path) -> None:
    pieces = [f"{k}|".encode() * (k % 5) for k in range(5000)]
    data = b"".join(pieces)
    target = tmp_path / "out.bin"
    target.write_bytes(b"-" * 10)
    with open(target, "r+b") as out:
        assert write_pieces(out.fileno(), pieces, 7) == len(data)
        assert out.tell() == 0
    assert target.read_bytes() == b"-" * 7 + data


_SHORT_WRITE = """
import os, resource, signal, sys
from convsplit.run._writeback import write_pieces
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
pieces = [bytes([65 + k % 26]) * 1000 for k in range(300)]
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
offset = int(sys.argv[2])
if offset:
    os.write(fd, b"-" * offset)
try:
    write_pieces(fd, pieces, offset if offset else None)
except OSError as error:
    print(error.strerror)
"""


@pytest.mark.parametrize("offset", [0, 1500])
def test_a_short_write_goes_on_where_it_stopped_then_fails_cleanly(
    tmp_path: Path, offset: int
) -> None:
    target = tmp_path / "out.bin"
    done = subprocess.run(
        [sys.executable, "-c", _SHORT_WRITE, str(target), str(offset)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "File too large\n"
    expected = b"".join(bytes([65 + k % 26]) * 1000 for k in range(300))
    # writev stopped at the limit, in order; pwritev (at an offset) the same
    assert target.read_bytes() == b"-" * offset + expected[: 200_000 - offset]


@pytest.mark.parametrize("offset", [None, 5])
def test_the_rest_of_a_short_write_lands_right_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offset: int | None
) -> None:
    """A vector write that stops mid-piece (as a signal can make it) is completed in place."""
    real_writev, real_pwritev = os.writev, os.pwritev

    def short(buffers: list[bytes]) -> list[bytes]:  # the first 2.5 pieces only
        return [*buffers[:2], buffers[2][: len(buffers[2]) // 2]]

    monkeypatch.setattr(os, "writev", lambda fd, b: real_writev(fd, short(b)))
    monkeypatch.setattr(os, "pwritev", lambda fd, b, at: real_pwritev(fd, short(b), at))
    pieces = [bytes([65 + k]) * (10 + k) for k in range(6)]
    target = tmp_path / "out.bin"
    target.write_bytes(b"-" * 5 if offset else b"")
    with open(target, "r+b" if offset else "wb") as out:
        assert write_pieces(out.fileno(), pieces, offset) == sum(map(len, pieces))
    assert target.read_bytes() == b"-" * (offset or 0) + b"".join(pieces)


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_writeback_hands_each_range_to_the_disk_then_drops_it_once_far_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.posix_fadvise
    advised: list[tuple[int, int]] = []

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_DONTNEED
        advised.append((offset, offset + length))
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", record)
    with open(tmp_path / "out.bin", "wb") as out:
        writeback = Writeback(out.fileno(), keep=25, step=1)
        for start in range(0, 60, 10):
            out.write(b"x" * 10)
            out.flush()
            writeback.wrote(start, start + 10)
    # Each range once when written (write-back starts), again once 25 more bytes are.
    assert advised == [
        (0, 10), (10, 20), (20, 30), (0, 10), (30, 40), (10, 20),
        (40, 50), (20, 30), (50, 60), (30, 40),
    ]  # fmt: skip


def test_writeback_leaves_a_pipe_alone() -> None:
    read, write = os.pipe()
    try:
        writeback = Writeback(write)
        os.write(write, b"abc")
        writeback.wrote(0, 3)  # ESPIPE: switched off, not raised
        writeback.wrote(3, 6)
        assert os.read(read, 3) == b"abc"
    finally:
        os.close(read)
        os.close(write)


def test_the_writer_finishes_after_an_exception_anywhere_in_a_hand_over(tmp_path: Path) -> None:
    """A signal becomes an exception in the main thread between any two of its steps
    (:mod:`convsplit.run.interrupts`), inside ``put`` too. Whichever step it lands on, the
    clean-up's ``finish`` must still stop the writer, and the file holds whole puts only.
    The exception is raised here from a trace function, at each event of ``put`` in turn
    (calls, lines and returns, into the threading or queue code it uses as well)."""
    step = 0
    checked = 0
    while True:
        step += 1
        path = tmp_path / f"out-{step}"
        with open(path, "wb") as file:
            writer = _writeback.start_writer(file, file.fileno(), advise=False)
            writer.put([b"a" * 10])
            events = 0

            def interrupt(frame: object, event: str, arg: object, at: int = step) -> object:
                nonlocal events
                events += 1
                if events == at:
                    raise KeyboardInterrupt
                return interrupt

            sys.settrace(interrupt)  # type: ignore[arg-type]
            try:
                writer.put([b"b" * 10, b"c" * 10])
            except KeyboardInterrupt:
                interrupted = True
            else:
                interrupted = False
            finally:
                sys.settrace(None)
            finisher = threading.Thread(target=writer.finish, daemon=True)
            finisher.start()
            finisher.join(timeout=10)
            assert not finisher.is_alive(), f"finish() hung after an exception at event {step}"
        assert path.read_bytes() in (b"a" * 10, b"a" * 10 + b"b" * 10 + b"c" * 10)
        if not interrupted:
            break
        checked += 1
    assert checked >= 3  # put() has steps an exception could land on
