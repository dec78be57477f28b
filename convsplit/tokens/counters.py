"""Token counters: the :class:`TokenCounter` protocol, the tiktoken backend, a registry.

A counter turns ordinary text into tokens. Special-token look-alikes in the text
(``<|endoftext|>``, ``<|im_start|>``) are ordinary text: data never smuggles a control
token into a sample's count. Counts are cached by text, because the same system prompt
repeats across a whole file. OpenAI encodings count with the verified Rust counter of
:mod:`convsplit.tokens.fast_count` where it is installed, and read tiktoken's vocabulary
only when something needs the tokens themselves. Text with a whitespace run too long for
tiktoken's regex is encoded in exact parts (:mod:`convsplit.tokens.whitespace_runs`).

Counters pickle by name, as tiktoken's ``Encoding`` does: the one :func:`get_counter`
returns by its name, one loaded from a named vocabulary file by its encoding and file. In
the same process the unpickled counter is the registry's very instance (its caches are
shared); in another, the name is looked up again there, so a counter registered by
:func:`register_counter` must be registered in that process too (at the import of the
module that defines it).

Names with a prefix (``hf:``) are built by the module that owns them, imported only when
such a name is asked for (:data:`PREFIX_LOADERS`): this module imports none of them.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import tiktoken

from convsplit.errors import InvalidOptionError, UnknownNameError
from convsplit.registry import Registered
from convsplit.tokens.fast_count import fast_count
from convsplit.tokens.offline import OFFICIAL_ENCODINGS, load_ranks, official_spec
from convsplit.tokens.registry import SharedRegistry
from convsplit.tokens.whitespace_runs import LongRunEncoder, has_long_run

DEFAULT_ENCODING = "o200k_base"
#: ``get_counter("hf:<tokenizer.json, folder or package>")`` loads a Hugging Face tokenizer.
HF_PREFIX = "hf:"
#: Name prefixes whose counters another module builds: ``"module:function"``, imported and
#: called with the whole name the first time such a name is asked for.
PREFIX_LOADERS: Mapping[str, str] = {HF_PREFIX: "convsplit.tokens.huggingface:counter_for_name"}
_CACHE_SIZE = 4096  # distinct short texts: a file's repeated prompts, not every message
#: Texts this long or longer are cached by their size (:class:`TextCache`) instead: 4,096
#: of them could hold gigabytes.
_LONG_TEXT = 4096
_LONG_CACHE_BYTES = 64 << 20


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
            raise InvalidOptionError(
                "TiktokenCounter needs name= when the encoding is a function that loads it"
            )
        else:
            self._encoding, self._load = None, encoding
        self.name = name
        # Set by load(): the official encoding and vocabulary file it was loaded from.
        self._origin: tuple[str, str | None] | None = None
        self._fast_count = count
        self._encoding_lock = threading.Lock()
        self._long_runs: LongRunEncoder | None = None
        # Short texts through the C LRU cache (this is the hot path), long ones through a
        # cache bounded by bytes: repeated long prompts are counted once, and distinct
        # megabyte messages do not pile up.
        self._short_count = functools.lru_cache(maxsize=_CACHE_SIZE)(self._uncached_count)
        self._long_count = TextCache(self._uncached_count, max_bytes=_LONG_CACHE_BYTES)

    def count(self, text: str) -> int:
        """The number of tokens in ``text``, read as ordinary text; cached by text."""
        if len(text) < _LONG_TEXT:
            return self._short_count(text)
        return self._long_count(text)

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
            return spec.build(load_ranks(spec, bpe_file=bpe_file))

        count = fast_count(encoding_name)
        if count is None or bpe_file is not None:
            counter = cls(build(), count=count)
        else:
            counter = cls(build, name=encoding_name, count=count)
        path = None if bpe_file is None else os.path.abspath(os.fspath(bpe_file))
        counter._origin = (encoding_name, path)
        return counter

    def __reduce__(self) -> tuple[Callable[..., TokenCounter], tuple[Any, ...]]:
        """Pickle by name: an official encoding by its name and vocabulary file, a registered
        counter by the name it is registered under.

        A counter built around an encoding of your own and not registered pickles with its
        encoding (tiktoken pickles that by name or by value) and counts with tiktoken alone.
        """
        if self._origin is not None:
            encoding_name, bpe_file = self._origin
            return _official_counter, (encoding_name, bpe_file)
        if is_registered(self):
            return get_counter, (self.name,)
        return _counter_from_encoding, (self.encoding, self.name)

    @property
    def encoding(self) -> tiktoken.Encoding:
        """The tiktoken encoding, loaded on first use."""
        if self._encoding is None:
            with self._encoding_lock:
                if self._encoding is None and self._load is not None:
                    self._encoding = self._load()
        if self._encoding is None:  # pragma: no cover - __init__ sets one of the two
            raise InvalidOptionError(f"counter {self.name!r} has no encoding")
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


class TextCache:
    """A function of a text, cached by text and bounded by the texts' size in memory
    (``sys.getsizeof``): least recently used texts go first once ``max_bytes`` is held.

    A cache bounded by a number of entries keeps that many texts alive whatever their size,
    so distinct megabyte messages would grow memory with every record.

    >>> cache = TextCache(len, max_bytes=200)
    >>> cache("a" * 100), cache("b" * 100), len(cache)
    (100, 100, 1)
    >>> cache("b" * 100), len(cache)  # held: counted from the cache
    (100, 1)
    >>> TextCache(len, max_bytes=10)("a" * 100)  # larger than the whole cache: not kept
    100
    """

    def __init__(self, function: Callable[[str], int], *, max_bytes: int) -> None:
        self._function = function
        self._max_bytes = max_bytes
        self._values: OrderedDict[str, int] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # counters are shared by threads (Dask, writer)

    def __call__(self, text: str) -> int:
        with self._lock:
            value = self._values.get(text)
            if value is not None:
                self._values.move_to_end(text)
                return value
        value = self._function(text)
        size = sys.getsizeof(text)
        if size > self._max_bytes:
            return value
        with self._lock:
            if text not in self._values:
                self._values[text] = value
                self._bytes += size
                while self._bytes > self._max_bytes:
                    old, _ = self._values.popitem(last=False)
                    self._bytes -= sys.getsizeof(old)
        return value

    def __len__(self) -> int:
        return len(self._values)


CounterFactory = Callable[[], TokenCounter]

_COUNTERS: SharedRegistry[TokenCounter] = SharedRegistry(
    "tokenizer",
    # Every official single-file encoding (o200k_base, cl100k_base, r50k_base, p50k_base...).
    {
        name: Registered(lambda name=name: _official_counter(name, None))
        for name in OFFICIAL_ENCODINGS
    },
    prefixes=PREFIX_LOADERS,
    unknown=lambda model: _encoding_for_model(model),  # noqa: PLW0108 (defined below)
    placeholders=("<any OpenAI model name>", "hf:<path to tokenizer.json>"),
)
#: Counters loaded from official vocabularies, by encoding and vocabulary file.
_official: dict[tuple[str, str | None], TiktokenCounter] = {}
_official_lock = threading.RLock()


def register_counter(name: str, factory: CounterFactory) -> None:
    """Make ``get_counter(name)`` build a counter with ``factory`` (called once, lazily).

    The counter it builds pickles by ``name``: to unpickle one in another process (a worker),
    register it there too, for example at the import of the module that defines it.
    """
    _COUNTERS.register(name, factory)


def counter_names() -> tuple[str, ...]:
    """The registered counter names, sorted."""
    return _COUNTERS.names()


def load_counter(name: str, *, bpe_file: str | os.PathLike[str]) -> TiktokenCounter:
    """A tiktoken counter for an encoding or OpenAI model, from a vocabulary file you name.

    The file is checked against tiktoken's official sha256 before use. Loading the same
    encoding from the same file again returns the same counter.

    Raises:
        UnknownNameError: neither a tiktoken encoding nor an OpenAI model it knows.
        TokenizerDataError: the file cannot be read or is not the official vocabulary.
    """
    encoding_name = name if name in OFFICIAL_ENCODINGS else _encoding_for_model(name)
    return _official_counter(encoding_name, os.path.abspath(os.fspath(bpe_file)))


def get_counter(name: str = DEFAULT_ENCODING) -> TokenCounter:
    """The counter registered as ``name``, or the encoding tiktoken uses for model ``name``.

    Args:
        name: an encoding (``o200k_base``, ``cl100k_base``), a registered name, an
            OpenAI model name (``gpt-4o``, ``gpt-4``) resolved with tiktoken's model table,
            or ``hf:<path>``: a Hugging Face ``tokenizer.json``, its folder, or an installed
            package that ships one (needs ``convsplit[hf]``).

    Returns:
        The same instance for the same name, for the life of the process.

    Raises:
        UnknownNameError: neither a registered counter nor a model tiktoken knows.
        TokenizerDataError: the vocabulary is not available (offline, or downloaded once).

    >>> get_counter("gpt-4o").name
    'o200k_base'
    """
    return _COUNTERS.get(name)


def is_registered(counter: TokenCounter) -> bool:
    """Whether ``counter`` is the one ``get_counter(counter.name)`` returns, so that its name
    alone finds it again (how counters pickle)."""
    return _COUNTERS.is_shared(counter, counter.name)


def _official_counter(encoding_name: str, bpe_file: str | None) -> TiktokenCounter:
    """The counter for an official encoding (from ``bpe_file`` if named), loaded once."""
    key = (encoding_name, bpe_file)
    with _official_lock:
        counter = _official.get(key)
        if counter is None:
            counter = _official[key] = TiktokenCounter.load(encoding_name, bpe_file=bpe_file)
        return counter


def _counter_from_encoding(encoding: tiktoken.Encoding, name: str) -> TiktokenCounter:
    return TiktokenCounter(encoding, name=name)


def _encoding_for_model(model: str) -> str:
    try:
        return tiktoken.encoding_name_for_model(model)
    except KeyError:
        raise UnknownNameError(
            "tokenizer or OpenAI model",
            model,
            [*_COUNTERS.names(), "<any OpenAI model name>", "hf:<path to tokenizer.json>"],
        ) from None
