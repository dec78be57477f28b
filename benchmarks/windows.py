"""Many windows in one pass: ``split -o 'out-{max_tokens}.jsonl'`` with K windows against
one window's run.

Counts do not depend on the window, so a sweep over window sizes need not parse and count
each record K times: the K-window run reads and counts once and writes every window's file.
This times, as whole processes and interleaved (K windows, one window, K windows, ...),
the K-window run against the run of ``--single`` alone, and reports medians and the
median of the pairwise ratios (the issue's target: K = 4 in less than 2x one window).

    python benchmarks/windows.py --megabytes 20
    python benchmarks/windows.py --megabytes 0.2 --windows 512 1024 --repeat 1   # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import harness

COLUMNS = ["run", "windows", "median_s", "min_s", "max_s", "median_cpu_s", "output_mb"]


def measure(args: argparse.Namespace) -> tuple[list[dict[str, Any]], float]:
    """One row per run kind; and the median of the pairwise time ratios."""
    corpus = Path(args.corpus) if args.corpus else harness.corpus(args.megabytes, seed=args.seed)
    env = harness.child_env(harness.vocabulary_cache())
    work = harness.scratch()
    base = [sys.executable, "-m", "convsplit", "split", str(corpus)]
    many = [*base, "-o", str(work / "windows-{max_tokens}.jsonl")]
    for n in args.windows:
        many += ["--max-tokens", str(n)]
    one = [*base, "-o", str(work / "window-single.jsonl"), "--max-tokens", str(args.single)]
    runs: dict[str, list[harness.Run]] = {"many": [], "one": []}
    sizes: dict[str, float] = {}
    for _ in range(max(1, args.repeat)):
        for kind, cmd in (("many", many), ("one", one)):
            harness.settle()
            runs[kind].append(harness.run(cmd, env=env))
            outputs = (
                [work / f"windows-{n}.jsonl" for n in args.windows]
                if kind == "many"
                else [work / "window-single.jsonl"]
            )
            sizes[kind] = sum(p.stat().st_size for p in outputs) / 1e6
            for path in outputs:
                path.unlink()
            print(f"{kind:>4} {runs[kind][-1].seconds:8.2f} s", file=sys.stderr)
    rows = []
    for kind, label in (("many", " ".join(map(str, args.windows))), ("one", str(args.single))):
        seconds = [r.seconds for r in runs[kind]]
        rows.append({
            "run": "one pass, K windows" if kind == "many" else "one window",
            "windows": label,
            "median_s": round(statistics.median(seconds), 3),
            "min_s": round(min(seconds), 3),
            "max_s": round(max(seconds), 3),
            "median_cpu_s": round(statistics.median(r.cpu_seconds for r in runs[kind]), 3),
            "output_mb": round(sizes[kind], 1),
        })  # fmt: skip
    ratio = statistics.median(
        a.seconds / b.seconds for a, b in zip(runs["many"], runs["one"], strict=True)
    )
    return rows, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=20.0, help="corpus size (default 20)")
    parser.add_argument("--corpus", help="use this OpenAI JSONL file instead of generating one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--windows", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--single", type=int, default=4096, help="the one window's run")
    parser.add_argument("--repeat", type=int, default=5, help="pairs of runs (default 5)")
    parser.add_argument("--output-dir", type=Path, default=harness.RESULTS)
    args = parser.parse_args()
    note = harness.provenance()
    rows, ratio = measure(args)
    k = len(args.windows)
    verdict = (
        f"{k} windows in one pass: {ratio:.2f}x the time of one window's run (median of "
        f"{max(1, args.repeat)} interleaved pairs; target < 2 for K = 4)"
        + ((" met" if ratio < 2 else " MISSED") if k == 4 else "")
    )
    harness.publish(rows, COLUMNS, args.output_dir, "windows", note=note, verdicts=[verdict])


if __name__ == "__main__":
    main()
