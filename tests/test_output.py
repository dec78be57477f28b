"""Output files: atomic, in order, and every write error reported, though written on a thread."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from convsplit.output import AtomicOutput, write_pieces


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
        write_pieces(out.fileno(), pieces)
    assert target.read_bytes() == b"".join(pieces)


_SHORT_WRITE = """
import os, resource, signal, sys
from convsplit.output import write_pieces
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
pieces = [bytes([65 + k % 26]) * 1000 for k in range(300)]
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
try:
    write_pieces(fd, pieces)
except OSError as error:
    print(error.strerror)
"""


def test_a_short_write_goes_on_where_it_stopped_then_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    done = subprocess.run(
        [sys.executable, "-c", _SHORT_WRITE, str(target)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "File too large\n"
    expected = b"".join(bytes([65 + k % 26]) * 1000 for k in range(300))
    assert target.read_bytes() == expected[:200_000]  # writev stopped at the limit, in order
