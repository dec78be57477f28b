"""Whitespace runs too long for tiktoken's regex: counted and encoded exactly, never a crash.

tiktoken panics (a ``BaseException``) on a run of about 1,000,000 horizontal whitespace
characters; :mod:`convsplit.tokens.whitespace_runs` cuts such text where the pre-tokenizer
starts a new piece. The cut encoding is compared with tiktoken's own on every text tiktoken
can take: Hypothesis texts cut at runs of two characters and more, and real runs up to the
longest tiktoken encodes; on longer runs, with bpe-openai's independent Rust tokenizer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken
from hypothesis import given
from hypothesis import strategies as st

from convsplit import (
    Budget,
    Conversation,
    InvalidConversationError,
    Message,
    SplitSpec,
    TiktokenCounter,
    TruncateContent,
    get_counter,
    split_conversation,
)
from convsplit.tokens.fast_count import _bindings, fast_count
from convsplit.tokens.offline import load_ranks, official_spec
from convsplit.tokens.whitespace_runs import (
    MIN_RUN,
    LongRunEncoder,
    has_long_run,
)

ENCODINGS = [pytest.param("o200k_base", id="o200k"), pytest.param("cl100k_base", id="cl100k")]
LONGEST_TIKTOKEN_TAKES = 999_998  # measured: one more character before a word panics
MILLION = 1_000_000


def encoding(name: str) -> tiktoken.Encoding:
    counter = get_counter(name)
    assert isinstance(counter, TiktokenCounter)
    return counter.encoding


def tiktoken_only(name: str) -> TiktokenCounter:
    """A counter that counts with tiktoken alone, as with ``CONVSPLIT_FAST_COUNT=0``."""
    return TiktokenCounter(encoding(name))


def rust_tokens(name: str, text: str) -> list[int] | None:
    """bpe-openai's tokens, where it is installed and on: an exact tokenizer whose
    pre-tokenizer does not backtrack."""
    bindings = _bindings()
    if bindings is None or fast_count(name) is None:
        return None
    tokens: list[int] = bindings.tokenizer_for_encoding(name).encode(text)
    return tokens


# -- Hypothesis: the cut encoding equals tiktoken's, cut at every run of two or more ---------

# Chosen apart from HORIZONTAL_WHITESPACE, which is under test: every character Python calls
# a space (U+001C..U+001F among them, which tiktoken reads as punctuation) and three that
# look like one (Mongolian vowel separator, zero-width space, BOM).
WHITESPACE = [c for c in map(chr, range(0x110000)) if c.isspace()] + ["\u180e", "\u200b", "\ufeff"]
same_char_runs = st.tuples(st.sampled_from(WHITESPACE), st.integers(1, 12)).map(
    lambda pair: pair[0] * pair[1]
)
mixed_runs = st.text(alphabet=WHITESPACE, min_size=1, max_size=12)
words = st.sampled_from(
    ["hello", "World", "it's", "DON'T", "we'LL", "x", "naïve", "Größe", "контекст", "é", "I"]
)
punctuation = st.sampled_from(["!", "...", "/", "'", "-->", "(", "//", "$", "'s", "\u00a0!"])
digits = st.from_regex(r"[0-9]{1,5}", fullmatch=True)
scripts = st.sampled_from(["文脈", "ウィンドウ", "上下文", "نافذة", "🙂", "👍🏽"])
line_breaks = st.sampled_from(["\n", "\r\n", "\n\n", "\r"])
texts = st.lists(
    st.one_of(same_char_runs, mixed_runs, words, punctuation, digits, scripts, line_breaks),
    max_size=14,
).map("".join)


@pytest.mark.parametrize("name", ENCODINGS)
@given(text=texts)
def test_cut_encoding_equals_tiktokens(name: str, text: str) -> None:
    enc = encoding(name)
    expected = enc.encode_ordinary(text)
    for min_run in (2, 3):
        assert LongRunEncoder(enc, min_run=min_run).encode(text) == expected, (min_run, text)


@given(text=texts, min_run=st.integers(2, 9))
def test_has_long_run_finds_exactly_the_runs_a_full_scan_finds(text: str, min_run: int) -> None:
    horizontal = "[^\\S\\r\\n\x1c-\x1f]"  # Python's \s less CR, LF, U+001C..U+001F
    full_scan = re.search(f"{horizontal}{{{min_run}}}", text) is not None
    assert has_long_run(text, min_run) == full_scan


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize("char", [pytest.param(c, id=f"U+{ord(c):04X}") for c in WHITESPACE])
def test_every_whitespace_character_is_classed_as_tiktoken_classes_it(name: str, char: str) -> None:
    """A character wrongly in (or out of) the run class moves a cut: these texts show it."""
    enc = encoding(name)
    encoder = LongRunEncoder(enc, min_run=2)
    for text in (f"  {char}", f"  {char}a", f"a{char}{char}b", f"{char}{char} a", f"\n {char}"):
        assert encoder.encode(text) == enc.encode_ordinary(text), text


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a  b", id="one-space-joins-the-word"),
        pytest.param("a \u3000\tb", id="mixed-run-last-joins-the-word"),
        pytest.param("end!  ", id="trailing-run"),
        pytest.param("x\n\n   ", id="trailing-run-after-line-breaks"),
        pytest.param("x\n   \n  y", id="run-before-a-line-break"),
        pytest.param("(   )", id="run-before-punctuation"),
        pytest.param("  \u00a0 12", id="run-at-the-start-before-digits"),
        pytest.param("\x1c\x1c  \x1f", id="separators-are-not-whitespace"),
    ],
)
def test_cut_encoding_on_the_pieces_the_regex_treats_specially(name: str, text: str) -> None:
    enc = encoding(name)
    assert LongRunEncoder(enc, min_run=2).encode(text) == enc.encode_ordinary(text)


# -- the real sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENCODINGS)
def test_tiktoken_panics_just_past_the_documented_limit(name: str) -> None:
    """The limit whitespace_runs' docstring states; if tiktoken lifts it, revisit the cut."""
    enc = encoding(name)
    assert len(enc.encode_ordinary(" " * LONGEST_TIKTOKEN_TAKES + "x")) == 7814
    with pytest.raises(BaseException) as raised:  # pyo3's PanicException
        enc.encode_ordinary(" " * (LONGEST_TIKTOKEN_TAKES + 1) + "x")
    assert not isinstance(raised.value, Exception)


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize(
    ("before", "char", "length", "after"),
    [
        pytest.param("word", " ", LONGEST_TIKTOKEN_TAKES, "next", id="longest-spaces"),
        pytest.param("a\n", "\u3000", 150_000, "word", id="ideographic-after-line-break"),
        pytest.param("x!", "\t\u00a0", 100_000, "\r\nend", id="tab-nbsp-before-line-break"),
        pytest.param("tail:", " ", 300_000, "", id="trailing"),
    ],
)
def test_counter_equals_tiktoken_on_runs_it_takes(
    name: str, before: str, char: str, length: int, after: str
) -> None:
    text = before + char * (length // len(char)) + after
    assert has_long_run(text)
    expected = encoding(name).encode_ordinary(text)
    counter = tiktoken_only(name)
    assert counter.encode(text) == expected
    assert counter.count(text) == len(expected)


MILLION_RUNS = [
    pytest.param(" " * MILLION + "x", id="spaces-before-a-word"),
    pytest.param("\u3000" * MILLION + "word", id="ideographic"),
    pytest.param("hi\n" + "\t\u00a0" * (MILLION // 2) + "!", id="tab-nbsp-before-punctuation"),
    pytest.param("x\n\n" + " " * MILLION, id="trailing-after-line-breaks"),
    pytest.param("a" + " " * MILLION + "b" + "\u2028" * MILLION + "c", id="two-runs"),
]


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize("text", MILLION_RUNS)
def test_million_character_runs_count_and_encode(name: str, text: str) -> None:
    counter = tiktoken_only(name)
    tokens = counter.encode(text)
    expected = rust_tokens(name, text)
    if expected is not None:
        assert tokens == expected
    assert counter.count(text) == len(tokens) == get_counter(name).count(text)
    assert counter.decode(tokens) == text


def test_short_text_never_takes_the_cut_path() -> None:
    counter = tiktoken_only("o200k_base")
    assert not has_long_run(" " * (MIN_RUN - 1) + "x")
    assert has_long_run("x" + "\u00a0" * MIN_RUN)
    assert not has_long_run("\x1c" * MIN_RUN)
    counter.encode(" " * (MIN_RUN - 1) + "x" + "lorem ipsum " * 20_000)
    assert counter._long_runs is None  # the check costs a length test and one regex search


def test_min_run_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="min_run must be at least 2; got 1"):
        LongRunEncoder(encoding("o200k_base"), min_run=1)


# -- an encoding whose pattern is not known: rejected, not a crash -----------------------------


def renamed_cl100k() -> tiktoken.Encoding:
    spec = official_spec("cl100k_base")
    args = {**spec.constructor_args, "name": "my-cl100k"}
    return tiktoken.Encoding(**{**args, "mergeable_ranks": load_ranks(spec)})


def test_unknown_encoding_rejects_a_long_run_with_what_to_do() -> None:
    counter = TiktokenCounter(renamed_cl100k())
    assert counter.count("Hello, world!") == 4
    with pytest.raises(InvalidConversationError) as error:
        counter.count("abc" + " " * MILLION + "x")
    assert str(error.value) == (
        "text has a run of 1,000,000 whitespace characters at character 3; tiktoken fails "
        "on runs of about 1,000,000 and convsplit cuts them exactly only for o200k_base and "
        "cl100k_base, not my-cl100k: shorten the run or use one of those encodings"
    )
    conversation = Conversation(
        messages=(
            Message(role="user", content=" " * MILLION + "?"),
            Message(role="assistant", content="Nothing to see."),
        )
    )
    with pytest.raises(InvalidConversationError):
        split_conversation(
            conversation, SplitSpec(budget=Budget(max_tokens=300), tokenizer=counter)
        )


# -- through the library and the command line ----------------------------------------------------

PASTE = " " * MILLION + "end of the pasted log"


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize(
    "fast", [pytest.param(True, id="rust"), pytest.param(False, id="tiktoken")]
)
def test_truncate_content_cuts_a_million_spaces(name: str, fast: bool) -> None:
    counter = get_counter(name) if fast else tiktoken_only(name)
    conversation = Conversation(
        messages=(
            Message(role="user", content="Here is my log:" + PASTE),
            Message(role="assistant", content="It is mostly blank."),
            Message(role="user", content="Why?"),
            Message(role="assistant", content="Padding."),
        )
    )
    result = split_conversation(
        conversation,
        SplitSpec(budget=Budget(max_tokens=300), tokenizer=counter, truncation=TruncateContent()),
    )
    (sample,) = result.samples
    assert sample.total_tokens == 300
    assert sample.truncated == (0,)
    cut = sample.messages[0].text
    assert cut is not None
    assert cut.startswith("[... ") and cut.endswith(" end of the pasted log")


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize(
    "fast", [pytest.param(True, id="rust"), pytest.param(False, id="tiktoken")]
)
def test_on_long_target_truncate_cuts_a_million_spaces(name: str, fast: bool) -> None:
    counter = get_counter(name) if fast else tiktoken_only(name)
    conversation = Conversation(
        messages=(
            Message(role="user", content="Pad it."),
            Message(role="assistant", content="ok" + PASTE),
        )
    )
    result = split_conversation(
        conversation,
        SplitSpec(budget=Budget(max_tokens=300), tokenizer=counter, on_long_target="truncate"),
    )
    (sample,) = result.samples
    assert sample.total_tokens == 300
    text = sample.messages[-1].text
    assert text is not None
    assert text.startswith("ok ") and set(text[2:]) == {" "}
    kept = counter.encode(text)
    assert (
        counter.decode(counter.encode("ok" + PASTE)[: len(kept)]) == text
    )  # a prefix, cut at a token


def test_cli_truncates_a_million_spaces_without_the_rust_counter(tmp_path: Path) -> None:
    source = tmp_path / "log.jsonl"
    record = {
        "messages": [
            {"role": "user", "content": "Show me the log."},
            {"role": "assistant", "content": "Here it is:" + PASTE},
            {"role": "user", "content": "Why so blank?"},
            {"role": "assistant", "content": "Padding."},
        ]
    }
    source.write_text(json.dumps(record) + "\n", encoding="utf-8")
    out = tmp_path / "samples.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "convsplit", "split", str(source), "-o", str(out),
         "--max-tokens", "300", "--truncation", "truncate-content",
         "--on-long-target", "truncate"],
        capture_output=True,
        check=False,
        env={**os.environ, "CONVSPLIT_FAST_COUNT": "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr.decode().startswith("conversations: 1 of 1 record (0 rejected)\n")
    samples = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert len(samples) == 2
    target_cut = samples[0]["messages"][-1]["content"]  # --on-long-target truncate
    assert target_cut.startswith("Here it is: ") and len(target_cut) < MILLION
    context_cut = samples[1]["messages"][1]["content"]  # --truncation truncate-content
    assert context_cut.startswith("[... ") and context_cut.endswith(" end of the pasted log")


# -- Hugging Face tokenizers: the tokenizers library takes the same text -------------------------


def test_hugging_face_counter_takes_a_million_spaces(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers", reason="pip install 'convsplit[hf]'")
    from convsplit.tokens.huggingface import load_hf_tokenizer

    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(["Hello,    world!\tA    B\u3000C " * 50], trainer=trainer)
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    counter = load_hf_tokenizer(tmp_path, name="trained")
    text = "Here:" + " " * MILLION + "x"
    tokens = counter.encode(text)
    assert counter.count(text) == len(tokens) < MILLION
    assert counter.decode(tokens) == text
