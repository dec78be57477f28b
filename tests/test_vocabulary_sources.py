"""Where a tiktoken vocabulary comes from: the places a copy already is, in order, then a
download into tiktoken's cache, unless CONVSPLIT_OFFLINE forbids it.

The network is refused for real in every test here (requests is pointed at a closed port
on this machine through HTTPS_PROXY), so no test ever downloads.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from convsplit import TokenizerDataError
from convsplit.tokens.offline import OFFLINE_VARIABLE, locate, official_spec, offline

CLOSED_PORT_PROXY = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty tiktoken cache, and every HTTP(S) request refused at a closed local port."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, CLOSED_PORT_PROXY)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(OFFLINE_VARIABLE, raising=False)
    return cache


def _official_bytes(name: str) -> bytes:
    """The official vocabulary, from the bpe-openai wheel (what the tests run with)."""
    source, data = locate(official_spec(name))
    assert "bpe_openai" in source, f"this test needs bpe-openai installed; found {source}"
    return data


def _cache_file(cache: Path, name: str) -> Path:
    return cache / hashlib.sha1(official_spec(name).url.encode()).hexdigest()


def test_an_installed_package_serves_when_the_cache_is_empty() -> None:
    source, data = locate(official_spec("o200k_base"))
    assert source.endswith("bpe_openai/data/o200k_base.tiktoken.gz")
    assert hashlib.sha256(data).hexdigest() == official_spec("o200k_base").expected_hash


def test_the_tiktoken_cache_comes_before_a_package(no_network: Path) -> None:
    data = _official_bytes("cl100k_base")
    cached = _cache_file(no_network, "cl100k_base")
    cached.write_bytes(data)
    assert locate(official_spec("cl100k_base")) == (str(cached), data)


def test_a_corrupt_cached_copy_is_passed_over(no_network: Path) -> None:
    data = _official_bytes("cl100k_base")
    _cache_file(no_network, "cl100k_base").write_bytes(data[:-10] + b"x" * 10)
    source, found = locate(official_spec("cl100k_base"))
    assert "bpe_openai" in source and found == data


def test_a_gzipped_copy_in_the_cache_is_read(no_network: Path) -> None:
    data = _official_bytes("o200k_base")
    cached = _cache_file(no_network, "o200k_base")
    cached.write_bytes(gzip.compress(data))
    assert locate(official_spec("o200k_base")) == (str(cached), data)


def test_with_no_copy_anywhere_a_download_is_tried_and_its_failure_said() -> None:
    # bpe-openai ships o200k_base and cl100k_base only: r50k_base must come from the network.
    spec = official_spec("r50k_base")
    with pytest.raises(TokenizerDataError) as caught:
        locate(spec)
    message = str(caught.value)
    assert message.startswith("no verified copy of the r50k_base vocabulary is available. ")
    assert f"{spec.url} (download failed: " in message
    # Installing bpe-openai would not help here: only what would is advised.
    advice = message.partition("Looked in:")[0]
    assert "bpe-openai" not in advice and "--bpe-file" in advice


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "anything"])
def test_offline_forbids_the_download(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(OFFLINE_VARIABLE, value)
    assert offline()
    spec = official_spec("r50k_base")
    with pytest.raises(TokenizerDataError) as caught:
        locate(spec)
    assert f"{spec.url} (not downloaded: {OFFLINE_VARIABLE} is set)" in str(caught.value)
    assert "download failed" not in str(caught.value)


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", " False "])
def test_downloads_are_allowed_unless_offline_is_set(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(OFFLINE_VARIABLE, value)
    assert not offline()


def test_the_offline_copies_serve_even_when_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OFFLINE_VARIABLE, "1")
    source, _ = locate(official_spec("o200k_base"))
    assert "bpe_openai" in source
