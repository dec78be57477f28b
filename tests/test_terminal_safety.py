"""Hostile text on a terminal: control characters from records and file names are shown as
escapes, never obeyed (no cleared screen, retitled window or text reversed by bidi)."""

from __future__ import annotations

import ast
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import (
    Budget,
    Conversation,
    SplitSpec,
)
from convsplit.inspect.show import View, show_conversation
from convsplit.terminal import visible
from tests.test_cli import run, write_jsonl

BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


def obeyed(text: str) -> list[str]:
    """The characters of ``text`` a terminal acts on or that disguise text: C0 controls but
    the newline, DEL, C1 controls, bidi controls and invisible format characters."""
    return [
        char
        for char in text
        if (ord(char) < 0x20 and char != "\n")
        or 0x7F <= ord(char) <= 0x9F
        or char in BIDI
        or char in "\u200b\u2028\u2029\u2060\ufeff"
        or 0xE0000 <= ord(char) <= 0xE007F
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("a\x1b[2Jb", "a\\x1b[2Jb", id="clear-screen"),
        pytest.param("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07", id="osc-title-bel"),
        pytest.param("\x1b]8;;http://x\x1b\\link", "\\x1b]8;;http://x\\x1b\\link", id="osc-link"),
        pytest.param("ding\x07", "ding\\x07", id="bel"),
        pytest.param("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m", id="csi-colour"),
        pytest.param("\x9b2J", "\\x9b2J", id="c1-csi"),
        pytest.param("\x9d0;t\x9c", "\\x9d0;t\\x9c", id="c1-osc-st"),
        pytest.param("x\x7fy\x00z", "x\\x7fy\\x00z", id="del-nul"),
        pytest.param("real\rfake", "real\\rfake", id="carriage-return"),
        pytest.param("a\tb\nc", "a\\tb\\nc", id="tab-newline"),
        pytest.param("abc\u202etxt.exe", "abc\\u202etxt.exe", id="rlo"),
        pytest.param("\u2066x\u2069\u2067y\u2068", "\\u2066x\\u2069\\u2067y\\u2068", id="isolates"),
        pytest.param("\u202a\u202b\u202c\u202d", "\\u202a\\u202b\\u202c\\u202d", id="embeddings"),
        pytest.param("pass\u200bword\ufeff", "pass\\u200bword\\ufeff", id="zero-width"),
        pytest.param("line\u2028sep", "line\\u2028sep", id="line-separator"),
        pytest.param("tag\U000e0041", "tag\\U000e0041", id="tag-character"),
        pytest.param("bytes\udcff.jsonl", "bytes\\udcff.jsonl", id="lone-surrogate"),
    ],
)
def test_each_hostile_character_is_shown_as_its_escape(text: str, shown: str) -> None:
    assert visible(text) == shown
    assert obeyed(visible(text)) == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Bonjour ! Comment ça va ?", id="latin"),
        pytest.param("C:\\data\\x1b.jsonl", id="windows-path"),
        pytest.param("日本語のテキスト, עברית, العربية", id="scripts"),
        pytest.param(
            "👩\u200d💻 and \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", id="joiners"
        ),
        pytest.param("no\u00a0break", id="nbsp"),
    ],
)
def test_ordinary_text_is_left_as_it_is(text: str) -> None:
    assert visible(text) == text


def test_newlines_are_kept_only_when_asked() -> None:
    assert visible("one\ntwo\x1b[2J\r\n") == "one\\ntwo\\x1b[2J\\r\\n"
    assert visible("one\ntwo\x1b[2J\r\n", keep_newlines=True) == "one\ntwo\\x1b[2J\\r\n"


@given(st.text())
def test_nothing_a_terminal_obeys_survives_and_a_second_pass_changes_nothing(text: str) -> None:
    shown = visible(text)
    assert obeyed(shown) == []
    assert "\n" not in shown
    assert visible(shown) == shown


@given(st.text(alphabet=st.characters(blacklist_characters='\\"')))
def test_the_escapes_read_back_as_the_original_text(text: str) -> None:
    assert ast.literal_eval(f'"{visible(text)}"') == text


HOSTILE_ID = "evil\x1b[2J\x1b]0;pwned\x07\u202egnp.exe"
HOSTILE_RECORD = {
    "id": HOSTILE_ID,
    "messages": [
        {"role": "system", "content": "Be\x07 brief.\u2066"},
        {"role": "user", "content": "Hi\x1b[31m red\x9b2J\n\nnext\tline   \x1b]0;title\x07"},
        {
            "role": "assistant",
            "content": "Calling\u202e",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get\x1b[2J", "arguments": '{"q": "x\\u001b[2J"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "42\x1b[5m"},
        {"role": "assistant", "content": "It is\r\n42.\x07"},
    ],
}
SHOWN = """\
conversation evil\\x1b[2J\\x1b]0;pwned\\x07\\u202egnp.exe: 5 messages, 2 assistant turns, 2 samples

sample 0: 81 tokens (context 38, trained 43)
  system     Be\\x07 brief.\\u2066  [pinned]
  user       Hi\\x1b[31m red\\x9b2J ⏎ ⏎ next line \\x1b]0;title\\x07
> assistant  Calling\\u202e -> get\\x1b[2J({"q": "x\\u001b[2J"})  [trained, 43 tokens]

sample 1: 100 tokens (context 90, trained 10)
  system     Be\\x07 brief.\\u2066  [pinned]
  user       Hi\\x1b[31m red\\x9b2J ⏎ ⏎ next line \\x1b]0;title\\x07
  assistant  Calling\\u202e -> get\\x1b[2J({"q": "x\\u001b[2J"})
  tool       42\\x1b[5m
> assistant  It is ⏎ 42.\\x07  [trained, 10 tokens]
"""


@pytest.fixture
def hostile_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "evil\x1b]0;T\x07\u202elmth.jsonl", [HOSTILE_RECORD])


def test_show_prints_a_hostile_record_visibly_and_readably(hostile_file: Path) -> None:
    done = run("show", str(hostile_file), "--conversation", "0", "--max-tokens", "200")
    assert (done.returncode, done.stderr) == (0, b"")
    stdout = done.stdout.decode()
    assert obeyed(stdout) == []
    assert stdout == SHOWN


def test_show_finds_a_hostile_id_and_prints_it_visibly(hostile_file: Path) -> None:
    done = run("show", str(hostile_file), "--conversation", HOSTILE_ID, "--sample", "0",
               "--max-tokens", "200")  # fmt: skip
    assert done.returncode == 0
    assert done.stdout.decode().splitlines()[0] == SHOWN.splitlines()[0]


OWN_COLOURS = {"\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[32m", "\x1b[33m"}


def test_with_colour_the_only_escapes_are_convsplits_own(hostile_file: Path) -> None:
    done = run("show", str(hostile_file), "--conversation", "0", "--max-tokens", "200",
               "--color", "always")  # fmt: skip
    assert done.returncode == 0
    stdout = done.stdout.decode()
    sequences = re.findall(r"\x1b\[[0-9;]*m", stdout)
    assert set(sequences) == OWN_COLOURS - {"\x1b[33m"}  # nothing was dropped or skipped here
    plain = re.sub(r"\x1b\[[0-9;]*m", "", stdout)
    assert obeyed(plain) == []
    assert plain == SHOWN


def test_the_library_view_escapes_skipped_turns_too() -> None:
    conversation = Conversation.model_validate(
        {
            "id": "skips",
            "messages": [
                {"role": "assistant", "content": "first\x1b[2J"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a\u202e"},
            ],
        }
    )
    text = show_conversation(conversation, SplitSpec(Budget(100)), view=View(color=True))
    assert "skipped: message 0: no_user_before: first\\x1b[2J" in text
    assert "> assistant  a\\u202e  [trained" in text
    assert obeyed(re.sub(r"\x1b\[[0-9;]*m", "", text)) == []


def test_a_real_terminal_sees_only_the_progress_lines_own_escapes(hostile_file: Path) -> None:
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "convsplit", "split", str(hostile_file),
             "-o", str(hostile_file.parent / "out.jsonl")],
            stderr=terminal, stdout=subprocess.DEVNULL, check=False, timeout=120,
        )  # fmt: skip
        os.close(terminal)
        terminal = -1
        screen = b""
        while chunk := _read(controller):
            screen += chunk
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)
    assert done.returncode == 0
    text = screen.decode()
    assert "samples: 2" in text
    assert obeyed(text.replace("\r\x1b[K", "").replace("\r\n", "\n")) == []


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other end closed
        return b""


def test_an_error_line_shows_a_hostile_file_name_visibly(hostile_file: Path) -> None:
    done = run("show", str(hostile_file), "--conversation", "nope")
    assert done.returncode == 2
    assert obeyed(done.stderr.decode()) == []
    assert done.stderr.decode().startswith(
        f"error: {visible(str(hostile_file))} has no conversation 'nope'\n"
    )


def test_an_invalid_record_error_shows_its_file_and_content_visibly(tmp_path: Path) -> None:
    bad = tmp_path / "bad\x1b[2J.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "bot\x1b[2J", "content": "x"}]}) + "\n")
    done = run("show", str(bad), "--conversation", "0")
    assert done.returncode == 1
    assert obeyed(done.stderr.decode()) == []
    assert done.stderr.decode().startswith(f"error: {visible(str(bad))} line 1: message 0: ")
