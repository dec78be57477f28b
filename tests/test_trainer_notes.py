"""The trainer note each output format prints, checked against the installed TRL's own code.

TRL's configs and ``trl.data_utils`` import without torch (an instance needs torch, so the
defaults are read from the dataclass fields); ``SFTTrainer`` does not, so what it does with a
tokenized dataset is read from its source, and a change there fails here until the note is
checked again. LLaMA-Factory and axolotl do not import here (torch); their notes follow their
sources (``data_args.py`` and ``processor/supervised.py``; ``prompt_strategies/chat_template.py``
and ``utils/schemas/config.py``) and ``tests/test_trainers.py`` applies those rules.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from convsplit import Budget, SplitSpec, split_conversation
from convsplit.cli_formats import EXAMPLE, TRAINER_SETTINGS


def default(config: type, name: str) -> Any:
    """A TRL config field's default, without building the config (that needs torch)."""
    return {f.name: f.default for f in dataclasses.fields(config)}[name]


def written_rows(output_format: str, chat_format: str = "chatml") -> list[dict[str, Any]]:
    """Rows the writer of ``output_format`` writes for the example conversation."""
    spec = SplitSpec(Budget(4096), output_format=output_format, chat_format=chat_format)
    return [json.loads(line) for line in spec.writer().lines(split_conversation(EXAMPLE, spec))]


def source(module: str) -> str:
    """An installed module's source, its whitespace runs joined to one space."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    return " ".join(Path(spec.origin).read_text().split())


def test_tokens_note_matches_trl_sft() -> None:
    """A tokenized row is not conversational, so ``assistant_only_loss=True`` raises in
    ``SFTTrainer.__init__``; with it off, a dataset with ``input_ids`` is not tokenized again
    and ``assistant_masks`` becomes the labels; ``max_length`` cuts longer rows by default."""
    data_utils = pytest.importorskip("trl.data_utils")
    sft_config = pytest.importorskip("trl.trainer.sft_config")
    (row, *_) = written_rows("tokens", chat_format="plain")
    assert set(row) == {"input_ids", "assistant_masks"}
    assert not data_utils.is_conversational(row)
    assert default(sft_config.SFTConfig, "assistant_only_loss") is False
    assert default(sft_config.SFTConfig, "max_length") == 1024
    assert default(sft_config.SFTConfig, "truncation_mode") == "keep_start"
    spec = importlib.util.find_spec("trl.trainer.sft_trainer")
    assert spec is not None and spec.origin is not None
    source = " ".join(Path(spec.origin).read_text().split())
    assert "if args.assistant_only_loss and not is_conversational(dataset_sample): raise" in source
    assert 'is_processed = "input_ids" in column_names' in source
    assert 'if "assistant_masks" in column_names: mask_columns.append("assistant_masks")' in source
    note = TRAINER_SETTINGS["tokens"]
    assert "assistant_only_loss: true" not in note
    assert "leave assistant_only_loss off" in note and "max_length" in note


@pytest.mark.parametrize("output_format", ["trl", "prompt_completion"])
def test_prompt_completion_notes_match_trl_sft(output_format: str) -> None:
    """TRL's ``completion_only_loss`` defaults to None: on for rows with a prompt and a
    completion, which both formats write; ``max_length`` cuts the end (the completion)."""
    pytest.importorskip("trl.data_utils")
    sft_config = pytest.importorskip("trl.trainer.sft_config")
    rows = written_rows(output_format)
    assert rows and all({"prompt", "completion"} <= set(row) for row in rows)
    assert default(sft_config.SFTConfig, "completion_only_loss") is None
    assert default(sft_config.SFTConfig, "max_length") == 1024
    note = TRAINER_SETTINGS[output_format]
    assert "completion_only_loss" in note and "max_length at least --max-tokens" in note
    if output_format == "prompt_completion":  # text rows: tokenized joined, BOS and EOS added
        assert not any(isinstance(row["prompt"], list) for row in rows)
        sft, utils = (source(m) for m in ("trl.trainer.sft_trainer", "trl.data_utils"))
        assert 'example["completion"] = example["completion"] + eos_token' in sft
        assert 'example["prompt"] + example["completion"],' in sft
        assert "result = processing_class(text=input)" in utils
        assert "BOS" in note and "eos_token" in note and "--max-tokens + 2" in note


@pytest.mark.parametrize(
    ("output_format", "module", "config"),
    [
        ("preference", "trl.trainer.dpo_config", "DPOConfig"),
        ("preference", "trl.trainer.reward_config", "RewardConfig"),
        ("kto", "trl.trainer.kto_config", "KTOConfig"),
    ],
)
def test_judged_notes_name_max_length(output_format: str, module: str, config: str) -> None:
    """TRL's preference trainers cut rows past ``max_length`` (1024 by default)."""
    configs = pytest.importorskip(module)
    assert default(getattr(configs, config), "max_length") == 1024
    assert "max_length at least --max-tokens (default 1024)" in TRAINER_SETTINGS[output_format]


def test_openai_note_keeps_the_targets_trained() -> None:
    """axolotl trains a message whose ``message_field_training`` field is present by that
    field, and any other by ``roles_to_train``: the targets carry no ``weight``, so the note
    must not empty ``roles_to_train``."""
    (row,) = [r for r in written_rows("openai") if len(r["messages"]) > 3]
    weights = [m.get("weight") for m in row["messages"] if m["role"] == "assistant"]
    assert weights == [0, None]
    note = TRAINER_SETTINGS["openai"]
    assert "message_field_training: weight" in note
    assert "roles_to_train: []" not in note and "sequence_len" in note
