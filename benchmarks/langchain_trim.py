"""Splitting with LangChain: ``trim_messages(strategy="last")`` once per assistant turn.

What people reach for today: convert each conversation to LangChain messages once, then for
every assistant message trim the history up to it to the budget, with the settings
LangChain's docs recommend for a valid chat history (``include_system=True``,
``start_on="human"``) and the tiktoken counter its how-to guide shows (the cookbook
formula: 3 tokens per message, 1 per name, 3 to prime the reply; tool-call arguments
counted too, so samples fit as convsplit's do). ``trim_messages`` binary-searches the cut
and calls the counter on a whole candidate list at every step. Generous otherwise: orjson,
``encode_ordinary``, the encoding loaded once.

Needs ``pip install langchain-core`` (the ``bench`` extra).

    python benchmarks/langchain_trim.py corpus.jsonl -o samples.jsonl --max-tokens 4096
"""

from __future__ import annotations

from typing import Any

import harness
import orjson
from harness import load_encoding

try:
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
        convert_to_openai_messages,
        trim_messages,
    )
except ImportError:  # pragma: no cover - reported to the caller, who skips this contender
    raise SystemExit(
        "langchain-core is not installed: pip install langchain-core (the bench extra)"
    ) from None


def to_langchain(message: dict[str, Any]) -> BaseMessage:
    """One OpenAI chat message as the LangChain message class of its role."""
    role, content = message["role"], message.get("content") or ""
    if role == "system":
        return SystemMessage(content)
    if role == "user":
        return HumanMessage(content)
    if role == "tool":
        return ToolMessage(content, tool_call_id=message["tool_call_id"])
    calls = [
        {
            "name": c["function"]["name"],
            "args": orjson.loads(c["function"]["arguments"]),
            "id": c["id"],
        }
        for c in message.get("tool_calls") or ()
    ]
    return AIMessage(content, tool_calls=calls)


class TiktokenCounter:
    """The token counter of LangChain's "How to trim messages" guide, over one encoding."""

    _roles = (
        (HumanMessage, "user"),
        (AIMessage, "assistant"),
        (ToolMessage, "tool"),
        (SystemMessage, "system"),
    )

    def __init__(self, encoding: str) -> None:
        self.encode = load_encoding(encoding).encode_ordinary

    def __call__(self, messages: list[BaseMessage]) -> int:
        encode = self.encode
        total = 3  # every reply is primed with <|start|>assistant<|message|>
        for message in messages:
            role = next(name for kind, name in self._roles if isinstance(message, kind))
            total += 3 + len(encode(role)) + len(encode(str(message.content)))
            if message.name:
                total += 1 + len(encode(message.name))
            for call in getattr(message, "tool_calls", None) or ():
                total += len(encode(orjson.dumps(call["args"]).decode()))
        return total


def split(
    record: dict[str, Any], max_tokens: int, counter: TiktokenCounter
) -> tuple[list[bytes], int]:
    """Sample lines of one conversation, and how many assistant turns did not fit."""
    messages = [to_langchain(m) for m in record["messages"]]
    tools = record.get("tools")
    lines: list[bytes] = []
    skipped = 0
    for t, target in enumerate(messages):
        if not isinstance(target, AIMessage):
            continue
        kept = trim_messages(
            messages[: t + 1],
            max_tokens=max_tokens,
            strategy="last",
            token_counter=counter,
            include_system=True,
            start_on="human",
        )
        if not kept or kept[-1] is not target or not any(isinstance(m, HumanMessage) for m in kept):
            skipped += 1
            continue
        sample: dict[str, Any] = {"messages": convert_to_openai_messages(kept)}
        if tools:
            sample["tools"] = tools
        lines.append(orjson.dumps(sample) + b"\n")
    return lines, skipped


def main() -> None:
    def make_split(encoding: str) -> harness.SplitRecord:
        counter = TiktokenCounter(encoding)
        return lambda record, max_tokens: split(record, max_tokens, counter)

    harness.split_script(__doc__, make_split)


if __name__ == "__main__":
    main()
