"""Window sweep: what each window size costs and what it loses, to choose one at a glance.

For every ``max_tokens`` (512 to 128k) and truncation strategy, on each real public file in
``../shared/data`` (skipped with a message where that folder is absent) and on a generated
corpus of long conversations, it splits with the library (``FullHistory``, o200k_base,
OpenAI chat format) and records:

- samples: samples produced;
- training_tokens: tokens per epoch (every sample's total: context and target);
- amplification: training_tokens over the tokens of training each conversation once whole
  (one sample per conversation, every assistant message a target, no budget);
- skipped_share: assistant turns no sample trains (too long for the window) over all;
- kept_mean / kept_median: per sample, the context tokens it carries over the context
  tokens its target has before it in the conversation (1.0: the whole history kept);
- seconds: in-process split time with a fresh count cache (conversations already parsed,
  tokenization included).

Writes ``sweep.csv``, ``sweep.md`` and ``sweep.png`` (matplotlib, headless; skipped with a
message when matplotlib is not installed) to ``--output-dir``.

    python benchmarks/sweep.py                              # default: benchmarks/results/
    python benchmarks/sweep.py --megabytes 0.2 --windows 512 4096 --output-dir /tmp/sweep
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness

from convsplit import (
    Budget,
    Chunks,
    Conversation,
    FullHistory,
    SplitResult,
    SplitSpec,
    TiktokenCounter,
    get_chat_format,
    get_counter,
    get_truncation,
    split_conversation,
    truncation_names,
)
from convsplit.formats import read_records

WINDOWS = [512, 1024, 2048, 4096, 8192, 16384, 32768, 131072]
UNBOUNDED = Budget(10**9)
COLUMNS = [
    "dataset",
    "max_tokens",
    "truncation",
    "conversations",
    "assistant_turns",
    "samples",
    "training_tokens",
    "whole_tokens",
    "amplification",
    "skipped_share",
    "kept_mean",
    "kept_median",
    "seconds",
]


def datasets(megabytes: float, seed: int) -> list[tuple[str, list[Conversation]]]:
    """The real public files (where present), then the generated corpus; parsed once."""
    found: list[tuple[str, list[Conversation]]] = []
    if harness.SHARED_DATA.is_dir():
        for path in sorted(harness.SHARED_DATA.iterdir()):
            if path.suffix in (".json", ".jsonl"):
                found.append((path.stem, _conversations(path)))
    else:
        print(
            f"real data: skipped ({harness.SHARED_DATA} not found; it sits beside the "
            "project root)",
            file=sys.stderr,
        )
    generated = harness.corpus(megabytes, seed=seed)
    found.append((f"generated-{megabytes:g}MB", _conversations(generated)))
    return found


def _conversations(path: Path) -> list[Conversation]:
    return [r.conversation for r in read_records(path) if r.conversation is not None]


class Dataset:
    """One dataset's conversations with what every window is measured against."""

    def __init__(self, name: str, conversations: list[Conversation]) -> None:
        self.name = name
        self.conversations = conversations
        counter, chat_format = get_counter(harness.ENCODING), get_chat_format("openai")
        self.whole_tokens = 0
        self.history: dict[tuple[int, int], int] = {}
        for i, conversation in enumerate(conversations):
            whole = split_conversation(
                conversation,
                SplitSpec(
                    budget=UNBOUNDED, tokenizer=counter, chat_format=chat_format, window=Chunks()
                ),
            )
            self.whole_tokens += sum(s.total_tokens for s in whole.samples)
            full = split_conversation(
                conversation,
                SplitSpec(budget=UNBOUNDED, tokenizer=counter, chat_format=chat_format),
            )
            for sample in full.samples:
                self.history[(i, _target(sample))] = sample.context_tokens

    def measure(self, max_tokens: int, truncation: str) -> dict[str, Any]:
        """One row of the sweep."""
        counter = fresh_counter()
        chat_format, strategy = get_chat_format("openai"), get_truncation(truncation)
        budget = Budget(max_tokens)
        started = time.perf_counter()
        results: list[SplitResult] = [
            split_conversation(
                c,
                SplitSpec(
                    budget=budget,
                    tokenizer=counter,
                    chat_format=chat_format,
                    window=FullHistory(),
                    truncation=strategy,
                ),
            )
            for c in self.conversations
        ]
        seconds = time.perf_counter() - started
        turns = sum(len(r.outcomes) for r in results)
        skipped = sum(len(r.skipped) for r in results)
        kept = [
            min(1.0, s.context_tokens / self.history[(i, _target(s))])
            for i, r in enumerate(results)
            for s in r.samples
        ]
        training = sum(s.total_tokens for r in results for s in r.samples)
        return {
            "dataset": self.name,
            "max_tokens": max_tokens,
            "truncation": truncation,
            "conversations": len(self.conversations),
            "assistant_turns": turns,
            "samples": sum(len(r.samples) for r in results),
            "training_tokens": training,
            "whole_tokens": self.whole_tokens,
            "amplification": round(training / self.whole_tokens, 3) if self.whole_tokens else 0.0,
            "skipped_share": round(skipped / turns, 4) if turns else 0.0,
            "kept_mean": round(statistics.fmean(kept), 4) if kept else 0.0,
            "kept_median": round(statistics.median(kept), 4) if kept else 0.0,
            "seconds": round(seconds, 3),
        }


def fresh_counter() -> TiktokenCounter:
    """The o200k_base counter with an empty count cache, so every row pays for counting."""
    shared = get_counter(harness.ENCODING)
    if not isinstance(shared, TiktokenCounter):
        raise TypeError(f"{harness.ENCODING} is registered as {shared!r}, not tiktoken")
    return TiktokenCounter(shared.encoding)


def _target(sample: Any) -> int:
    return int(sample.source_indices[sample.targets[0]])


def chart(rows: Sequence[dict[str, Any]], path: Path) -> bool:
    """Four panels against the window: amplification, turns skipped, history kept, time."""
    try:
        import matplotlib  # noqa: PLC0415 (an optional extra)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
        from matplotlib.lines import Line2D  # noqa: PLC0415
    except ImportError:
        print("chart: skipped (pip install matplotlib to draw it)", file=sys.stderr)
        return False
    panels = [
        ("amplification", "training tokens per epoch\n÷ whole conversations", False),
        ("skipped_share", "share of turns skipped", True),
        ("kept_mean", "share of history kept (mean)", True),
        ("seconds", "split time (s)", False),
    ]
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    strategies = list(dict.fromkeys(r["truncation"] for r in rows))
    colors = {n: f"C{k}" for k, n in enumerate(names)}
    styles = dict(zip(strategies, ["-", "--", ":", "-."], strict=False))
    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    for axis, (key, label, share) in zip(axes.flat, panels, strict=True):
        for name in names:
            for strategy in strategies:
                points = sorted(
                    (r["max_tokens"], r[key])
                    for r in rows
                    if r["dataset"] == name and r["truncation"] == strategy
                )
                axis.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    marker=".",
                    color=colors[name],
                    linestyle=styles[strategy],
                    linewidth=1.4,
                )
        axis.set_xscale("log", base=2)
        windows = sorted({r["max_tokens"] for r in rows})
        axis.set_xticks(windows, [f"{w // 1024}k" if w >= 1024 else str(w) for w in windows])
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
        if share:
            axis.set_ylim(-0.03, 1.03)
            axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        else:
            axis.set_yscale("log")
    for axis in axes[1]:
        axis.set_xlabel("max_tokens (window)")
    handles = [Line2D([], [], color=colors[n], label=n) for n in names]
    handles += [Line2D([], [], color="grey", linestyle=styles[s], label=s) for s in strategies]
    figure.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    figure.suptitle("convsplit window sweep (o200k_base, OpenAI chat format, full history)")
    figure.tight_layout(rect=(0, 0.09, 1, 0.97))
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--megabytes", type=float, default=10.0, help="size of the generated corpus (default 10)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--windows", type=int, nargs="+", default=WINDOWS)
    parser.add_argument(
        "--truncations", nargs="+", choices=truncation_names(), default=list(truncation_names())
    )
    parser.add_argument("--output-dir", type=Path, default=harness.RESULTS)
    args = parser.parse_args()
    note = harness.provenance()
    print(note, file=sys.stderr)
    rows = []
    for name, conversations in datasets(args.megabytes, args.seed):
        dataset = Dataset(name, conversations)
        for max_tokens in args.windows:
            for truncation in args.truncations:
                row = dataset.measure(max_tokens, truncation)
                rows.append(row)
                print(
                    f"{name:<45} {max_tokens:>6} {truncation:<17} "
                    f"x{row['amplification']:<7} skipped {row['skipped_share']:.1%} "
                    f"kept {row['kept_mean']:.1%} {row['seconds']:.2f}s",
                    file=sys.stderr,
                )
    harness.publish(rows, COLUMNS, args.output_dir, "sweep", note=note)
    png = args.output_dir / "sweep.png"
    if chart(rows, png):
        print(f"wrote {png}", file=sys.stderr)


if __name__ == "__main__":
    main()
