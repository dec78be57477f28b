"""Memory: peak RSS of ``convsplit split`` on a small and a large input must be the same.

The pipeline streams, so its peak memory should not grow with the input. This runs
``python -m convsplit split`` (one process, ``--jobs 1``) on a generated corpus of
``--small`` and one of ``--large`` megabytes at each window, and compares the peak resident
set size of each process (``os.wait4``; the issue's target: large within 10% of small).
Samples go to standard output, sent to ``/dev/null``: writing gigabytes to disk would
measure the disk, not the pipeline's memory, and page cache is not RSS anyway.

It also splits one record of ``--long-messages`` short messages (200,000 by default, about
13 MB: a user and an assistant message in turn) and one of a quarter as many tool
call/result pairs (50,000), two to each question: memory must stay flat in the length of
one conversation too (the issue's target: under 500 MB at every window).

And it splits ``--distinct`` counts of records (30, 100 and 300 by default) that each hold
one distinct 1 MB message: the count cache must not keep every such text alive, so peak
RSS must stop growing once the cache's byte bound is reached (the issue's figures before
the bound: 142 / 214 / 418 MB).

The corpora are generated on the fly into the system's temporary folder and deleted after
the run (``--keep`` keeps them for the next run). Writes ``memory.csv`` and ``memory.md``.

    python benchmarks/memory.py                      # 5 MB against 500 MB
    python benchmarks/memory.py --small 0.1 --large 0.5 --windows 1024
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path
from typing import Any

import harness

COLUMNS = ["max_tokens", "input_mb", "seconds", "mb_per_s", "peak_rss_mb", "x_small"]


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per window and size, the small input first."""
    env = harness.child_env(harness.vocabulary_cache())
    sizes = (args.small, args.large)
    fresh = [s for s in sizes if not harness.corpus_path(s, args.seed).exists()]
    corpora = {size: harness.corpus(size, seed=args.seed) for size in sizes}
    rows: list[dict[str, Any]] = []
    try:
        for max_tokens in args.windows:
            small_rss = None
            for size in sizes:
                corpus = corpora[size]
                cmd = [
                    sys.executable,
                    "-m",
                    "convsplit",
                    "split",
                    str(corpus),
                    "-o",
                    "-",
                    "--max-tokens",
                    str(max_tokens),
                    "--jobs",
                    "1",
                ]
                result = harness.run(cmd, env=env, stdout_to=Path(os.devnull))
                small_rss = small_rss or result.max_rss_mb
                row = table_row(max_tokens, corpus, None, result)
                row["x_small"] = round(result.max_rss_mb / small_rss, 3)
                rows.append(row)
                print(
                    f"{max_tokens:>6} {row['input_mb']:>8} MB  {row['seconds']:>8} s  "
                    f"peak RSS {row['peak_rss_mb']:>7} MB  x{row['x_small']}",
                    file=sys.stderr,
                )
        for kind in ("short", "tools") if args.long_messages else ():
            record = long_record(kind, args.long_messages)
            for max_tokens in args.windows:
                cmd = [sys.executable, "-m", "convsplit", "split", str(record), "-o", "-",
                       "--max-tokens", str(max_tokens)]  # fmt: skip
                result = harness.run(cmd, env=env, stdout_to=Path(os.devnull))
                what = f"one record, {describe(kind, args.long_messages)}"
                rows.append(table_row(max_tokens, record, what, result))
                print(f"{max_tokens:>6} one record of {kind}: peak RSS "
                      f"{result.max_rss_mb:.1f} MB", file=sys.stderr)  # fmt: skip
            if not args.keep:
                record.unlink(missing_ok=True)
        rows += distinct_rows(args, env)
    finally:
        if not args.keep:
            for size in fresh:
                corpora[size].unlink(missing_ok=True)
    return rows


def table_row(max_tokens: int, path: Path, what: str | None, result: harness.Run) -> dict[str, Any]:
    """One row of the table: the input's size (and ``what`` it is, beside a corpus), the
    run's time, throughput and peak RSS; ``x_small`` is filled for corpora only."""
    megabytes = path.stat().st_size / 1e6
    return {
        "max_tokens": max_tokens,
        "input_mb": round(megabytes, 1) if what is None else f"{megabytes:.1f} ({what})",
        "seconds": round(result.seconds, 2),
        "mb_per_s": round(megabytes / result.seconds, 2),
        "peak_rss_mb": round(result.max_rss_mb, 1),
        "x_small": "",
    }


def distinct_rows(args: argparse.Namespace, env: dict[str, str]) -> list[dict[str, Any]]:
    """Peak RSS of each ``--distinct`` count of records of a distinct 1 MB message each, at
    the first window."""
    rows: list[dict[str, Any]] = []
    for records in args.distinct:
        path = distinct_records(records)
        cmd = [sys.executable, "-m", "convsplit", "split", str(path), "-o", "-",
               "--max-tokens", str(args.windows[0])]  # fmt: skip
        result = harness.run(cmd, env=env, stdout_to=Path(os.devnull))
        what = f"{records} records of a distinct 1 MB message"
        rows.append(table_row(args.windows[0], path, what, result))
        print(f"{args.windows[0]:>6} {records} distinct 1 MB messages: peak RSS "
              f"{result.max_rss_mb:.1f} MB", file=sys.stderr)  # fmt: skip
        if not args.keep:
            path.unlink(missing_ok=True)
    return rows


def distinct_records(records: int) -> Path:
    """``records`` records, each a distinct 1 MB user message (words, led by the record's
    number) and a short answer."""
    import orjson  # noqa: PLC0415 (the benchmark's own dependency, as in harness)

    path = harness.scratch() / f"distinct-{records}.jsonl"
    if path.exists():
        return path
    pick = random.Random(0).choice
    words = ("the", "a", "of", "to", "and", "in", "is", "it", "you", "that", "was", "for")
    text = " ".join(pick(words) for _ in range(300_000))[: 1 << 20]
    with path.open("wb") as out:
        for i in range(records):
            messages = [{"role": "user", "content": f"{i} {text}"},
                        {"role": "assistant", "content": f"Noted, {i}."}]  # fmt: skip
            out.write(orjson.dumps({"messages": messages}) + b"\n")
    return path


def describe(kind: str, messages: int) -> str:
    """The one-record input in words."""
    if kind == "short":
        return f"{messages:,} short messages"
    return f"{messages // 4:,} tool call/result pairs"


def long_record(kind: str, messages: int) -> Path:
    """One conversation of ``messages`` short messages: ``short``, a user and an assistant
    message in turn; ``tools``, turns of a question, two tool calls and their results."""
    import orjson  # noqa: PLC0415 (the benchmark's own dependency, as in harness)

    path = harness.scratch() / f"long-{kind}-{messages}.jsonl"
    if path.exists():
        return path
    pick = random.Random(0).choice
    words = ("the", "a", "of", "to", "and", "in", "is", "it", "you", "that", "was", "for")
    body: list[dict[str, object]] = []
    # ``tools``: messages // 4 call/result pairs (50,000 for 200,000: the input).
    while len(body) < (messages if kind == "short" else messages // 4 * 5 // 2):
        i = len(body)
        text = " ".join(pick(words) for _ in range(8)) + f" {i}"
        if kind == "short":
            body.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
            continue
        body.append({"role": "user", "content": f"Look up item {i}"})
        for j in range(2):
            arguments = orjson.dumps({"q": i}).decode()
            call = {"id": f"call_{i}_{j}", "type": "function",
                    "function": {"name": "lookup", "arguments": arguments}}  # fmt: skip
            body.append({"role": "assistant", "content": None, "tool_calls": [call]})
            body.append({"role": "tool", "tool_call_id": call["id"], "content": text})
    path.write_bytes(orjson.dumps({"messages": body}) + b"\n")
    return path


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Whether each large input's peak stayed within 10% of the small one's, and each long
    conversation's under 500 MB."""
    corpora = [r for r in rows if r["x_small"] != ""]
    smallest = min(r["input_mb"] for r in corpora)
    lines = [
        f"peak RSS at {row['max_tokens']}, {row['input_mb']} MB: {row['x_small']:.3f}x the "
        f"small input (target <= 1.10) {'met' if row['x_small'] <= 1.10 else 'MISSED'}"
        for row in corpora
        if row["input_mb"] > smallest
    ]
    lines += [
        f"peak RSS at {row['max_tokens']}, {row['input_mb']}: {row['peak_rss_mb']} MB "
        f"(target < 500) {'met' if row['peak_rss_mb'] < 500 else 'MISSED'}"
        for row in rows
        if row["x_small"] == "" and "distinct" not in row["input_mb"]
    ]
    distinct = [r for r in rows if "distinct" in str(r["input_mb"])]
    if len(distinct) >= 2:
        first, last = distinct[-2], distinct[-1]
        ratio = last["peak_rss_mb"] / first["peak_rss_mb"]
        lines.append(
            f"peak RSS with distinct 1 MB messages, {last['input_mb']}: {ratio:.3f}x that of "
            f"{first['input_mb']} (target <= 1.10: flat once the count cache is full) "
            f"{'met' if ratio <= 1.10 else 'MISSED'}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=float, default=5.0, help="MB (default 5)")
    parser.add_argument("--large", type=float, default=500.0, help="MB (default 500)")
    parser.add_argument("--windows", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--long-messages", type=int, default=200_000,
        help="messages of the one-record inputs (default 200,000; 0 skips them)",
    )  # fmt: skip
    parser.add_argument(
        "--distinct", type=int, nargs="*", default=[30, 100, 300],
        help="record counts of the distinct 1 MB message inputs (none: skip them)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the generated corpora")
    parser.add_argument("--output-dir", type=Path, default=harness.RESULTS)
    args = parser.parse_args()
    note = harness.provenance()
    print(note, file=sys.stderr)
    rows = measure(args)
    harness.publish(rows, COLUMNS, args.output_dir, "memory", note=note, verdicts=verdicts(rows))


if __name__ == "__main__":
    main()
