"""Reading preference records in every shape LLaMA-Factory (data/README.md, its
dataset_info.json's dpo_en_demo and kto_en_demo) and TRL (docs/source/dataset_formats.md)
document; the records are built here in those shapes. A record that is not preference data
or is malformed fails naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from convsplit.errors import InvalidConversationError
from convsplit.formats.preference import PreferenceRecord, UnpairedRecord, preference_kind
from convsplit.formats.preference_read import read_judged, read_preference, read_unpaired

HUMAN = {"from": "human", "value": "What is 2+2?"}


def shape(pair: PreferenceRecord | UnpairedRecord) -> tuple[Any, ...]:
    """(prompt as (role, text) pairs, answers' texts, label or None)."""
    prompt = tuple((m.role, m.text) for m in pair.prompt.messages)
    if isinstance(pair, PreferenceRecord):
        return prompt, (pair.chosen.text, pair.rejected.text), None
    return prompt, (pair.completion.text,), pair.label


PAIRWISE = [
    pytest.param(
        {"conversations": [{"from": "system", "value": "Be brief."}, HUMAN,
                           {"from": "gpt", "value": "Four."}, {"from": "human", "value": "And 3+3?"}],
         "chosen": {"from": "gpt", "value": "Six."}, "rejected": {"from": "gpt", "value": "Nine."}},
        ((("system", "Be brief."), ("user", "What is 2+2?"), ("assistant", "Four."),
          ("user", "And 3+3?")), ("Six.", "Nine."), None),
        id="llamafactory-sharegpt-ranking",
    ),
    pytest.param(
        {"conversations": [HUMAN], "system": "Be brief.",
         "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "5"}},
        ((("system", "Be brief."), ("user", "What is 2+2?")), ("4", "5"), None),
        id="llamafactory-sharegpt-system-column",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": "Hi"}],
         "chosen": {"role": "assistant", "content": "Hello!"},
         "rejected": {"role": "assistant", "content": "Go away."}},
        ((("user", "Hi"),), ("Hello!", "Go away."), None),
        id="llamafactory-messages-ranking",
    ),
    pytest.param(
        {"instruction": "Add", "input": "2+2", "chosen": "4", "rejected": "5"},
        ((("user", "Add\n2+2"),), ("4", "5"), None),
        id="alpaca-ranking",
    ),
    pytest.param(
        {"instruction": "Add 2+2", "output": ["4", "5"], "system": "Be exact.",
         "history": [["Hi", "Hello"]]},
        ((("system", "Be exact."), ("user", "Hi"), ("assistant", "Hello"), ("user", "Add 2+2")),
         ("4", "5"), None),
        id="alpaca-ranking-output-list",
    ),
    pytest.param(
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
        ((("user", "The sky is"),), (" blue.", " green."), None),
        id="trl-standard",
    ),
    pytest.param(
        {"chosen": "The sky is blue.", "rejected": "The sky is green."},
        ((("user", "The sky is"),), (" blue.", " green."), None),
        id="trl-standard-implicit-prompt",
    ),
    pytest.param(
        {"prompt": [{"role": "user", "content": "What color is the sky?"}],
         "chosen": [{"role": "assistant", "content": "It is blue."}],
         "rejected": [{"role": "assistant", "content": "It is green."}]},
        ((("user", "What color is the sky?"),), ("It is blue.", "It is green."), None),
        id="trl-conversational",
    ),
    pytest.param(
        {"prompt": "What color is the sky?",
         "chosen": [{"role": "assistant", "content": "It is blue."}],
         "rejected": [{"role": "assistant", "content": "It is green."}]},
        ((("user", "What color is the sky?"),), ("It is blue.", "It is green."), None),
        id="trl-text-prompt-message-answers",
    ),
    pytest.param(
        {"prompt": "ignored, as TRL ignores it",
         "chosen": [{"role": "user", "content": "What color is the sky?"},
                    {"role": "assistant", "content": "It is blue."}],
         "rejected": [{"role": "user", "content": "What color is the sky?"},
                      {"role": "assistant", "content": "It is green."}]},
        ((("user", "What color is the sky?"),), ("It is blue.", "It is green."), None),
        id="trl-text-prompt-beside-an-implicit-one",
    ),
    pytest.param(
        {"chosen": [{"role": "user", "content": "What color is the sky?"},
                    {"role": "assistant", "content": "It is blue."}],
         "rejected": [{"role": "user", "content": "What color is the sky?"},
                      {"role": "assistant", "content": "It is green."}]},
        ((("user", "What color is the sky?"),), ("It is blue.", "It is green."), None),
        id="trl-conversational-implicit-prompt",
    ),
]  # fmt: skip

UNPAIRED = [
    pytest.param(
        {"prompt": "The sky is", "completion": " green.", "label": False},
        ((("user", "The sky is"),), (" green.",), False),
        id="trl-unpaired-standard",
    ),
    pytest.param(
        {"prompt": [{"role": "user", "content": "What color is the sky?"}],
         "completion": [{"role": "assistant", "content": "It is blue."}], "label": True},
        ((("user", "What color is the sky?"),), ("It is blue.",), True),
        id="trl-unpaired-conversational",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"},
                      {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Go"}],
         "label": False},
        ((("user", "Hi"), ("assistant", "Yo"), ("user", "Bye")), ("Go",), False),
        id="llamafactory-kto-messages-label",
    ),
    pytest.param(
        {"conversations": [HUMAN, {"from": "gpt", "value": "4"}], "kto_tag": True},
        ((("user", "What is 2+2?"),), ("4",), True),
        id="llamafactory-kto-tag",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("record", "expected"), PAIRWISE)
def test_pairwise_shapes_read_as_pairs(record: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert preference_kind(record) == "pairwise"
    assert shape(read_preference(record)) == expected
    assert shape(read_judged(record)) == expected


@pytest.mark.parametrize(("record", "expected"), UNPAIRED)
def test_unpaired_shapes_read_with_their_label(
    record: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    assert preference_kind(record) == "unpaired"
    assert shape(read_unpaired(record)) == expected
    assert shape(read_judged(record)) == expected


def test_the_reader_never_changes_the_callers_record() -> None:
    record = {"prompt": [{"role": "user", "content": "Hi"}],
              "chosen": [{"role": "assistant", "content": "A"}],
              "rejected": [{"role": "assistant", "content": "B"}], "id": "r1"}  # fmt: skip
    before = repr(record)
    pair = read_preference(record)
    assert repr(record) == before
    assert pair.prompt.id == "r1"


def test_tool_calls_and_tools_are_read_as_the_formats_read_them() -> None:
    tools = [{"type": "function", "function": {"name": "calc", "parameters": {}}}]
    pair = read_preference({
        "conversations": [HUMAN], "tools": tools,
        "chosen": {"from": "function_call", "value": '{"name": "calc", "arguments": {"x": "2+2"}}'},
        "rejected": {"from": "gpt", "value": "5"},
    })  # fmt: skip
    assert pair.prompt.tools is not None
    assert pair.chosen.role == "assistant"
    assert pair.chosen.tool_calls is not None
    assert pair.chosen.tool_calls[0].function.name == "calc"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        pytest.param(
            {"conversations": [HUMAN], "chosen": {"from": "gpt", "value": "4"}},
            "field 'rejected' is missing: a preference record needs both 'chosen' and 'rejected'",
            id="no-rejected",
        ),
        pytest.param(
            {"prompt": [{"role": "user", "content": "Hi"}],
             "chosen": [{"role": "assistant", "content": "A"}, {"role": "user", "content": "?"}],
             "rejected": [{"role": "assistant", "content": "B"}]},
            "field 'chosen': an answer is one assistant message; got 2 messages (preference "
            "and kto outputs compare single answers)",
            id="two-message-answer",
        ),
        pytest.param(
            {"conversations": [HUMAN], "chosen": {"from": "human", "value": "4"},
             "rejected": {"from": "gpt", "value": "5"}},
            "field 'chosen': an answer is one assistant message; got 'user'",
            id="answer-from-the-user",
        ),
        pytest.param(
            {"conversations": [HUMAN], "chosen": "4", "rejected": "5"},
            "field 'chosen': expected one turn object, as the items of 'conversations'; got a "
            "string",
            id="sharegpt-answer-as-text",
        ),
        pytest.param(
            {"instruction": "Add", "output": ["4", "5", "6"]},
            "field 'output': expected [chosen, rejected]; got a list of 3",
            id="alpaca-output-of-three",
        ),
        pytest.param(
            {"prompt": "Hi", "chosen": ["A"], "rejected": "B"},
            "fields 'chosen' and 'rejected': expected two strings or two lists of messages "
            "(TRL), or two turn objects beside 'conversations' (LLaMA-Factory); got a list "
            "and a string",
            id="mixed-answers",
        ),
        pytest.param(
            {"conversations": [HUMAN], "chosen": {"from": "gpt", "value": 4},
             "rejected": {"from": "gpt", "value": "5"}},
            None,
            id="answer-with-a-number",
        ),
    ],
)  # fmt: skip
def test_a_malformed_pair_names_its_field(record: dict[str, Any], message: str | None) -> None:
    with pytest.raises(InvalidConversationError) as caught:
        read_judged(record)
    if message is not None:
        assert caught.value.reason == message
    assert caught.value.field in ("chosen", "rejected", "output")


def test_a_kto_label_must_be_true_or_false() -> None:
    with pytest.raises(InvalidConversationError) as caught:
        read_unpaired({"conversations": [HUMAN, {"from": "gpt", "value": "4"}], "kto_tag": "yes"})
    assert caught.value.reason == (
        "field 'kto_tag': expected true (a desirable answer) or false; got a string"
    )
    assert caught.value.field == "kto_tag"


def test_a_kto_record_must_end_on_the_answer() -> None:
    with pytest.raises(InvalidConversationError) as caught:
        read_unpaired({"messages": [{"role": "user", "content": "Hi"}], "label": True})
    assert caught.value.reason == (
        "the last message is the judged answer and must be an assistant's; got 'user'"
    )


def test_a_label_that_is_not_boolean_is_a_column_not_kto() -> None:
    assert preference_kind({"messages": [], "label": "positive"}) is None


def test_a_prompt_alone_is_not_preference_data() -> None:
    """dpo_en_demo's shape without its answers: reported, never read as an empty pair."""
    with pytest.raises(InvalidConversationError) as caught:
        read_judged({"conversations": [HUMAN], "system": "Be brief."})
    assert caught.value.reason == (
        "not preference data: no 'chosen' and 'rejected' answers and no KTO label (keys "
        "'conversations', 'system'); a prompt alone has nothing to compare"
    )
