"""A naive splitter, as per-project scripts write it: re-count the history for every turn.

For each assistant message it takes the whole candidate history (every message before it),
tokenizes all of it again with the OpenAI cookbook's ``num_tokens_from_messages`` formula,
then drops whole oldest turns until the sample fits. That is one full re-count per turn,
O(n²) tokenizations per conversation, where convsplit tokenizes each message once. The
cheapest honest form of the usual script: scripts that re-count after every dropped turn
are slower still. It is generous otherwise: orjson, ``encode_ordinary``, no validation.

    python benchmarks/naive_split.py corpus.jsonl -o samples.jsonl --max-tokens 4096
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import harness
import orjson
from harness import load_encoding

Message = dict[str, Any]


def num_tokens(messages: list[Message], encode: Callable[[str], list[int]]) -> int:
    """The cookbook's count: 3 per message, 1 more with a name, 3 to prime the reply."""
    total = 3
    for message in messages:
        total += 3 + len(encode(message["role"])) + len(encode(message.get("content") or ""))
        for call in message.get("tool_calls") or ():
            total += len(encode(call["function"]["arguments"]))
        if message.get("name"):
            total += 1 + len(encode(message["name"]))
    return total


def split(
    record: dict[str, Any], max_tokens: int, encode: Callable[[str], list[int]]
) -> tuple[list[bytes], int]:
    """Sample lines of one conversation, and how many assistant turns did not fit."""
    messages: list[Message] = record["messages"]
    system = [m for m in messages if m["role"] == "system"]
    tools = record.get("tools")
    lines: list[bytes] = []
    skipped = 0
    for t, target in enumerate(messages):
        if target["role"] != "assistant":
            continue
        history = [m for m in messages[: t + 1] if m["role"] != "system"]
        costs = [num_tokens([m], encode) - 3 for m in history]  # the whole history, again
        users = [i for i, m in enumerate(history) if m["role"] == "user"]
        if not users:
            skipped += 1
            continue
        total = num_tokens(system, encode) + sum(costs)
        k = 0
        while total > max_tokens and k + 1 < len(users):
            total -= sum(costs[users[k] : users[k + 1]])
            k += 1
        if total > max_tokens:
            skipped += 1
            continue
        sample: dict[str, Any] = {"messages": system + history[users[k] :]}
        if tools:
            sample["tools"] = tools
        lines.append(orjson.dumps(sample) + b"\n")
    return lines, skipped


def main() -> None:
    def make_split(encoding: str) -> harness.SplitRecord:
        encode = load_encoding(encoding).encode_ordinary
        return lambda record, max_tokens: split(record, max_tokens, encode)

    harness.split_script(__doc__, make_split)


if __name__ == "__main__":
    main()
