"""Hypothesis strategies for the format tests: raw records of every input format, and
conversations rich in the fields writers must carry (names, ids, extras, reasoning).

Also the real data folder helper: tests read ``../shared/data`` and skip where it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from convsplit.formats.openai_json import message_json
from convsplit.formats.pairs import ASSISTANT_KEYS, USER_KEYS
from convsplit.messages import Conversation, FunctionCall, Message, ToolCall
from convsplit.testing import conversations

DATA = Path(__file__).parents[1].parent / "shared" / "data"


def data_file(name: str) -> Path:
    """A real data file, or skip the test with the reason."""
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"../shared/data not found: {path} is missing (it sits beside the project)")
    return path


# -- conversations with every field a writer may carry --------------------------------------

words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    max_size=30,
)
_ARGUMENTS = st.one_of(
    st.dictionaries(st.sampled_from(["q", "city", "n", "ünï"]), st.integers() | words, max_size=3)
    .map(lambda d: json.dumps(d, ensure_ascii=False)),
    st.sampled_from(["", "{}", "not json", '"a string"', "[1, 2]", '{"a":1}']),
)  # fmt: skip


@st.composite
def rich_conversations(draw: st.DrawFn) -> Conversation:
    """convsplit.testing's conversations, with names, extra fields and odd arguments added."""
    conv = draw(conversations(max_events=10))
    messages: list[Message] = []
    for message in conv.messages:
        update: dict[str, Any] = {}
        if draw(st.integers(0, 5)) == 0:
            update["name"] = draw(st.sampled_from(["alice", "bot_1"]))
        if message.tool_calls and draw(st.booleans()):
            update["tool_calls"] = tuple(
                call.model_copy(
                    update={"function": FunctionCall(name=call.function.name,
                                                     arguments=draw(_ARGUMENTS))}
                )
                for call in message.tool_calls
            )  # fmt: skip
        new = message.model_copy(update=update) if update else message
        if draw(st.integers(0, 6)) == 0:
            new = Message.model_validate(
                {**new.model_dump(exclude_none=True), "x_note": draw(words)}
            )
        messages.append(new)
    conv = conv.model_copy(update={"messages": tuple(messages)})
    if draw(st.integers(0, 3)) == 0:  # extra columns, as a dataset's source or category
        conv = Conversation.model_validate(
            {**conv.model_dump(exclude_none=True), "source": draw(words), "rank": 2}
        )
    return conv


# -- raw records of each input format ----------------------------------------------------


@st.composite
def openai_records(draw: st.DrawFn) -> dict[str, Any]:
    """An OpenAI chat record (current form), from a rich conversation."""
    conv = draw(rich_conversations())
    record: dict[str, Any] = {
        "messages": [
            message_json(m, weight=m.weight, keep_reasoning=True, keep_extras=True)
            for m in conv.messages
        ]
    }
    if conv.tools:
        record["tools"] = list(conv.tools)
    return record


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


@st.composite
def sharegpt_records(draw: st.DrawFn) -> dict[str, Any]:
    """A ShareGPT record: FastChat turns and LLaMA-Factory's function_call/observation."""
    turns: list[dict[str, Any]] = []
    if draw(st.booleans()):
        turns.append({"from": "system", "value": draw(words)})
    gpt = draw(st.sampled_from(["gpt", "GPT", "assistant", "bot"]))
    for _ in range(draw(st.integers(0, 4))):
        turns.append({"from": draw(st.sampled_from(["human", "user"])), "value": draw(words)})
        if draw(st.booleans()):
            calls = [
                _call(draw(st.sampled_from(["f", "g"])), {"x": draw(words)})
                for _ in range(draw(st.integers(1, 2)))
            ]
            value = calls[0] if len(calls) == 1 else calls
            turns.append({"from": "function_call", "value": json.dumps(value)})
            turns.append({"from": "observation", "value": draw(words)})
        turns.append({"from": gpt, "value": draw(words)})
    record: dict[str, Any] = {"conversations": turns}
    if draw(st.booleans()):
        record["tools"] = json.dumps([{"name": "f", "parameters": {"type": "object"}}])
    if draw(st.booleans()):
        record["id"] = draw(st.integers(0, 99) | words)
    return record


@st.composite
def pair_records(draw: st.DrawFn) -> dict[str, Any]:
    """A legacy prompt/completion, alpaca, dictionary pair or TRL prompt-completion record."""
    kind = draw(st.sampled_from(["legacy", "alpaca", "pair", "trl"]))
    if kind == "legacy":
        return {"prompt": draw(words), "completion": draw(words)}
    if kind == "alpaca":
        record: dict[str, Any] = {"instruction": draw(words), "output": draw(words)}
        if draw(st.booleans()):
            record["input"] = draw(words)
        if draw(st.booleans()):
            record["system"] = draw(words)
        if draw(st.booleans()):
            record["history"] = [[draw(words), draw(words)]]
        return record
    if kind == "pair":
        user = draw(st.sampled_from([k for k in USER_KEYS if k not in ("prompt", "instruction")]))
        assistant = draw(st.sampled_from([k for k in ASSISTANT_KEYS if k != "completion"]))
        if user == "input" and assistant == "output":
            assistant = "answer"
        return {user: draw(words), assistant: draw(words)}
    prompt = [{"role": "user", "content": draw(words)}]
    if draw(st.booleans()):
        prompt += [
            {"role": "assistant", "content": draw(words)},
            {"role": "user", "content": draw(words)},
        ]
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": draw(words)}]}


def any_records() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(reader name, record) for every reader."""
    return st.one_of(
        openai_records().map(lambda r: ("openai", r)),
        sharegpt_records().map(lambda r: ("sharegpt", r)),
        pair_records().map(lambda r: ("pairs", r)),
    )


#: The role map the ShareGPT strategy needs ("bot" is not a default name).
ROLE_MAP = {"bot": "assistant"}


def tool_call(name: str = "f", arguments: str = "{}", call_id: str | None = None) -> ToolCall:
    """A ToolCall, for hand-made examples."""
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))
