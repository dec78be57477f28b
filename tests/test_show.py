"""``convsplit show``: what each sample trains, as exact, stable text when piped."""

from __future__ import annotations

import pytest

from convsplit import Conversation, Message, SplitSpec
from convsplit.errors import InvalidOptionError
from convsplit.inspect.show import View, show_conversation
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
> assistant  Yes. Bake it, let it cool, cover and refrigerate. Reheat slices at 150 °C for about te…  [trained, 36 tokens]
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
