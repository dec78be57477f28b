"""Stages: where ``split`` spends its time, stage by stage, next to what the floor does.

Runs the pipeline's stages one after another in one process, each over the whole corpus,
and times each: load the vocabulary, read and parse the JSON, build the models, count
(tokenize every message), split with counts already known (windows, samples), serialize
samples, write the file. Next to them: counting every message's text once with the same counter,
the floor's work, and a bound: what an exact split must add to the floor's work whatever
its splitting costs. Only the public API is used, so it keeps working while the pipeline's
insides change; the sum is close to, not equal to, the ``split`` command's own time.

    python benchmarks/stages.py --megabytes 20 --max-tokens 4096
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import harness

from convsplit import (
    Budget,
    Layout,
    SplitSpec,
    TiktokenCounter,
    get_chat_format,
    split_conversation,
)
from convsplit.formats import OpenAIWriter, read_openai
from convsplit.formats.containers import Source
from convsplit.messages import Conversation, StringsEncode
from convsplit.tokens.fast_count import fast_count

COLUMNS = ["stage", "seconds", "share"]
T = TypeVar("T")


class KnownCounts:
    """A counter that looks counts up: splitting timed without tokenizing."""

    def __init__(self, counter: TiktokenCounter) -> None:
        self.name = counter.name
        self._counter = counter
        self._counts: dict[str, int] = {}

    def count(self, text: str) -> int:
        found = self._counts.get(text)
        if found is None:
            found = self._counts[text] = self._counter.count(text)
        return found

    def encode(self, text: str) -> list[int]:
        return self._counter.encode(text)

    def decode(self, tokens: Sequence[int]) -> str:
        return self._counter.decode(tokens)


def timed(stages: list[dict[str, Any]], name: str, work: Callable[[], T]) -> T:
    """Run ``work``, add its time to ``stages`` under ``name``, return its result."""
    started = time.perf_counter()
    result = work()
    stages.append({"stage": name, "seconds": round(time.perf_counter() - started, 3)})
    print(f"{name:<44} {stages[-1]['seconds']:>7.3f} s", file=sys.stderr)
    return result


def measure(corpus: Path, max_tokens: int) -> list[dict[str, Any]]:
    """The stages in pipeline order, then the floor's tokenization; shares of the split's."""
    stages: list[dict[str, Any]] = []
    chat_format, budget = get_chat_format("openai"), Budget(max_tokens)
    counter = timed(stages, "load vocabulary", lambda: TiktokenCounter.load(harness.ENCODING))

    def read() -> list[object]:
        with Source.open(corpus) as source:
            return [r.value for r in source.records()]

    values = timed(stages, "read + orjson.loads", read)

    def convert() -> list[Conversation]:
        with StringsEncode(True):  # values parse_json read, as the pipeline reads them
            return [read_openai(v) for v in values]

    conversations = timed(stages, "JSON -> Conversation (pydantic)", convert)
    known = KnownCounts(counter)

    def count() -> list[Layout]:
        return [Layout(c, counter=known, chat_format=chat_format) for c in conversations]

    timed(stages, "count: Layout (tokenize every message)", count)

    def split_all() -> list[Any]:
        return [
            split_conversation(
                c, SplitSpec(budget=budget, tokenizer=known, chat_format=chat_format), index=i
            )
            for i, c in enumerate(conversations)
        ]

    results = timed(stages, f"split_conversation at {max_tokens}, counts known", split_all)
    writer = OpenAIWriter()
    serialize = write = 0.0
    # One conversation at a time, as the pipeline streams: holding a whole 16k run's output
    # (30 times the input) in memory would time the page cache, not the writer.
    with tempfile.TemporaryFile(dir=harness.scratch()) as out:
        for result in results:
            started = time.perf_counter()
            data = b"".join(writer.chunks(result))
            middle = time.perf_counter()
            out.write(data)
            write += time.perf_counter() - middle
            serialize += middle - started
    for name, seconds in (
        ("OpenAIWriter.chunks + join (serialize samples)", serialize),
        ("write the output file", write),
    ):
        stages.append({"stage": name, "seconds": round(seconds, 3)})
        print(f"{name:<44} {seconds:>7.3f} s", file=sys.stderr)
    total = sum(s["seconds"] for s in stages)
    stages.append({"stage": "total (in process)", "seconds": round(total, 3)})
    count_once = fast_count(harness.ENCODING) or counter.encoding.encode_ordinary

    def tokenize() -> None:
        for conversation in conversations:
            for message in conversation.messages:
                count_once(message.text)

    timed(stages, "floor's counting: count every message once", tokenize)
    for stage in stages:
        stage["share"] = f"{stage['seconds'] / total:.0%}"
    stages.extend(bound(stages))
    return stages


def bound(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How close to the floor any exact split can come here: the floor's own work (read,
    parse, count once), and what the product must add to it whatever its splitting costs:
    a start-up that loads pydantic, the public data model (pydantic validation of every
    record) and writing the output, with serializing as it is and then as if free. Each sum
    over the floor's is the ratio an exact split would have at zero splitting cost."""
    seconds = {s["stage"]: s["seconds"] for s in stages}
    floor_startup, startup = _startups()
    floor = (
        floor_startup
        + seconds["read + orjson.loads"]
        + seconds["floor's counting: count every message once"]
    )
    required = (
        startup + seconds["JSON -> Conversation (pydantic)"] + seconds["write the output file"]
    )
    serialize = seconds["OpenAIWriter.chunks + join (serialize samples)"]
    rows: list[dict[str, Any]] = [
        {"stage": "floor: start, read + parse + count once", "seconds": round(floor, 3)},
        {"stage": "start-up beyond the floor's (pydantic models)", "seconds": round(startup, 3)},
        {
            "stage": "required beyond the floor: start-up, models, writing",
            "seconds": round(required, 3),
        },
    ]
    for label, extra in (("splitting free", serialize), ("splitting and serializing free", 0.0)):
        ratio = (floor + required + extra) / floor
        rows.append({"stage": f"x floor, {label}", "seconds": round(ratio, 2)})
    for row in rows:
        print(f"{row['stage']:<44} {row['seconds']:>7}", file=sys.stderr)
    return rows


def _startups(repeat: int = 5) -> tuple[float, float]:
    """The floor script's start-up, and how much longer ``convsplit split`` takes to
    start: each run on an empty file, the best of ``repeat`` fresh interpreters."""
    env = harness.child_env(harness.vocabulary_cache())
    folder = Path(tempfile.mkdtemp(dir=harness.scratch()))
    empty = folder / "empty.jsonl"
    empty.write_bytes(b"")

    def best(args: list[str]) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(args, check=True, env=env, capture_output=True)
            times.append(time.perf_counter() - started)
        return min(times)

    floor = best([sys.executable, str(harness.BENCHMARKS / "floor.py"), str(empty)])
    split = best(
        [sys.executable, "-m", "convsplit", "split", str(empty), "-o", str(folder / "out.jsonl")]
    )
    return floor, max(0.0, split - floor)


def _checked(path: Path) -> Path:
    if not path.is_file():
        raise SystemExit(f"{path}: no such file")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=20.0)
    parser.add_argument("--corpus", type=Path, help="an OpenAI JSONL file instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--output-dir", type=Path, default=harness.RESULTS)
    args = parser.parse_args()
    note = harness.provenance()
    print(note, file=sys.stderr)
    corpus = (
        _checked(args.corpus) if args.corpus else harness.corpus(args.megabytes, seed=args.seed)
    )
    print(f"corpus {corpus} ({corpus.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    rows = measure(corpus, args.max_tokens)
    harness.publish(rows, COLUMNS, args.output_dir, "stages", note=note)


if __name__ == "__main__":
    main()
