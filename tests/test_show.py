"""``convsplit show``: what each sample trains, as exact, stable text when piped."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from convsplit import Budget, Conversation, Message, SplitSpec, split_conversation
from convsplit.errors import InvalidOptionError
from convsplit.inspect.show import View, show_conversation
from tests.reference import openai_tools_tokens
from tests.test_cli import EXAMPLES, run

GREETING = """\
conversation greeting-only: 4 messages, 2 assistant turns, 1 sample

sample 0: 36 tokens (context 22, trained 14)
  system     You are a helpful assistant.  [pinned]
  ... 1 message, 13 tokens dropped ...
  user       Say something in French.
> assistant  Bonjour ! Comment puis-je vous aider aujourd'hui ?  [trained, 14 tokens]

skipped: message 1: no_user_before: Hello! How can I help you today?
"""

COOKING_TRUNCATED = """\
conversation cooking: 13 messages, 6 assistant turns, 6 samples

sample 5: 150 tokens (context 114, trained 36)
  system     You are a patient cooking assistant. Answer briefly and ask before assuming.  [pinned]
  ... 6 messages, 134 tokens dropped ...
  user       [... 7 tokens truncated ...]  [truncated]
  assistant  [... 16 tokens truncated ...] and vinegar.  [truncated]
  user       And if I want to feed four people?
  assistant  Make a frittata instead: twelve eggs in a wide oven-safe pan, start on the stove, then…
  user       Can I prepare it the night before?
> assistant  Yes. Bake it, let it cool, cover and refrigerate. Reheat slices …  [trained, 36 tokens]
"""


def test_show_by_position_lists_samples_drops_and_skips() -> None:
    done = run("show", str(EXAMPLES), "--conversation", "3", "--max-tokens", "60")
    assert done.returncode == 0
    assert done.stdout.decode() == GREETING


def test_show_by_id_one_sample_with_truncation_markers() -> None:
    done = run("show", str(EXAMPLES), "--conversation", "cooking", "--sample", "5",
               "--max-tokens", "150", "--truncation", "truncate-content")  # fmt: skip
    assert done.stdout.decode() == COOKING_TRUNCATED


def test_colour_only_when_asked_or_on_a_terminal() -> None:
    plain = run("show", str(EXAMPLES), "--conversation", "3", "--max-tokens", "60")
    assert b"\x1b[" not in plain.stdout
    coloured = run("show", str(EXAMPLES), "--conversation", "3", "--max-tokens", "60",
                   "--color", "always")  # fmt: skip
    assert b"\x1b[1m\x1b[32m> assistant" in coloured.stdout
    assert b"\x1b[2m  user       Say something in French.\x1b[0m" in coloured.stdout


def test_unknown_conversation_and_sample_are_clear_errors() -> None:
    missing = run("show", str(EXAMPLES), "--conversation", "nope")
    assert (missing.returncode, missing.stderr.decode()) == (
        2,
        f"error: {EXAMPLES} has no conversation 'nope'\n(see 'convsplit show --help')\n",
    )
    too_far = run("show", str(EXAMPLES), "--sample", "99")
    assert (too_far.returncode, too_far.stderr.decode()) == (
        2,
        "error: conversation cooking has no sample 99 (it has 6)\n(see 'convsplit show --help')\n",
    )


def test_a_sample_out_of_range_is_a_convsplit_error() -> None:
    conversation = Conversation(
        messages=(Message(role="user", content="Hi"), Message(role="assistant", content="Hello"))
    )
    with pytest.raises(InvalidOptionError, match=r"^conversation #0 has no sample 1 \(it has 1\)$"):
        show_conversation(conversation, SplitSpec(), view=View(sample=1))


def test_no_line_is_wider_than_the_view_so_markers_never_wrap() -> None:
    long = "word " * 60
    conversation = Conversation(
        messages=(
            Message(role="system", content=long),
            Message(role="user", content=long),
            Message(role="assistant", content=long, reasoning=long),
        )
    )
    spec = SplitSpec(output_format="trl")  # TRL writes the target's reasoning: it counts
    for width in (60, 80, 100):
        text = show_conversation(conversation, spec, view=View(width=width))
        assert max(len(line) for line in text.splitlines()) <= width
        system, _, target, thinking = text.splitlines()[3:7]
        assert system.endswith("…  [pinned]")
        assert target.endswith("…  [trained, 132 tokens]")
        assert thinking.startswith("             thinking: word word")


def test_target_reasoning_is_shown_where_it_is_counted() -> None:
    conversation = Conversation(
        messages=(
            Message(role="user", content="2+2?"),
            Message(role="assistant", content="4", reasoning="Two and two make four."),
            Message(role="user", content="3+3?"),
            Message(role="assistant", content="6", reasoning="Three and three."),
        )
    )
    # TRL writes reasoning_content, so the targets' reasoning is counted and shown; as
    # context, reasoning is dropped (as the templates do), so it is not shown there.
    trl = show_conversation(conversation, SplitSpec(output_format="trl"), view=View(sample=1))
    assert trl.splitlines()[3:] == [
        "  user       2+2?",
        "  assistant  4",
        "  user       3+3?",
        "> assistant  6  [trained, 15 tokens]",
        "             thinking: Three and three.",
    ]
    kept = SplitSpec(output_format="trl", keep_reasoning=True)
    assert "             thinking: Two and two make four." in show_conversation(conversation, kept)
    openai = show_conversation(conversation, SplitSpec(output_format="openai"))
    assert "thinking" not in openai  # OpenAI neither writes nor counts it


def test_tool_schemas_are_shown_with_their_cost() -> None:
    record = json.loads(EXAMPLES.read_text(encoding="utf-8").splitlines()[1])
    done = run("show", str(EXAMPLES), "--conversation", "weather-tool", "--sample", "0")
    tools_tokens = openai_tools_tokens(record["tools"], "o200k_base")
    assert done.stdout.decode().splitlines()[3] == (
        f"  tools      1 schema: get_forecast  [pinned, {tools_tokens} tokens]"
    )


def test_a_target_too_long_names_the_parts_it_needs() -> None:
    done = run("show", str(EXAMPLES), "--conversation", "weather-tool", "--max-tokens", "60")
    lines = done.stdout.decode().splitlines()
    assert lines[2:4] == [
        'skipped: message 2: target_too_long: -> get_forecast({"city": "Lyon", "day": "tomorrow"})',
        "  needs 120 of 60 tokens: tool schemas 52, target 39, rest of its turn 16, pinned 13",
    ]
    # The figure is the split's own: at 120 the turn is trained, at 119 it is skipped.
    record = json.loads(EXAMPLES.read_text(encoding="utf-8").splitlines()[1])
    conversation = Conversation.model_validate(record)
    fits = split_conversation(conversation, SplitSpec(Budget(120)))
    assert fits.samples[0].targets and fits.samples[0].source_indices[-1] == 2
    assert fits.samples[0].total_tokens == 120
    short = split_conversation(conversation, SplitSpec(Budget(119)))
    assert 2 not in [s.source_indices[-1] for s in short.samples]


def _show_on_a_terminal(env: dict[str, str]) -> bytes:
    """``convsplit show`` with its standard output on a pseudo-terminal."""
    import pty

    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "convsplit", "show", str(EXAMPLES), "--conversation", "3",
               "--max-tokens", "60"]  # fmt: skip
    with subprocess.Popen(command, stdout=follower, stderr=subprocess.PIPE, env=env) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is closed once the command ends
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_no_color_turns_the_terminal_s_colours_off() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert b"\x1b[1m\x1b[32m> assistant" in _show_on_a_terminal(env)
    plain = _show_on_a_terminal({**env, "NO_COLOR": "1"})
    assert b"> assistant" in plain
    assert b"\x1b[" not in plain
