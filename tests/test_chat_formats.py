"""Chat formats: literal renderings, and per-message counts that add up to the whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import (
    Conversation,
    FunctionCall,
    Message,
    ToolCall,
    UnknownNameError,
    chat_format_names,
    get_chat_format,
    get_counter,
    register_chat_format,
)
from convsplit.testing import conversations
from convsplit.tokens.chat_formats import OpenAIChat, TemplateFormat, openai_tools_cost
from tests.reference import count_rendered

SYSTEM = Message(role="system", content="Be brief.")
USER = Message(role="user", content="Hi there")
ASSISTANT = Message(role="assistant", content="Hello!")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "chatml",
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n",
            id="chatml",
        ),
        pytest.param(
            "llama2",
            "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! </s>",
            id="llama2",
        ),
        pytest.param(
            "llama3",
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>",
            id="llama3",
        ),
        pytest.param(
            "plain", "Be brief.<|endoftext|>Hi there<|endoftext|>Hello!<|endoftext|>", id="plain"
        ),
    ],
)
def test_templates_render_as_published(name: str, expected: str) -> None:
    chat_format = get_chat_format(name)
    assert isinstance(chat_format, TemplateFormat)
    assert chat_format.render([SYSTEM, USER, ASSISTANT]) == expected


def test_llama2_without_system_and_with_several_rounds() -> None:
    llama2 = get_chat_format("llama2")
    assert isinstance(llama2, TemplateFormat)
    text = llama2.render([USER, ASSISTANT, USER, ASSISTANT])
    assert text == "<s>[INST] Hi there [/INST] Hello! </s><s>[INST] Hi there [/INST] Hello! </s>"


def test_chatml_shows_reasoning_and_tool_calls() -> None:
    call = ToolCall(id="c1", function=FunctionCall(name="search", arguments='{"q": "x"}'))
    message = Message(
        role="assistant", content="Let me look.", reasoning="Think.", tool_calls=(call,)
    )
    chatml = get_chat_format("chatml")
    assert isinstance(chatml, TemplateFormat)
    assert chatml.render([message]) == (
        "<|im_start|>assistant\n<think>\nThink.\n</think>\n\nLet me look.\n"
        '<tool_call>\n{"name": "search", "arguments": {"q": "x"}}\n</tool_call><|im_end|>\n'
    )


def _cookbook_count(messages: list[dict[str, str]], encoding_name: str) -> int:
    """OpenAI cookbook's num_tokens_from_messages, written out independently."""
    counter = get_counter(encoding_name)
    total = 0
    for message in messages:
        total += 3
        for key, value in message.items():
            total += counter.count(value)
            if key == "name":
                total += 1
    return total + 3


COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that "
     "translates corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line "
     "growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together "
     "will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more "
     "bandwidth to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less "
     "busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for "
     "the client deliverable."},
]  # fmt: skip


@pytest.mark.parametrize(
    ("encoding_name", "published"),
    [pytest.param("cl100k_base", 129, id="cl100k"), pytest.param("o200k_base", 124, id="o200k")],
)
def test_openai_format_matches_the_cookbook(encoding_name: str, published: int) -> None:
    """The cookbook prints 129 for gpt-4/gpt-3.5 (cl100k) and 124 for gpt-4o (o200k)."""
    counter = get_counter(encoding_name)
    openai = get_chat_format("openai")
    messages = [Message.model_validate(m) for m in COOKBOOK_MESSAGES]
    ours = openai.sample_cost(None, counter) + sum(
        openai.message_cost(m, counter, after_instruction=False) for m in messages
    )
    assert ours == _cookbook_count(COOKBOOK_MESSAGES, encoding_name) == published


def test_openai_tool_schemas_use_the_published_constants() -> None:
    counter = get_counter("o200k_base")
    tools = [{"type": "function", "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string",
                         "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {"type": "string", "description": "The unit of temperature to return",
                     "enum": ["celsius", "fahrenheit"]},
        }, "required": ["location"]},
    }}]  # fmt: skip
    expected = (
        7
        + counter.count("get_current_weather:Get the current weather in a given location")
        + 3
        + 3
        + counter.count("location:string:The city and state, e.g. San Francisco, CA")
        + 3
        - 3
        + 3
        + counter.count("celsius")
        + 3
        + counter.count("fahrenheit")
        + counter.count("unit:string:The unit of temperature to return")
        + 12
    )
    assert openai_tools_cost(tools, counter) == expected
    assert openai_tools_cost(tools, get_counter("cl100k_base")) > 0


@pytest.mark.parametrize("name", ["openai", "chatml", "llama2", "llama3", "plain"])
@pytest.mark.parametrize("encoding_name", ["o200k_base", "cl100k_base"])
@given(conversation=conversations(max_events=10))
def test_sum_of_message_costs_equals_rendered_count(
    name: str, encoding_name: str, conversation: Conversation
) -> None:
    chat_format = get_chat_format(name)
    counter = get_counter(encoding_name)
    messages = conversation.messages
    parts = chat_format.sample_cost(conversation.tools, counter) + sum(
        chat_format.message_cost(
            m,
            counter,
            after_instruction=i > 0 and messages[i - 1].role in ("system", "developer"),
        )
        for i, m in enumerate(messages)
    )
    whole = count_rendered(
        messages, conversation.tools, encoding_name=encoding_name, format_name=name
    )
    assert parts == whole


@given(text=st.sampled_from(["<|im_start|>", "<|eot_id|>", "[INST]", "<|endoftext|>"]))
def test_marker_lookalikes_in_content_are_plain_text(text: str) -> None:
    counter = get_counter("o200k_base")
    chatml = get_chat_format("chatml")
    cost = chatml.message_cost(Message(role="user", content=text), counter, after_instruction=False)
    assert cost == 2 + 1 + counter.count("user\n" + text)
    assert counter.count(text) > 1


def test_registry_lists_known_names_and_accepts_new_ones() -> None:
    with pytest.raises(UnknownNameError, match="expected one of chatml, hf:<folder with"):
        get_chat_format("vicuna")

    class Shouting(OpenAIChat):
        name = "shouting"

    register_chat_format(Shouting())
    assert "shouting" in chat_format_names()
    assert get_chat_format("shouting").name == "shouting"
