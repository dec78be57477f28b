"""Throughput: ``convsplit split`` end to end against the floor and today's approaches.

Every contender is a whole ``python`` process on the same generated corpus, timed from
launch to exit (interpreter start and encoding load included for all):

- floor: parse every record and count every message once with the fastest exact counter
  installed, the one convsplit counts with (bpe-openai's Rust count), nothing else
  (``floor.py``);
- floor-tiktoken: the same, counting with tiktoken's ``encode_ordinary`` (the floor as it
  was defined up to commit 0ee2326);
- convsplit: ``python -m convsplit split`` (read, count, split, write), ``--jobs 1`` and 2;
- convsplit-tiktoken: the same, ``--jobs 1``, counting with tiktoken instead of the
  bpe-openai Rust counter (``CONVSPLIT_FAST_COUNT=0``): what the faster counter buys;
- naive: re-count the candidate history for each assistant turn (``naive_split.py``);
- langchain: ``trim_messages(strategy="last")`` per assistant turn (``langchain_trim.py``;
  skipped with a message when langchain-core is not installed).

Each is reported in MB of input per second, samples per second, as a ratio to the floor
(floor time / its time: 1.0 is as fast as the floor) and as its time over the floor's
(``x_time``: the issue's "split time / floor time"; ``x_time_tiktoken`` against the
tiktoken floor). Times are the best of ``--repeat``
runs (the slow contenders run once). Writes ``throughput.csv`` and ``throughput.md``.

    python benchmarks/throughput.py --megabytes 50
    python benchmarks/throughput.py --megabytes 0.3 --windows 1024 --repeat 1   # a smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import harness

COLUMNS = [
    "max_tokens",
    "contender",
    "seconds",
    "cpu_s",
    "mb_per_s",
    "samples",
    "samples_per_s",
    "x_floor",
    "x_time",
    "x_time_tiktoken",
    "output_mb",
]
CONTENDERS = ("convsplit", "convsplit-jobs2", "convsplit-tiktoken", "naive", "langchain")
SLOW = {"naive", "langchain"}


def command(name: str, corpus: Path, output: Path, max_tokens: int, report: Path) -> list[str]:
    """The command line of one contender."""
    if name.startswith("convsplit"):
        jobs = "2" if name.endswith("jobs2") else "1"
        return [
            sys.executable,
            "-m",
            "convsplit",
            "split",
            str(corpus),
            "-o",
            str(output),
            "--max-tokens",
            str(max_tokens),
            "--jobs",
            jobs,
            "--report",
            str(report),
        ]
    script = {"naive": "naive_split.py", "langchain": "langchain_trim.py"}[name]
    return [
        sys.executable,
        str(harness.BENCHMARKS / script),
        str(corpus),
        "-o",
        str(output),
        "--max-tokens",
        str(max_tokens),
    ]


def samples_of(name: str, run: harness.Run, report: Path) -> int | None:
    """Samples written, from convsplit's ``--report`` or the script's JSON on stdout."""
    try:
        if name.startswith("convsplit"):
            return int(json.loads(report.read_text())["samples"])
        return int(json.loads(run.stdout)["samples"])
    except (OSError, ValueError, KeyError):
        return None


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run every contender at every window; one row each, the floor first.

    The floor runs next to the fast contenders in every round, and each window's
    contenders are measured against the best floor of that window's rounds: a busy moment
    on the machine then slows both, not one, and a machine that drifts over the run (this
    one can, by half) does not count against the windows measured last.
    """
    corpus = Path(args.corpus) if args.corpus else harness.corpus(args.megabytes, seed=args.seed)
    megabytes = corpus.stat().st_size / 1e6
    env = harness.child_env(harness.vocabulary_cache())
    work = harness.scratch()
    output, report = work / "throughput-out.jsonl", work / "throughput-report.json"
    print(f"corpus {corpus} ({megabytes:.1f} MB)", file=sys.stderr)
    floor_cmd = [sys.executable, str(harness.BENCHMARKS / "floor.py"), str(corpus)]
    floor_cmds = {"floor": floor_cmd, "floor-tiktoken": [*floor_cmd, "--counter", "tiktoken"]}
    contenders = [c for c in args.contenders if c != "langchain" or _has_langchain()]
    rows: list[dict[str, Any]] = []
    for max_tokens in args.windows:
        best: dict[str, tuple[harness.Run, int | None, float | None]] = {}
        floors: dict[str, list[harness.Run]] = {name: [] for name in floor_cmds}
        for round_ in range(max(1, args.repeat)):
            for name, cmd in floor_cmds.items():
                harness.settle()
                floors[name].append(harness.run(cmd, env=env))
                _show(max_tokens, name, floors[name][-1].seconds)
            for name in contenders:
                if name in SLOW and round_ > 0:
                    continue
                output.unlink(missing_ok=True)
                harness.settle()
                contender_env = {**env, "CONVSPLIT_FAST_COUNT": "0"} if "tiktoken" in name else env
                cmd = command(name, corpus, output, max_tokens, report)
                result = harness.run(cmd, env=contender_env)
                if name not in best or result.seconds < best[name][0].seconds:
                    out_mb = output.stat().st_size / 1e6 if output.exists() else None
                    best[name] = (result, samples_of(name, result, report), out_mb)
                output.unlink(missing_ok=True)
                _show(max_tokens, name, result.seconds)
        floor, plain = (min(floors[n], key=lambda r: r.seconds) for n in floor_cmds)
        for name, run in (("floor", floor), ("floor-tiktoken", plain)):
            rows.append(_row(max_tokens, name, run, megabytes=megabytes, floor=floor, plain=plain))
        for name in contenders:
            result, samples, out_mb = best[name]
            rows.append(
                _row(max_tokens, name, result, megabytes=megabytes, floor=floor, plain=plain,
                     samples=samples, output_mb=out_mb)
            )  # fmt: skip
    report.unlink(missing_ok=True)
    return rows


def _has_langchain() -> bool:
    if importlib.util.find_spec("langchain_core") is None:
        print("langchain: skipped (pip install langchain-core to include it)", file=sys.stderr)
        return False
    return True


def _row(
    max_tokens: int | str,
    name: str,
    run: harness.Run,
    *,
    megabytes: float,
    floor: harness.Run,
    plain: harness.Run,
    samples: int | None = None,
    output_mb: float | None = None,
) -> dict[str, Any]:
    return {
        "max_tokens": max_tokens,
        "contender": name,
        "seconds": round(run.seconds, 3),
        "cpu_s": round(run.cpu_seconds, 3),
        "mb_per_s": round(megabytes / run.seconds, 2),
        "samples": samples if samples is not None else "",
        "samples_per_s": round(samples / run.seconds) if samples else "",
        "x_floor": round(floor.seconds / run.seconds, 3),
        "x_time": round(run.seconds / floor.seconds, 3),
        "x_time_tiktoken": round(run.seconds / plain.seconds, 3),
        "output_mb": round(output_mb, 1) if output_mb is not None else "",
    }


def _show(max_tokens: int | str, name: str, seconds: float) -> None:
    print(f"{max_tokens!s:>6} {name:<16} {seconds:>9.2f} s", file=sys.stderr)


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, each with the measured figure and whether it was met."""
    by = {(r["max_tokens"], r["contender"]): r for r in rows}
    lines = []
    for (max_tokens, name), row in by.items():
        if name == "convsplit":
            target = " (target <= 1.25)" if max_tokens == 4096 else ""
            verdict = (" met" if row["x_time"] <= 1.25 else " MISSED") if target else ""
            lines.append(
                f"split at {max_tokens}: {row['x_time']:.2f}x the floor's time{target}{verdict}"
                f" ({row['x_time_tiktoken']:.2f}x the tiktoken floor's)"
            )
            two = by.get((max_tokens, "convsplit-jobs2"))
            if two:
                speedup = row["seconds"] / two["seconds"]
                lines.append(
                    f"--jobs 2 at {max_tokens}: {speedup:.2f}x --jobs 1 (target >= 1.6)"
                    f" {'met' if speedup >= 1.6 else 'MISSED'}"
                )
            plain = by.get((max_tokens, "convsplit-tiktoken"))
            if plain:
                lines.append(
                    f"split at {max_tokens}, counting with tiktoken: {plain['x_floor']:.2f}x"
                    " the floor (what the Rust counter buys; no target)"
                )
            for rival in ("naive", "langchain"):
                other = by.get((max_tokens, rival))
                if other:
                    ratio = other["seconds"] / row["seconds"]
                    target = (
                        " (target >= 30)" if rival == "langchain" and max_tokens == 4096 else ""
                    )
                    verdict = (" met" if ratio >= 30 else " MISSED") if target else ""
                    lines.append(
                        f"split at {max_tokens}: {ratio:.1f}x faster than {rival}{target}{verdict}"
                    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=50.0, help="corpus size (default 50)")
    parser.add_argument("--corpus", help="use this OpenAI JSONL file instead of generating one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--windows", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--repeat", type=int, default=3, help="runs of the fast contenders")
    parser.add_argument("--output-dir", type=Path, default=harness.RESULTS)
    args = parser.parse_args()
    note = harness.provenance()
    print(note, file=sys.stderr)
    rows = measure(args)
    harness.publish(
        rows, COLUMNS, args.output_dir, "throughput", note=note, verdicts=verdicts(rows)
    )


if __name__ == "__main__":
    main()
