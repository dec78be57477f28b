"""The command line with a model's own tokenizer and chat template (hf:FOLDER)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convsplit import get_chat_format
from convsplit.formats import read_records
from convsplit.tokens.huggingface import HFChatTemplate
from tests.test_cli import EXAMPLES, run

pytest.importorskip("tokenizers", reason="needs convsplit[hf]: pip install 'convsplit[hf]'")
pytest.importorskip("jinja2", reason="needs convsplit[hf]: pip install 'convsplit[hf]'")


def test_split_with_a_models_own_template(tmp_path: Path) -> None:
    from tests.test_huggingface import _train

    folder = tmp_path / "model"
    _train("bytelevel", folder)
    out = tmp_path / "samples.jsonl"
    done = run("split", str(EXAMPLES), "-o", str(out), "--max-tokens", "300",
               "--chat-format", f"hf:{folder}", "--report", str(tmp_path / "r.json"))  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["samples"] == len(out.read_bytes().splitlines()) > 0
    # The report's tokens are the template's: re-render every sample written and count it.
    chat_format = get_chat_format(f"hf:{folder}")
    assert isinstance(chat_format, HFChatTemplate)
    rendered = sum(
        chat_format.count_sample(record.conversation.messages, record.conversation.tools)
        for record in read_records(out)
        if record.conversation is not None
    )
    assert rendered == report["sample_tokens"]


def test_a_missing_tokenizer_folder_is_a_clear_error(tmp_path: Path) -> None:
    done = run("split", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl"),
               "--chat-format", f"hf:{tmp_path / 'nowhere'}")  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.decode().startswith("error: no tokenizer.json in ")
