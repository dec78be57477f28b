"""Token counters: the :class:`TokenCounter` protocol, the tiktoken backend, a registry.

A counter turns ordinary text into tokens. Special-token look-alikes in the text
(``<|endoftext|>``, ``<|im_start|>``) are ordinary text: data never smuggles a control
token into a sample's count. Counts are cached by text, because the same system prompt
repeats across a whole file. OpenAI encodings count with the verified Rust counter of
:mod:`convsplit.tokens.fast_count` where it is installed, and read tiktoken's vocabulary
only when something needs the tokens themselves. Text with a whitespace run too long for
tiktoken's regex is encoded in exact parts (:mod:`convsplit.tokens.whitespace_runs`).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import tiktoken

from convsplit.errors import UnknownNameError
from convsplit.tokens.fast_count import fast_count
from convsplit.tokens.offline import load_ranks, official_spec
from convsplit.tokens.whitespace_runs import LongRunEncoder, has_long_run

DEFAULT_ENCODING = "o200k_base"
#: ``get_counter("hf:<tokenizer.json, folder or package>")`` loads a Hugging Face tokenizer.
HF_PREFIX = "hf:"
_CACHE_SIZE = 4096  # distinct texts: a file's repeated prompts, not every message


@runtime_checkable
class TokenCounter(Protocol):
    """Counts, encodes and decodes ordinary text for one tokenizer."""

    @property
    def name(self) -> str:
        """The name it is registered under."""
        ...

    def count(self, text: str) -> int:
        """The number of tokens in ``text``, read as ordinary text."""
        ...

    def encode(self, text: str) -> list[int]:
        """The tokens of ``text``, read as ordinary text."""
        ...

    def decode(self, tokens: Sequence[int]) -> str:
        """Text for ``tokens``; a character split across the cut is dropped, not mangled."""
        ...


class TiktokenCounter:
    """A :class:`TokenCounter` over a ``tiktoken.Encoding``.

    Args:
        encoding: the encoding, or a function that loads it when first needed.
        name: the registered name (default: the encoding's; required with a loader).
        count: an exact counter to use instead of encoding, such as
            :func:`~convsplit.tokens.fast_count.fast_count`'s; text it cannot take
            (``UnicodeEncodeError``) is counted by tiktoken.

    >>> counter = get_counter("o200k_base")
    >>> counter.count("Hello, world!")
    4
    >>> counter.count("<|endoftext|>")  # plain text, not the special token
    7
    >>> counter.count(" " * 1_000_000 + "x")  # more than tiktoken's regex takes at once
    7814

    Raises:
        InvalidConversationError: (from ``count`` and ``encode``) text with a whitespace run
            of 100,000 characters or more, for an encoding other than o200k_base and
            cl100k_base, whose pre-tokenizer convsplit cannot cut exactly.
    """

    count: Callable[[str], int]
    """The number of tokens in ``text``, read as ordinary text; cached by text (the cache
    itself stands in for a method: this is the hot path)."""

    def __init__(
        self,
        encoding: tiktoken.Encoding | Callable[[], tiktoken.Encoding],
        *,
        name: str | None = None,
        count: Callable[[str], int] | None = None,
    ) -> None:
        if isinstance(encoding, tiktoken.Encoding):
            self._encoding: tiktoken.Encoding | None = encoding
            self._load: Callable[[], tiktoken.Encoding] | None = None
            name = name or encoding.name
        elif name is None:
            raise TypeError("TiktokenCounter needs a name when the encoding loads lazily")
        else:
            self._encoding, self._load = None, encoding
        self.name = name
        self._fast_count = count
        self._encoding_lock = threading.Lock()
        self._long_runs: LongRunEncoder | None = None
        self.count = functools.lru_cache(maxsize=_CACHE_SIZE)(self._uncached_count)

    @classmethod
    def load(
        cls, encoding_name: str, *, bpe_file: str | os.PathLike[str] | None = None
    ) -> TiktokenCounter:
        """The official encoding, from a verified offline vocabulary file.

        With the fast counter, the vocabulary is read when tokens are first needed (to cut a
        message's text); counting alone never reads it. A file you name is read at once.
        """
        spec = official_spec(encoding_name)

        def build() -> tiktoken.Encoding:
            args = dict(spec.constructor_args)
            args["mergeable_ranks"] = load_ranks(spec, bpe_file=bpe_file)
            return tiktoken.Encoding(**args)

        count = fast_count(encoding_name)
        if count is None or bpe_file is not None:
            return cls(build(), count=count)
        return cls(build, name=encoding_name, count=count)

    @property
    def encoding(self) -> tiktoken.Encoding:
        """The tiktoken encoding, loaded on first use."""
        if self._encoding is None:
            with self._encoding_lock:
                if self._encoding is None and self._load is not None:
                    self._encoding = self._load()
        assert self._encoding is not None
        return self._encoding

    def _uncached_count(self, text: str) -> int:
        if self._fast_count is not None:
            try:
                return self._fast_count(text)
            except UnicodeEncodeError:  # lone surrogates: tiktoken replaces them
                pass
        return len(self.encode(text))

    def encode(self, text: str) -> list[int]:
        if has_long_run(text):
            return self._long_run_encoder().encode(text)
        return self.encoding.encode_ordinary(text)

    def _long_run_encoder(self) -> LongRunEncoder:
        if self._long_runs is None:
            encoding = self.encoding
            with self._encoding_lock:
                if self._long_runs is None:
                    self._long_runs = LongRunEncoder(encoding)
        return self._long_runs

    def decode(self, tokens: Sequence[int]) -> str:
        return self.encoding.decode_bytes(list(tokens)).decode("utf-8", errors="ignore")

    def __repr__(self) -> str:
        return f"TiktokenCounter({self.name!r})"


CounterFactory = Callable[[], TokenCounter]

_FACTORIES: dict[str, CounterFactory] = {
    "o200k_base": lambda: TiktokenCounter.load("o200k_base"),
    "cl100k_base": lambda: TiktokenCounter.load("cl100k_base"),
}
_instances: dict[str, TokenCounter] = {}
_lock = threading.Lock()


def register_counter(name: str, factory: CounterFactory) -> None:
    """Make ``get_counter(name)`` build a counter with ``factory`` (called once, lazily)."""
    with _lock:
        _FACTORIES[name] = factory
        _instances.pop(name, None)


def counter_names() -> tuple[str, ...]:
    """The registered counter names, sorted."""
    return tuple(sorted(_FACTORIES))


def load_counter(name: str, *, bpe_file: str | os.PathLike[str]) -> TiktokenCounter:
    """A tiktoken counter for an encoding or OpenAI model, from a vocabulary file you name.

    The file is checked against tiktoken's official sha256 before use.
    """
    encoding_name = name if name in _FACTORIES else _encoding_for_model(name)
    return TiktokenCounter.load(encoding_name, bpe_file=bpe_file)


def get_counter(name: str = DEFAULT_ENCODING) -> TokenCounter:
    """The counter registered as ``name``, or the encoding tiktoken uses for model ``name``.

    Args:
        name: an encoding (``o200k_base``, ``cl100k_base``), a registered name, an
            OpenAI model name (``gpt-4o``, ``gpt-4``) resolved with tiktoken's model table,
            or ``hf:<path>``: a Hugging Face ``tokenizer.json``, its folder, or an installed
            package that ships one (needs ``convsplit[hf]``).

    Raises:
        UnknownNameError: neither a registered counter nor a model tiktoken knows.
        TokenizerDataError: the vocabulary is not available offline.

    >>> get_counter("gpt-4o").name
    'o200k_base'
    """
    with _lock:
        counter = _instances.get(name)
        if counter is not None:
            return counter
        factory = _FACTORIES.get(name)
        if factory is None and name.startswith(HF_PREFIX):
            from convsplit.tokens.huggingface import load_hf_tokenizer  # noqa: PLC0415

            counter = load_hf_tokenizer(name.removeprefix(HF_PREFIX), name=name)
        elif factory is None:
            encoding_name = _encoding_for_model(name)
            if encoding_name not in _FACTORIES:
                raise UnknownNameError("tokenizer", name, _FACTORIES)
            counter = _instances.get(encoding_name) or _FACTORIES[encoding_name]()
            _instances[encoding_name] = counter
        else:
            counter = factory()
        _instances[name] = counter
        return counter


def _encoding_for_model(model: str) -> str:
    try:
        return tiktoken.encoding_name_for_model(model)
    except KeyError:
        raise UnknownNameError(
            "tokenizer or OpenAI model",
            model,
            [*_FACTORIES, "<any OpenAI model name>", "hf:<path to tokenizer.json>"],
        ) from None
