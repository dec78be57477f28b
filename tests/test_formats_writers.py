"""Writers: each output checked against its trainer's documented schema, byte-identical to
dumping each sample with orjson, and the options that change what is written."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import (
    Budget,
    Chunks,
    Conversation,
    FullHistory,
    LastTurns,
    Message,
    SplitResult,
    SplitSpec,
    UnknownNameError,
    get_chat_format,
    split_conversation,
)
from convsplit.formats import (
    OpenAIWriter,
    PromptCompletionWriter,
    SampleWriter,
    ShareGPTWriter,
    TextWriter,
    TRLWriter,
    UnsupportedSampleError,
    get_writer,
    metadata_lines,
    read_records,
    writer_names,
)
from convsplit.formats.preference import sft_writer_names
from convsplit.formats.text import render_message
from convsplit.testing import conversations
from convsplit.tokens.chat_formats import TemplateFormat
from convsplit.tokens.counters import get_counter
from tests.format_strategies import data_file, rich_conversations, tool_call
from tests.reference import encoding_with_markers
from tests.writer_oracles import record

REAL_FILES = [
    "fastchat_dummy_conversation.json",
    "llamafactory_glaive_toolcall_en_demo.json",
    "llamafactory_reason_tool_use_demo_50.jsonl",
    "openai_cookbook_toy_chat_fine_tuning.jsonl",
]

WRITERS = [
    pytest.param(OpenAIWriter(), id="openai"),
    pytest.param(OpenAIWriter(weight_targets=True, keep_reasoning=True, keep_extras=True,
                              fill_tool_call_ids=False, metadata="inline",
                              parallel_tool_calls=True), id="openai-all"),
    pytest.param(TRLWriter(multi_target="completion"), id="trl"),
    pytest.param(TRLWriter(arguments="string", keep_reasoning=True, multi_target="completion",
                           keep_columns=True), id="trl-strings"),
    pytest.param(ShareGPTWriter(), id="sharegpt"),
    pytest.param(ShareGPTWriter(train_flag="always", keep_fields=True), id="sharegpt-fields"),
    pytest.param(TextWriter(), id="text-chatml"),
    pytest.param(TextWriter(template="llama2", layout="segments"), id="text-llama2-segments"),
    pytest.param(TextWriter(template="llama3"), id="text-llama3"),
    pytest.param(TextWriter(template="plain"), id="text-plain"),
]  # fmt: skip


def conversations_of(name: str) -> list[Conversation]:
    return [r.conversation for r in read_records(data_file(name)) if r.conversation]


def real_results(window: Any = None, budget: int = 4096) -> Iterator[SplitResult]:
    for name in REAL_FILES:
        for conv in conversations_of(name):
            yield split_conversation(
                conv, SplitSpec(budget=Budget(budget), window=window or FullHistory())
            )


def written(writer: SampleWriter, result: SplitResult) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in writer.lines(result)]


def reference_lines(writer: Any, result: SplitResult) -> list[bytes]:
    return [orjson.dumps(record(writer, s, k)) + b"\n" for k, s in enumerate(result.samples)]


# -- fast lines == orjson of each sample --------------------------------------------------------


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("window", [FullHistory(), Chunks()], ids=["full", "chunks"])
def test_lines_are_byte_identical_to_dumping_each_sample_real_data(
    writer: Any, window: Any
) -> None:
    count = 0
    for result in real_results(window):
        lines = list(writer.lines(result))
        assert lines == reference_lines(writer, result)
        assert b"".join(writer.chunks(result)) == b"".join(lines)
        assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
        count += len(lines)
    assert count == (2075 if isinstance(window, FullHistory) else 853)


@pytest.mark.parametrize("writer", WRITERS)
@given(conv=rich_conversations(), window=st.sampled_from([FullHistory(), Chunks(), LastTurns(2)]))
def test_lines_are_byte_identical_to_dumping_each_sample(
    writer: Any, conv: Conversation, window: Any
) -> None:
    result = split_conversation(conv, SplitSpec(budget=Budget(2000), window=window))
    assert list(writer.lines(result)) == reference_lines(writer, result)
    # the pieces the pipeline writes are the same bytes
    assert b"".join(writer.chunks(result)) == b"".join(reference_lines(writer, result))


# -- OpenAI -------------------------------------------------------------------------------------

#: Keys OpenAI's chat fine-tuning format documents, per role.
OPENAI_KEYS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "weight", "function_call", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}


def check_openai_line(line: dict[str, Any]) -> None:
    """OpenAI's documented chat fine-tuning line: roles, keys, weights, tool pairing."""
    assert set(line) <= {"messages", "tools", "parallel_tool_calls"}
    messages = line["messages"]
    assert messages and isinstance(messages, list)
    call_ids: set[str] = set()
    for message in messages:
        role = message["role"]
        assert set(message) <= OPENAI_KEYS[role], message
        content = message.get("content")
        if role == "assistant":
            assert message.get("weight", 1) in (0, 1)
            assert content is not None or message.get("tool_calls")
            for call in message.get("tool_calls", ()):
                assert set(call) == {"id", "type", "function"}
                assert isinstance(call["id"], str) and call["type"] == "function"
                assert set(call["function"]) == {"name", "arguments"}
                assert isinstance(call["function"]["arguments"], str)
                call_ids.add(call["id"])
        else:
            assert isinstance(content, (str, list))
        if role == "tool":
            assert message["tool_call_id"] in call_ids
    assert messages[-1]["role"] == "assistant" and "weight" not in messages[-1]
    for tool in line.get("tools", ()):
        assert tool["type"] == "function" and isinstance(tool["function"]["name"], str)


def test_openai_output_follows_openai_schema_on_real_data() -> None:
    writer = OpenAIWriter()
    lines = [line for result in real_results() for line in written(writer, result)]
    assert len(lines) == 2075
    for line in lines:
        check_openai_line(line)


def test_openai_weights_mark_context_and_targets() -> None:
    conv = Conversation(
        messages=(
            Message(role="user", content="a"),
            Message(role="assistant", content="b"),
            Message(role="user", content="c"),
            Message(role="assistant", content="d", weight=1),
        )
    )
    result = split_conversation(conv, SplitSpec(budget=Budget(100)))
    assert [
        [m.get("weight") for m in line["messages"]] for line in written(OpenAIWriter(), result)
    ] == [
        [None, None],
        [None, 0, None, None],
    ]
    chunked = split_conversation(conv, SplitSpec(budget=Budget(100), window=Chunks()))
    (line,) = written(OpenAIWriter(weight_targets=True), chunked)
    assert [m.get("weight") for m in line["messages"]] == [None, 1, None, 1]


def test_openai_drops_reasoning_and_extras_unless_asked() -> None:
    message = Message.model_validate(
        {"role": "assistant", "content": "4", "reasoning": "2+2", "x_note": "n"}
    )
    conv = Conversation(messages=(Message(role="user", content="2+2?"), message))
    result = split_conversation(conv, SplitSpec(budget=Budget(100)))
    assert written(OpenAIWriter(), result)[0]["messages"][1] == {
        "role": "assistant",
        "content": "4",
    }
    # Reasoning is in the samples only when the split's writer writes (and counts) it.
    options = {"keep_reasoning": True, "keep_extras": True}
    result = split_conversation(conv, SplitSpec(budget=Budget(100), writer_options=options))
    kept = written(OpenAIWriter(**options), result)
    assert kept[0]["messages"][1] == {
        "role": "assistant", "content": "4", "reasoning": "2+2", "x_note": "n",
    }  # fmt: skip


def test_openai_fills_tool_call_ids_consistently_across_samples() -> None:
    conv = Conversation(
        messages=(
            Message(role="user", content="Two sums"),
            Message(role="assistant", tool_calls=(tool_call("add"), tool_call("add"))),
            Message(role="tool", content="3"),
            Message(role="tool", content="7"),
            Message(role="assistant", content="3 and 7"),
            Message(role="user", content="Thanks"),
            Message(role="assistant", content="You're welcome"),
        ),
        tools=({"name": "add", "parameters": {"type": "object"}},),
    )
    lines = written(OpenAIWriter(), split_conversation(conv, SplitSpec(budget=Budget(500))))
    for line in lines:
        check_openai_line(line)
        assert line["tools"] == [
            {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
        ]
    calls = [line["messages"][1]["tool_calls"] for line in lines]
    assert all(c == calls[0] for c in calls)
    assert [c["id"] for c in calls[0]] == ["call_1_0", "call_1_1"]
    assert [m.get("tool_call_id") for m in lines[-1]["messages"][2:4]] == ["call_1_0", "call_1_1"]
    unfilled = written(
        OpenAIWriter(fill_tool_call_ids=False),
        split_conversation(conv, SplitSpec(budget=Budget(500))),
    )
    assert "id" not in unfilled[0]["messages"][1]["tool_calls"][0]


def test_openai_fills_ids_from_the_first_sample_that_needs_them() -> None:
    """Samples before the first id-less call are written the fast way, the rest with ids;
    both as dumping each sample would write them."""
    conv = Conversation(
        messages=(
            Message(role="user", content="Hi"),
            Message(role="assistant", content="Hello"),
            Message(role="user", content="Add 1 and 2"),
            Message(role="assistant", tool_calls=(tool_call("add"),)),
            Message(role="tool", content="3"),
            Message(role="assistant", content="3"),
        )
    )
    writer = OpenAIWriter(metadata="inline")
    result = split_conversation(conv, SplitSpec(budget=Budget(500)))
    lines = list(writer.lines(result))
    assert lines == reference_lines(writer, result)
    assert b"".join(writer.chunks(result)) == b"".join(lines)
    assert b"call_" not in lines[0]
    assert [json.loads(line)["messages"][3]["tool_calls"][0]["id"] for line in lines[1:]] == [
        "call_3_0",
        "call_3_0",
    ]


def test_inline_metadata_and_sidecar_lines_agree() -> None:
    conv = next(iter(conversations_of("openai_cookbook_toy_chat_fine_tuning.jsonl")[1:2]))
    result = split_conversation(conv, SplitSpec(budget=Budget(4096)), index=1)
    inline = [line["metadata"] for line in written(OpenAIWriter(metadata="inline"), result)]
    sidecar = [orjson.loads(line) for line in metadata_lines(result)]
    assert inline == sidecar
    assert [(m["sample_index"], m["targets"], m["conversation_index"]) for m in sidecar] == [
        (0, [2], 1), (1, [4], 1), (2, [6], 1), (3, [8], 1),
    ]  # fmt: skip
    assert [m["total_tokens"] for m in sidecar] == [s.total_tokens for s in result.samples]


# -- TRL ----------------------------------------------------------------------------------------


def check_trl_line(line: dict[str, Any]) -> None:
    """TRL's documented conversational prompt-completion example (plus ``tools``)."""
    assert set(line) <= {"prompt", "completion", "tools"}
    for key in ("prompt", "completion"):
        assert isinstance(line[key], list) and line[key]
        for message in line[key]:
            assert message["role"] in {"system", "developer", "user", "assistant", "tool"}
            assert "content" in message or message.get("tool_calls")
            assert "weight" not in message
    assert [m["role"] for m in line["completion"]] == ["assistant"]
    assert line["prompt"][-1]["role"] in {"user", "tool"}


def test_trl_output_follows_trl_schema_on_real_data() -> None:
    lines = [line for result in real_results() for line in written(TRLWriter(), result)]
    assert len(lines) == 2075
    for line in lines:
        check_trl_line(line)
        for message in line["prompt"] + line["completion"]:
            for call in message.get("tool_calls", ()):
                assert isinstance(call["function"]["arguments"], dict)


def test_trl_refuses_several_targets_unless_asked() -> None:
    conv = conversations_of("openai_cookbook_toy_chat_fine_tuning.jsonl")[1]
    result = split_conversation(conv, SplitSpec(budget=Budget(4096), window=Chunks()))
    with pytest.raises(UnsupportedSampleError, match="a sample with 4 targets cannot be written"):
        list(TRLWriter().lines(result))
    (line,) = written(TRLWriter(multi_target="completion"), result)
    assert [m["role"] for m in line["completion"]] == ["assistant"] + ["user", "assistant"] * 3


CHAT_TEMPLATE = (
    "{% if tools %}<|tools|>{{ tools | tojson }}\n{% endif %}"
    "{% for m in messages %}<|{{ m.role }}|>"
    "{% if m.content %}{{ m.content }}{% endif %}"
    "{% for c in m.tool_calls or [] %}<call>{{ c.function.name }}"
    "{{ c.function.arguments | tojson }}</call>{% endfor %}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_tokenizer() -> Any:
    """A tokenizer built in memory (nothing downloaded) that carries CHAT_TEMPLATE."""
    pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    backend = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", eos_token="[UNK]"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def test_trl_accepts_the_output_with_its_own_helpers(tmp_path: Path) -> None:
    """TRL's dataset helpers (no torch needed): conversational check, chat template, Arrow."""
    data_utils = pytest.importorskip(
        "trl.data_utils",
        reason="TRL not installed (pip install --no-deps trl datasets transformers)",
    )
    datasets = pytest.importorskip("datasets")
    tokenizer = tiny_tokenizer()
    writer = TRLWriter()
    path = tmp_path / "trl.jsonl"
    with path.open("wb") as out:
        for name in (
            "llamafactory_glaive_toolcall_en_demo.json",
            "fastchat_dummy_conversation.json",
        ):
            for conv in conversations_of(name):
                result = split_conversation(conv, SplitSpec(budget=Budget(4096)))
                for line, sample in zip(writer.lines(result), result.samples, strict=True):
                    example = orjson.loads(line)
                    assert data_utils.is_conversational(example)
                    rendered = data_utils.apply_chat_template(
                        {"prompt": example["prompt"], "completion": example["completion"]},
                        tokenizer,
                        tools=example.get("tools"),
                    )
                    target = sample.target_messages[0]
                    assert rendered["completion"].startswith(target.text or "<call>")
                    assert rendered["completion"].endswith("<|end|>\n")
                    out.write(line)
    dataset = datasets.Dataset.from_json(str(path))
    assert dataset.num_rows == 1957
    calls = 0
    for row, line in zip(dataset, path.read_bytes().splitlines(), strict=True):
        assert data_utils.is_conversational(row)
        example = orjson.loads(line)
        for loaded, message in zip(row["prompt"] + row["completion"],
                                   example["prompt"] + example["completion"], strict=True):  # fmt: skip
            for got, call in zip(loaded.get("tool_calls") or (), message.get("tool_calls", ()),
                                 strict=True):  # fmt: skip
                assert got["function"]["arguments"] == call["function"]["arguments"]
                calls += 1
    assert calls > 500  # Arrow kept every call's arguments as written


# -- ShareGPT -----------------------------------------------------------------------------------


def llamafactory_accepts(line: dict[str, Any]) -> bool:
    """LLaMA-Factory's ShareGPT converter check: an optional leading system turn, then
    (human | observation) and (gpt | function_call) alternating, ending on the assistant."""
    turns = line["conversations"]
    if turns and turns[0]["from"] == "system":
        turns = turns[1:]
    accept = ({"human", "observation"}, {"gpt", "function_call"})
    if len(turns) % 2 or not turns:
        return False
    return all(turn["from"] in accept[k % 2] for k, turn in enumerate(turns))


def check_sharegpt_line(line: dict[str, Any]) -> None:
    assert set(line) <= {"conversations", "tools"}
    if "tools" in line:
        assert isinstance(json.loads(line["tools"]), list)
    for turn in line["conversations"]:
        assert set(turn) <= {"from", "value", "train"}
        assert turn["from"] in {"human", "gpt", "system", "function_call", "observation"}
        assert isinstance(turn["value"], str)
        if turn["from"] == "function_call":
            value = json.loads(turn["value"])
            for call in value if isinstance(value, list) else [value]:
                assert set(call) == {"name", "arguments"}


def test_sharegpt_output_is_what_llamafactory_accepts_on_real_data() -> None:
    lines = [line for result in real_results() for line in written(ShareGPTWriter(), result)]
    assert len(lines) == 2075
    for line in lines:
        check_sharegpt_line(line)
    # The real files alternate (parallel calls are answered by one observation turn), so
    # every sample does; validation reports the data that would not (consecutive_same_role).
    assert all(llamafactory_accepts(line) for line in lines)


def test_sharegpt_train_flags_where_a_sample_has_several_targets() -> None:
    conv = conversations_of("openai_cookbook_toy_chat_fine_tuning.jsonl")[1]
    single = written(ShareGPTWriter(), split_conversation(conv, SplitSpec(budget=Budget(4096))))
    assert all("train" not in turn for line in single for turn in line["conversations"])
    chunked = split_conversation(
        conv, SplitSpec(budget=Budget(4096), window=Chunks(carry_tokens=0))
    )
    (line,) = written(ShareGPTWriter(), chunked)
    assert [t.get("train") for t in line["conversations"]] == [None, None] + [True, None] * 3 + [
        True
    ]
    context = split_conversation(conv, SplitSpec(budget=Budget(60), window=Chunks()))
    flags = [[t.get("train") for t in line["conversations"] if t["from"] == "gpt"]
             for line in written(ShareGPTWriter(train_flag="always"), context)]  # fmt: skip
    assert all(flag[-1] is True for flag in flags)


def test_sharegpt_speaking_and_calling_message_is_two_turns() -> None:
    conv = Conversation(
        messages=(
            Message(role="user", content="Weather?"),
            Message(
                role="assistant", content="Checking.", tool_calls=(tool_call("w", '{"c": 1}'),)
            ),
        )
    )
    (line,) = written(ShareGPTWriter(), split_conversation(conv, SplitSpec(budget=Budget(100))))
    assert line["conversations"][1:] == [
        {"from": "gpt", "value": "Checking."},
        {"from": "function_call", "value": '{"name": "w", "arguments": {"c": 1}}'},
    ]


# -- text ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["chatml", "llama2", "llama3", "plain"])
def test_text_spans_cover_each_target_and_the_text_counts_as_the_sample(template: str) -> None:
    """The rendered text is the core template's; its token count (markers as one token) is
    the sample's ``total_tokens``; each span is a target's body plus its closing marker."""
    from tests.reference import encoding_with_markers

    chat_format = get_chat_format(template)
    assert isinstance(chat_format, TemplateFormat)
    encoding = encoding_with_markers("o200k_base", template)
    writer = TextWriter(template=template)
    checked = 0
    for name in REAL_FILES:
        for conv in conversations_of(name)[:60]:
            result = split_conversation(
                conv, SplitSpec(budget=Budget(4096), chat_format=chat_format)
            )
            for line, sample in zip(written(writer, result), result.samples, strict=True):
                text, spans = line["text"], line["spans"]
                assert text == chat_format.render(sample.messages, sample.tools)
                assert len(encoding.encode(text, allowed_special="all")) == sample.total_tokens
                assert len(spans) == len(sample.targets)
                for (start, end), target in zip(spans, sample.target_messages, strict=True):
                    trained = text[start:end]
                    assert target.text.strip() in trained
                    assert trained.endswith(tuple(chat_format.specials))
                checked += 1
    assert checked > 400


def test_text_segments_are_the_spans_cut_out() -> None:
    conv = conversations_of("openai_cookbook_toy_chat_fine_tuning.jsonl")[1]
    result = split_conversation(conv, SplitSpec(budget=Budget(4096), window=Chunks()))
    (spans_line,) = written(TextWriter(), result)
    (segments_line,) = written(TextWriter(layout="segments"), result)
    segments = segments_line["segments"]
    assert "".join(s["text"] for s in segments) == spans_line["text"]
    trained = [s["text"] for s in segments if s["label"]]
    assert trained == [spans_line["text"][a:b] for a, b in spans_line["spans"]]
    assert trained[0] == "It's ok, it happens to everyone.<|im_end|>"
    assert all(a["label"] != b["label"] for a, b in itertools.pairwise(segments))


def test_render_message_marks_body_and_closing_marker() -> None:
    message = Message(role="assistant", content=" Hello ")
    cases = {
        "chatml": " Hello <|im_end|>",
        "llama3": "Hello<|eot_id|>",
        "llama2": "Hello </s>",
        "plain": " Hello <|endoftext|>",
    }
    for template, expected in cases.items():
        chat_format = get_chat_format(template)
        assert isinstance(chat_format, TemplateFormat)
        rendered = render_message(chat_format, message, after_instruction=False)
        assert rendered.text[rendered.start : rendered.end] == expected, template


def test_text_refuses_formats_that_cannot_render() -> None:
    with pytest.raises(ValueError, match="chat format 'openai' only counts tokens"):
        TextWriter(template="openai")


# -- prompt/completion text ---------------------------------------------------------------------


def test_prompt_completion_cuts_the_counted_rendering_at_the_target() -> None:
    conv = conversations_of("openai_cookbook_toy_chat_fine_tuning.jsonl")[1]
    for chat_format in ("chatml", "llama3", "plain"):
        spec = SplitSpec(budget=Budget(4096), chat_format=chat_format)
        result = split_conversation(conv, spec)
        lines = written(PromptCompletionWriter().for_spec(spec), result)
        texts = written(TextWriter().for_spec(spec), result)
        for line, text, sample in zip(lines, texts, result.samples, strict=True):
            ((start, _),) = text["spans"]
            assert line == {"prompt": text["text"][:start], "completion": text["text"][start:]}
            joined = line["prompt"] + line["completion"]
            encoding = encoding_with_markers("o200k_base", chat_format)
            assert len(encoding.encode(joined, allowed_special="all")) == sample.total_tokens
    first = written(PromptCompletionWriter(), split_conversation(conv, SplitSpec(Budget(4096))))[0]
    assert first == {
        "prompt": "<|im_start|>system\nYou are a happy assistant that puts a positive spin on "
        "everything.<|im_end|>\n<|im_start|>user\nI lost my tennis match today.<|im_end|>\n"
        "<|im_start|>assistant\n",
        "completion": "It's ok, it happens to everyone.<|im_end|>\n",
    }


def test_prompt_completion_refuses_a_format_without_text() -> None:
    with pytest.raises(ValueError, match="chat format 'openai' only counts tokens"):
        PromptCompletionWriter().for_spec(SplitSpec(chat_format="openai"))


def test_prompt_completion_refuses_several_targets() -> None:
    conv = conversations_of("openai_cookbook_toy_chat_fine_tuning.jsonl")[1]
    result = split_conversation(conv, SplitSpec(budget=Budget(4096), window=Chunks()))
    with pytest.raises(UnsupportedSampleError, match="one prompt/completion pair"):
        list(PromptCompletionWriter().lines(result))


# -- registry -------------------------------------------------------------------------------------


def test_writer_registry() -> None:
    sft = ("openai", "prompt_completion", "sharegpt", "text", "tokens", "trl")
    assert sft_writer_names() == sft
    assert set(writer_names()) - set(sft_writer_names()) == {"kto", "preference"}
    for name in writer_names():
        assert get_writer(name).name == name
    with pytest.raises(
        UnknownNameError, match="unknown writer 'csv'; expected one of kto, openai,"
    ):
        get_writer("csv")
    with pytest.raises(UnknownNameError, match="unknown text writer option 'templat'"):
        get_writer("text", templat="chatml")
    with pytest.raises(ValueError, match="train_flag must be 'auto', 'always' or 'never'"):
        get_writer("sharegpt", train_flag="sometimes")


@given(conversations(max_events=8))
def test_every_writer_writes_one_line_per_sample(conv: Conversation) -> None:
    result = split_conversation(conv, SplitSpec(budget=Budget(3000)))
    for name in sft_writer_names():
        assert len(list(get_writer(name).lines(result))) == len(result.samples)


def test_openai_parallel_tool_calls_is_written_where_there_are_tools() -> None:
    with_tools = Conversation(
        messages=(Message(role="user", content="a"), Message(role="assistant", content="b")),
        tools=({"type": "function", "function": {"name": "f"}},),
    )
    without = with_tools.model_copy(update={"tools": None})
    writer = OpenAIWriter(parallel_tool_calls=False)
    (line,) = written(writer, split_conversation(with_tools, SplitSpec(budget=Budget(200))))
    assert line["parallel_tool_calls"] is False
    check_openai_line(line)
    (plain,) = written(writer, split_conversation(without, SplitSpec(budget=Budget(200))))
    assert "parallel_tool_calls" not in plain


def test_integers_beyond_64_bits_survive_every_writer() -> None:
    big = 123456789012345678901234
    line = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "n?", "x_big": big},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                 "function": {"name": "f", "arguments": json.dumps({"n": big})}}]},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "maximum": big}}],
        }
    ).encode()  # fmt: skip
    (record,) = read_records(io.BytesIO(line))
    assert record.conversation is not None
    result = split_conversation(record.conversation, SplitSpec(budget=Budget(500)))
    for name in sft_writer_names():
        options = {"keep_extras": True} if name in ("openai", "trl") else {}
        (out,) = get_writer(name, **options).lines(result)
        text = out.decode()
        if name == "tokens":  # token ids: the number is in the text they decode to
            text = get_counter().decode(json.loads(out)["input_ids"])
        assert str(big) in text, name
    (openai_line,) = OpenAIWriter(keep_extras=True).lines(result)
    value = json.loads(openai_line)
    assert value["messages"][0]["x_big"] == big
    assert value["tools"][0]["function"]["maximum"] == big
    (trl_line,) = TRLWriter().lines(result)
    assert json.loads(trl_line)["completion"][0]["tool_calls"][0]["function"]["arguments"] == (
        json.dumps({"n": big})
    )
