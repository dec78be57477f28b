"""The library's entry points given the wrong types: a ConvsplitError that names the option
and what it accepts, never an AttributeError or TypeError from deep inside."""

from __future__ import annotations

import types
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import (
    Budget,
    Conversation,
    ConvsplitError,
    InvalidConversationError,
    InvalidOptionError,
    LastTurns,
    Message,
    MiddleOut,
    SplitSpec,
    chat_format_names,
    counter_names,
    get_chat_format,
    get_counter,
    split_conversation,
    split_conversations,
)

CHAT = {
    "id": "c1",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ],
}


def test_an_option_error_is_a_convsplit_error_and_both_value_and_type_error() -> None:
    assert issubclass(InvalidOptionError, ConvsplitError)
    assert issubclass(InvalidOptionError, ValueError)
    assert issubclass(InvalidOptionError, TypeError)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("100",), "Budget max_tokens must be an int >= 1; got str '100'", id="str"),
        pytest.param(
            (100.0,), "Budget max_tokens must be an int >= 1; got float 100.0", id="float"
        ),
        pytest.param((True,), "Budget max_tokens must be an int >= 1; got bool True", id="bool"),
        pytest.param((None,), "Budget max_tokens must be an int >= 1; got None", id="none"),
        pytest.param((0,), "Budget max_tokens must be an int >= 1; got 0", id="zero"),
        pytest.param((-5,), "Budget max_tokens must be an int >= 1; got -5", id="negative"),
        pytest.param(
            (100, "10"),
            "Budget reserve_target must be an int from 0 to 100 (max_tokens); got str '10'",
            id="reserve-str",
        ),
        pytest.param(
            (100, 101),
            "Budget reserve_target must be an int from 0 to 100 (max_tokens); got 101",
            id="reserve-over",
        ),
        pytest.param(
            (100, -1),
            "Budget reserve_target must be an int from 0 to 100 (max_tokens); got -1",
            id="reserve-negative",
        ),
        pytest.param(
            (100, 0, 2.5), "Budget min_context must be an int >= 0; got float 2.5", id="min-float"
        ),
        pytest.param((100, 0, -1), "Budget min_context must be an int >= 0; got -1", id="min-neg"),
        pytest.param(
            (100, 0, False), "Budget min_context must be an int >= 0; got bool False", id="min-bool"
        ),
    ],
)
def test_budget_names_the_field_and_the_accepted_values(
    args: tuple[object, ...], message: str
) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        Budget(*args)  # type: ignore[arg-type]
    assert str(caught.value) == message


@given(
    field=st.sampled_from(["max_tokens", "reserve_target", "min_context"]),
    value=st.one_of(
        st.text(),
        st.floats(),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=3),
        st.integers(max_value=-1),
    ),
)
def test_budget_refuses_every_wrong_value_with_a_convsplit_error(field: str, value: object) -> None:
    values: dict[str, object] = {"max_tokens": 100, field: value}
    with pytest.raises(ConvsplitError, match=f"^Budget {field} must be an int"):
        Budget(**values)  # type: ignore[arg-type]


def test_budget_takes_a_numpy_integer_as_a_plain_int() -> None:
    numpy = pytest.importorskip("numpy")
    budget = Budget(numpy.int64(512), numpy.int32(10))
    assert budget == Budget(512, 10)
    assert type(budget.max_tokens) is int and type(budget.reserve_target) is int


def test_a_plain_dict_splits_as_the_conversation_it_describes() -> None:
    as_dict = split_conversation(CHAT, SplitSpec(budget=Budget(100)))
    as_model = split_conversation(Conversation.model_validate(CHAT), SplitSpec(budget=Budget(100)))
    assert as_dict == as_model
    assert as_dict.conversation_id == "c1"
    assert [m.text for m in as_dict.samples[0].messages] == [
        "Be brief.",
        "Capital of France?",
        "Paris.",
    ]


def test_any_mapping_is_accepted_and_the_callers_dict_is_left_alone() -> None:
    record = {"messages": [dict(m) for m in CHAT["messages"]]}  # type: ignore[attr-defined]
    before = repr(record)
    result = split_conversation(types.MappingProxyType(record), SplitSpec(budget=Budget(100)))
    assert len(result.samples) == 1
    assert repr(record) == before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            {"messages": [{"role": "bot", "content": "hi"}]},
            "conversation #0: message 0: field 'role': expected one of system, developer, user, "
            "assistant, tool; got 'bot' (map it: role_map={'bot': 'assistant'})",
            id="bad-role",
        ),
        pytest.param(
            {"messages": "hello"},
            "conversation #0: field 'messages': expected a list of messages; got a string",
            id="messages-str",
        ),
        pytest.param(
            {},
            "conversation #0: cannot tell the format from the keys (none): expected 'messages' "
            "(openai), 'conversations' (sharegpt), 'contents' with 'parts' (gemini), 'prompt' "
            "and 'completion', 'instruction' and 'output', or a user and an assistant field "
            "such as 'user' and 'assistant' (pairs); choose one with input_format=... or name "
            "the fields with role_map=...",
            id="empty-dict",
        ),
        pytest.param(
            "hello",
            "conversation #0: expected a Conversation or a mapping in its form "
            "({'messages': [...]}); got str 'hello'",
            id="str",
        ),
        pytest.param(
            None,
            "conversation #0: expected a Conversation or a mapping in its form "
            "({'messages': [...]}); got None",
            id="none",
        ),
        pytest.param(
            [Message(role="user", content="hi")],
            "conversation #0: expected a Conversation or a mapping in its form "
            "({'messages': [...]}); got list [Message(role='user', content... weight=None, reasoning=None)]",
            id="list-of-messages",
        ),
    ],
)
def test_what_is_not_a_conversation_is_an_invalid_conversation_error(
    value: object, message: str
) -> None:
    with pytest.raises(InvalidConversationError) as caught:
        split_conversation(value, SplitSpec(budget=Budget(100)))  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_a_bad_conversation_in_a_stream_is_named_by_its_position() -> None:
    results = split_conversations(
        [CHAT, CHAT, {"messages": [{"role": "bot"}]}], SplitSpec(budget=Budget(100))
    )
    assert len(next(results).samples) == 1
    assert len(next(results).samples) == 1
    with pytest.raises(InvalidConversationError, match=r"^conversation #2: message 0: "):
        next(results)


COUNTER_NAMES = "{counters}"  # the registries' names when the test runs (tests register more)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"budget": 4096},
            "budget must be a Budget, such as Budget(4096); got int 4096",
            id="budget-int",
        ),
        pytest.param(
            {"tokenizer": 3},
            "tokenizer must be a TokenCounter; got int 3 (get_counter builds one from a name: "
            f"{COUNTER_NAMES})",
            id="tokenizer-int",
        ),
        pytest.param(
            {"chat_format": 3},
            "chat_format must be a ChatFormat; got int 3 (get_chat_format builds one from a "
            "name: {formats})",
            id="chat-format-int",
        ),
        pytest.param(
            {"window": "last-turns"},
            "window must be a WindowStrategy; got str 'last-turns' (use "
            "window=get_window('last-turns'); get_window builds one from a name: chunks, full, "
            "last-turns)",
            id="window-name",
        ),
        pytest.param(
            {"window": None},
            "window must be a WindowStrategy; got None (get_window builds one from a name: "
            "chunks, full, last-turns)",
            id="window-none",
        ),
        pytest.param(
            {"truncation": LastTurns(2)},
            "truncation must be a TruncationStrategy; got LastTurns(turns=2, name='last-turns') "
            "(get_truncation builds one from a name: drop-oldest, middle-out, truncate-content)",
            id="truncation-is-a-window",
        ),
        pytest.param(
            {"window": LastTurns},
            "window must be a WindowStrategy object, such as LastTurns(); got the class "
            "LastTurns itself",
            id="window-class",
        ),
        pytest.param(
            {"truncation": MiddleOut},
            "truncation must be a TruncationStrategy object, such as MiddleOut(); got the "
            "class MiddleOut itself",
            id="truncation-class",
        ),
        pytest.param(
            {"on_long_target": "drop"},
            "on_long_target must be one of 'skip', 'truncate', 'error'; got str 'drop'",
            id="on-long-target-name",
        ),
        pytest.param(
            {"on_long_target": True},
            "on_long_target must be one of 'skip', 'truncate', 'error'; got bool True",
            id="on-long-target-bool",
        ),
        pytest.param(
            {"keep_reasoning": "yes"},
            "keep_reasoning must be True or False; got str 'yes'",
            id="keep-reasoning-str",
        ),
        pytest.param(
            {"max_record_bytes": -1},
            "max_record_bytes must be an int >= 1; got -1",
            id="max-record-bytes-negative",
        ),
        pytest.param(
            {"output_format": 5},
            "output_format must be a writer name; got int 5",
            id="output-format-int",
        ),
    ],
)
def test_a_spec_names_a_wrong_option_and_what_it_accepts(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        SplitSpec(**options)  # type: ignore[arg-type]
    names = {"counters": ", ".join(counter_names()), "formats": ", ".join(chat_format_names())}
    assert str(caught.value) == message.replace("{counters}", names["counters"]).replace(
        "{formats}", names["formats"]
    )


def test_names_are_resolved_by_their_registries() -> None:
    spec = SplitSpec(tokenizer="cl100k_base", chat_format="chatml")
    assert spec.tokenizer is get_counter("cl100k_base")
    assert spec.chat_format is get_chat_format("chatml")


@pytest.mark.parametrize(
    ("index", "message"),
    [
        pytest.param(-1, "index must be an int >= 0; got -1", id="negative"),
        pytest.param("3", "index must be an int >= 0; got str '3'", id="str"),
    ],
)
def test_split_conversation_names_a_wrong_index(index: object, message: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        split_conversation(CHAT, SplitSpec(), index=index)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_split_conversation_wants_a_spec() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        split_conversation(CHAT, Budget(100))  # type: ignore[arg-type]
    assert str(caught.value) == (
        "spec must be a SplitSpec, such as SplitSpec(Budget(4096)); got Budget(max_tokens=100, "
        "reserve_target=0, min_context=0)"
    )


def test_splitter_and_split_conversations_check_options_before_any_conversation() -> None:
    def never_read() -> Iterator[dict[str, object]]:
        raise AssertionError("the stream was read before the options were checked")
        yield {}

    with pytest.raises(InvalidOptionError, match=r"^spec must be a SplitSpec"):
        split_conversations(never_read(), Budget(100))  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match=r"^budget must be a Budget"):
        SplitSpec("4096")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match=r"^budget must be a Budget"):
        SplitSpec(Budget(100)).with_budget(200)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("conversations", "message"),
    [
        pytest.param(
            Conversation.model_validate(CHAT),
            "conversations must be an iterable of conversations; got one Conversation "
            "(use split_conversation for one)",
            id="one-conversation",
        ),
        pytest.param(
            CHAT,
            "conversations must be an iterable of conversations; got one mapping "
            "(use split_conversation for one)",
            id="one-dict",
        ),
        pytest.param(
            None,
            "conversations must be an iterable of conversations (Conversation objects or "
            "mappings in their form); got None",
            id="none",
        ),
        pytest.param(
            "data.jsonl",
            "conversations must be an iterable of conversations (Conversation objects or "
            "mappings in their form); got str 'data.jsonl'",
            id="file-name",
        ),
    ],
)
def test_split_conversations_wants_an_iterable_of_conversations(
    conversations: object, message: str
) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        split_conversations(conversations, SplitSpec(budget=Budget(100)))  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_right_options_still_split_and_are_kept_as_given() -> None:
    counter, chat_format = get_counter("cl100k_base"), get_chat_format("chatml")
    spec = SplitSpec(Budget(100), tokenizer=counter, chat_format=chat_format, window=LastTurns(1))
    assert spec.tokenizer is counter and spec.chat_format is chat_format
    assert [r.conversation_index for r in split_conversations([CHAT, CHAT], spec)] == [0, 1]
    assert split_conversation(CHAT, spec, index=7).conversation_index == 7


def test_a_mapping_is_read_as_the_spec_reads_records() -> None:
    """input_format, fields and role_map apply to split_conversation as to split_files."""
    sharegpt = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}
    named = {"dialog": [{"speaker": "user", "text": "Hi"}, {"speaker": "bot", "text": "Yo"}]}
    spec = SplitSpec(fields={"messages": "dialog", "role": "speaker", "content": "text"},
                     role_map={"bot": "assistant"})  # fmt: skip
    for record, options in ((sharegpt, SplitSpec(input_format="sharegpt")), (named, spec)):
        (sample,) = split_conversation(record, options).samples
        assert [(m.role, m.content) for m in sample.messages] == [
            ("user", "Hi"),
            ("assistant", "Yo"),
        ]
