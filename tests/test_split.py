"""The splitter on hand-made conversations: each behaviour a user relies on, by example."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from convsplit import (
    Budget,
    Chunks,
    Conversation,
    FunctionCall,
    InvalidConversationError,
    LastTurns,
    Message,
    MiddleOut,
    SkipReason,
    SplitSpec,
    TargetTooLongError,
    ToolCall,
    TruncateContent,
    get_chat_format,
    get_counter,
    parse_conversation,
    split_conversation,
    split_conversations,
)


def conv(*pairs: tuple[str, str], **fields: object) -> Conversation:
    return Conversation(
        messages=tuple(Message(role=role, content=text) for role, text in pairs),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def contents(messages: Sequence[Message]) -> list[str | None]:
    return [m.text for m in messages]


LONG_CHAT = conv(
    ("system", "You are terse."),
    *[
        pair
        for k in range(8)
        for pair in (("user", f"Question {k}: " + "why " * 20), ("assistant", f"Answer {k}."))
    ],
)


def test_every_assistant_turn_is_a_target_with_the_system_prompt_pinned() -> None:
    result = split_conversation(LONG_CHAT, SplitSpec(budget=Budget(120)))
    assert len(result.samples) == 8
    for k, sample in enumerate(result.samples):
        assert sample.messages[0].text == "You are terse."
        assert sample.target_messages[0].text == f"Answer {k}."
        assert sample.messages[1].role == "user"
        assert sample.total_tokens <= 120
    assert [s.dropped_messages for s in result.samples][-1] > 0
    assert all(o.targeted for o in result.outcomes)


def test_final_round_is_never_lost_where_fastchat_drops_it() -> None:
    """FastChat's split_long_conversation emits a chunk only when the next round overflows."""
    result = split_conversation(LONG_CHAT, SplitSpec(budget=Budget(120), window=Chunks()))
    trained = [m.text for s in result.samples for m in s.target_messages]
    assert trained == [f"Answer {k}." for k in range(8)]
    assert len(result.samples) > 1


def test_chunks_can_carry_context_into_the_next_chunk() -> None:
    plain = split_conversation(LONG_CHAT, SplitSpec(budget=Budget(200), window=Chunks()))
    carried = split_conversation(
        LONG_CHAT, SplitSpec(budget=Budget(200), window=Chunks(carry_tokens=60))
    )
    assert [m.text for s in carried.samples for m in s.target_messages] == [
        f"Answer {k}." for k in range(8)
    ]
    second = carried.samples[1]
    assert second.messages[1].role == "user"
    assert len(second.messages) - 1 > 2 * len(second.targets)  # earlier turn carried, untrained
    assert len(plain.samples[1].messages) - 1 == 2 * len(plain.samples[1].targets)


def test_last_turns_bounds_the_history() -> None:
    result = split_conversation(
        LONG_CHAT, SplitSpec(budget=Budget(4096), window=LastTurns(turns=2))
    )
    last = result.samples[-1]
    assert contents(last.messages)[1:] == [
        "Question 6: " + "why " * 20, "Answer 6.", "Question 7: " + "why " * 20, "Answer 7.",
    ]  # fmt: skip


def test_middle_out_keeps_the_task_statement() -> None:
    result = split_conversation(LONG_CHAT, SplitSpec(budget=Budget(150), truncation=MiddleOut()))
    last = result.samples[-1]
    assert last.messages[1].text.startswith("Question 0:")
    assert last.target_messages[0].text == "Answer 7."
    assert last.dropped_messages > 0


def test_truncate_content_fills_the_budget_with_a_visible_marker() -> None:
    result = split_conversation(
        LONG_CHAT, SplitSpec(budget=Budget(150), truncation=TruncateContent())
    )
    last = result.samples[-1]
    assert last.truncated
    cut = last.messages[last.truncated[0]]
    assert cut.text.startswith("[... ") and " tokens truncated ...] " in cut.text
    plain = split_conversation(LONG_CHAT, SplitSpec(budget=Budget(150))).samples[-1]
    assert plain.total_tokens < last.total_tokens <= 150


def test_tool_calls_and_results_stay_together() -> None:
    call = ToolCall(id="c1", function=FunctionCall(name="lookup", arguments='{"q": "x"}'))
    conversation = Conversation(
        messages=(
            Message(role="user", content="Look it up. " * 10),
            Message(role="assistant", tool_calls=(call,)),
            Message(role="user", content="(interjection)"),
            Message(role="tool", tool_call_id="c1", content="result " * 30),
            Message(role="assistant", content="Found it."),
        )
    )
    result = split_conversation(conversation, SplitSpec(budget=Budget(150)))
    assert len(result.samples) == 2
    last = result.samples[1]
    # The window cannot start at the interjection: its turn holds a result whose call is older.
    assert last.source_indices == (0, 1, 2, 3, 4)
    assert [o.targeted for o in result.outcomes] == [True, True]
    tight = split_conversation(conversation, SplitSpec(budget=Budget(90)))
    assert tight.outcomes[1].reason is SkipReason.TARGET_TOO_LONG


def test_reasoning_is_kept_on_targets_and_dropped_from_context_by_default() -> None:
    conversation = Conversation(
        messages=(
            Message(role="user", content="2+2?"),
            Message(role="assistant", content="4", reasoning="Two and two."),
            Message(role="user", content="3+3?"),
            Message(role="assistant", content="6", reasoning="Three and three."),
        )
    )
    trl = SplitSpec(budget=Budget(500), output_format="trl")  # TRL writes reasoning_content
    default = split_conversation(conversation, trl).samples[1]
    assert [m.reasoning for m in default.messages] == [None, None, None, "Three and three."]
    kept = split_conversation(
        conversation, SplitSpec(budget=Budget(500), keep_reasoning=True, output_format="trl")
    ).samples[1]
    assert [m.reasoning for m in kept.messages] == [None, "Two and two.", None, "Three and three."]
    assert kept.total_tokens > default.total_tokens


def test_reasoning_a_writer_does_not_write_is_not_counted() -> None:
    conversation = Conversation(
        messages=(
            Message(role="user", content="2+2?"),
            Message(role="assistant", content="4", reasoning="Two and two. " * 30),
            Message(role="user", content="Think only."),
            Message(role="assistant", reasoning="Nothing to say."),
        )
    )
    plain = Conversation(
        messages=(conversation.messages[0], Message(role="assistant", content="4"))
    )
    for output in ("openai", "sharegpt"):
        spec = SplitSpec(budget=Budget(500), output_format=output)
        result = split_conversation(conversation, spec)
        (sample,) = result.samples
        assert [m.reasoning for m in sample.messages] == [None, None]
        assert sample.total_tokens == split_conversation(plain, spec).samples[0].total_tokens
        # Reasoning alone, not written, leaves nothing to train.
        assert result.outcomes[1].reason is SkipReason.EMPTY_TARGET
    spec = SplitSpec(budget=Budget(500), output_format="openai",
                     writer_options={"keep_reasoning": True})  # fmt: skip
    assert split_conversation(conversation, spec).samples[0].target_messages[0].reasoning


def test_an_orphan_tool_result_is_left_out_and_its_turn_skipped() -> None:
    conversation = Conversation(
        messages=(
            Message(role="user", content="Q"),
            Message(role="tool", content="result of nothing"),
            Message(role="assistant", content="A"),
            Message(role="user", content="Q2"),
            Message(role="assistant", content="A2"),
        )
    )
    result = split_conversation(conversation, SplitSpec(budget=Budget(500)))
    assert [(o.message_index, o.reason, o.sample_index) for o in result.outcomes] == [
        (2, SkipReason.ORPHAN_TOOL_RESULT, None),
        (4, None, 0),
    ]
    (sample,) = result.samples
    assert sample.source_indices == (0, 2, 3, 4)
    assert all(m.role != "tool" for m in sample.messages)


def test_untrainable_turns_are_reported_with_a_reason() -> None:
    conversation = Conversation(
        messages=(
            Message(role="system", content="Hi"),
            Message(role="assistant", content="Welcome!"),
            Message(role="user", content="Q"),
            Message(role="assistant", content="A", weight=0),
            Message(role="user", content="Q2"),
            Message(role="assistant", content=""),
            Message(role="user", content="Q3"),
            Message(role="assistant", content="A3"),
        )
    )
    result = split_conversation(conversation, SplitSpec(budget=Budget(500)))
    assert [(o.message_index, o.reason) for o in result.skipped] == [
        (1, SkipReason.NO_USER_BEFORE),
        (3, SkipReason.WEIGHT_ZERO),
        (5, SkipReason.EMPTY_TARGET),
    ]
    (sample,) = result.samples
    assert sample.target_messages[0].text == "A3"
    # The empty assistant message is left out: written as context, trainers reject it.
    assert contents(sample.messages) == ["Hi", "Q", "A", "Q2", "Q3", "A3"]
    assert sample.source_indices == (0, 2, 3, 4, 6, 7)


def test_a_target_too_long_is_skipped_truncated_or_an_error() -> None:
    conversation = conv(("user", "Tell me everything."), ("assistant", "word " * 400), id="c7")
    skipped = split_conversation(conversation, SplitSpec(budget=Budget(100)))
    assert skipped.samples == ()
    assert skipped.outcomes[0].reason is SkipReason.TARGET_TOO_LONG

    cut = split_conversation(conversation, SplitSpec(budget=Budget(100), on_long_target="truncate"))
    (sample,) = cut.samples
    assert sample.truncated == (1,)
    assert sample.target_messages[0].text.startswith("word word")
    assert 95 <= sample.total_tokens <= 100

    with pytest.raises(TargetTooLongError) as error:
        split_conversation(conversation, SplitSpec(budget=Budget(100), on_long_target="error"))
    assert str(error.value) == (
        "conversation c7: message 1 needs 416 tokens with its turn and pinned messages "
        "(target 405, rest of its turn 11); max_tokens is 100 (use on_long_target='skip' or "
        "'truncate')"
    )


def test_reserve_target_leaves_room_for_a_reply() -> None:
    plain = split_conversation(LONG_CHAT, SplitSpec(budget=Budget(150))).samples[-1]
    reserved = split_conversation(
        LONG_CHAT, SplitSpec(budget=Budget(150, reserve_target=60))
    ).samples[-1]
    assert reserved.dropped_messages > plain.dropped_messages
    assert reserved.total_tokens - reserved.target_tokens + 60 <= 150


def test_min_context_skips_samples_left_with_a_stub() -> None:
    result = split_conversation(LONG_CHAT, SplitSpec(budget=Budget(60, min_context=45)))
    assert result.outcomes[0].targeted  # nothing was cut for the first turn
    assert {o.reason for o in result.skipped} == {SkipReason.TOO_LITTLE_CONTEXT}


def test_counting_is_linear_each_text_is_tokenized_once() -> None:
    """Never re-tokenize growing prefixes: counts per conversation grow with its length."""
    counted: list[str] = []
    real = get_counter("o200k_base")

    class Recording:
        name = "recording"

        def count(self, text: str) -> int:
            counted.append(text)
            return real.count(text)

        def encode(self, text: str) -> list[int]:
            return real.encode(text)

        def decode(self, tokens: Sequence[int]) -> str:
            return real.decode(tokens)

    for chat_format in ("openai", "chatml", "llama2", "llama3"):
        counted.clear()
        result = split_conversation(LONG_CHAT, SplitSpec(budget=Budget(4096), tokenizer=Recording(), chat_format=get_chat_format(chat_format)))  # fmt: skip
        assert len(result.samples) == 8
        # openai counts role and content apart: at most three texts per message.
        assert len(counted) <= 3 * len(LONG_CHAT.messages) + 4, chat_format


def test_streaming_numbers_conversations() -> None:
    results = list(split_conversations([LONG_CHAT, LONG_CHAT], SplitSpec(budget=Budget(120))))
    assert [r.conversation_index for r in results] == [0, 1]
    assert results[1].samples[0].conversation_index == 1


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([], "expected a JSON object with 'messages'; got list"),
        ({}, "field 'messages': is required"),
        ({"messages": [{"role": "bot", "content": "x"}]},
         "message 0: field 'role': expected one of system, developer, user, assistant, tool; "
         "got 'bot'"),
        ({"messages": [{"role": "user", "content": 3}]},
         "message 0: field 'content': expected a string, a list of content parts or null; got 3"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "weight": 2}]},
         "message 1: field 'weight': input should be 0 or 1; got 2"),
    ],
)  # fmt: skip
def test_invalid_data_names_message_field_and_expectation(record: object, message: str) -> None:
    with pytest.raises(InvalidConversationError) as error:
        parse_conversation(record)
    assert str(error.value) == message


def test_results_built_without_validation_equal_validated_ones() -> None:
    # The splitter builds its Samples, outcomes and results with samples.trusted(), which
    # skips validation; each must be what validating the same fields would make.
    result = split_conversation(conv(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello"),
             ("assistant", ""), ("user", "And? " * 10), ("assistant", "Bye")), SplitSpec(budget=Budget(200)))  # fmt: skip
    built = [result, *result.samples, *result.outcomes]
    assert len(result.samples) == 2 and result.skipped  # every kind of model is there
    for model in built:
        fields = {name: getattr(model, name) for name in model.model_fields_set}
        validated = type(model).model_validate(fields)
        assert model == validated
        assert model.model_fields_set == validated.model_fields_set
        assert model.model_dump() == validated.model_dump()
        assert list(model.__dict__) == list(validated.__dict__)  # the order dumps follow
        assert (model.__pydantic_extra__, model.__pydantic_private__) == (None, None)


def test_a_conversation_the_chat_format_cannot_render_is_an_invalid_conversation() -> None:
    from convsplit import ChatFormatError
    from convsplit.tokens.chat_formats import ChatML

    class OneCallOnly(ChatML):
        name = "one-call-only"

        def check_conversation(self, conversation: Conversation) -> None:
            if any(m.content == "two calls" for m in conversation.messages):
                raise ChatFormatError("This model only supports single tool-calls at once!")

    spec = SplitSpec(budget=Budget(500), chat_format=OneCallOnly())
    good = conv(("user", "Q"), ("assistant", "A"))
    assert split_conversation(good, spec).samples
    with pytest.raises(InvalidConversationError) as caught:
        split_conversation(conv(("user", "two calls"), ("assistant", "A"), id="c9"), spec)
    assert str(caught.value) == (
        "conversation c9: chat format 'one-call-only' cannot render it: "
        "This model only supports single tool-calls at once!"
    )
