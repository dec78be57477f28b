"""An exact and faster token count for OpenAI encodings: the ``bpe`` Rust crate, verified.

Fitting a budget needs counts, not tokens. The ``bpe-openai`` wheel (the ``offline`` extra)
wraps GitHub's ``bpe-openai`` crate, whose o200k_base and cl100k_base tokenizers produce
tiktoken's tokens and count them without building the token list, faster than tiktoken
encodes. The crate carries its own copy of the vocabulary, so it is accepted only if it
reproduces, token for token, what tiktoken gives on a probe text pinned here; the test suite
compares the two over the whole vocabulary and random text.

Why the compiled module is loaded from its file (:func:`_bindings`) rather than imported as
``bpe_openai._bindings`` or used through ``bpe_openai.get_encoding``: importing any part of
the package runs its ``__init__``, which imports ``bpe_openai.compat``, whose module-level
``MODEL_REGISTRY`` calls every encoding constructor of ``bpe_openai.registry`` and so reads
and parses each vocabulary the wheel ships, tables convsplit never uses. That would happen
at the start of every process that counts (each worker of ``--jobs`` and of the Dask engine).
The compiled module itself needs nothing from the package's Python layer: it is the same
extension file the package imports, loaded under the same name.

Set ``CONVSPLIT_FAST_COUNT=0`` to count with tiktoken alone.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

#: Exercises every branch of the pre-tokenizer: contractions, numbers, code, scripts,
#: emoji, special-token look-alikes, runs of odd whitespace.
PROBE = (
    "Hello, world! It's we'd they'll I'M YOU'RE 12345678 3.14159 x=y+1;\n\n\t  indented\r\n"
    "def f(items):\n    return [x for x in items if x]  # code\n"
    "données d'entraînement Größe контекстное окно 文脈ウィンドウ 上下文窗口 نافذة السياق "
    "🙂🚀👍🏽 <|endoftext|> <|im_start|>   \u00a0\u3000 trailing spaces   "
)
#: sha256 of tiktoken's token ids for PROBE (comma-separated), from the verified vocabularies.
PROBE_DIGESTS = {
    "o200k_base": "7ccb61d5355ddd78fc3616bd4a996e3b52b6b6d05a4272b601910762b92dc6ad",
    "cl100k_base": "6832a2ea192e21daf7096b8ec8e5ed10aa0472cbc65a110efb2052d210838d64",
}
_MODULE = "bpe_openai._bindings"


def fast_count(encoding_name: str) -> Callable[[str], int] | None:
    """The crate's ``count`` for ``encoding_name``, or None where it is absent or differs.

    The returned function raises ``UnicodeEncodeError`` on text with lone surrogates,
    which the crate cannot take; the caller counts those with tiktoken.
    """
    expected = PROBE_DIGESTS.get(encoding_name)
    if expected is None or os.environ.get("CONVSPLIT_FAST_COUNT", "1") == "0":
        return None
    bindings = _bindings()
    if bindings is None:
        return None
    try:
        tokenizer = bindings.tokenizer_for_encoding(encoding_name)
        ids = tokenizer.encode(PROBE)
    except Exception:  # an unexpected build of the crate: tiktoken still counts
        return None
    if hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest() != expected:
        return None
    count: Callable[[str], int] = tokenizer.count
    return count


@functools.cache
def _bindings() -> ModuleType | None:
    """The wheel's compiled module, imported without running the package's ``__init__``."""
    loaded = sys.modules.get(_MODULE)
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("bpe_openai")
    if package is None or not package.submodule_search_locations:
        return None
    for folder in package.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"_bindings{suffix}"
            if not path.is_file():
                continue
            loader = importlib.machinery.ExtensionFileLoader(_MODULE, str(path))
            spec = importlib.util.spec_from_loader(_MODULE, loader)
            if spec is None:
                continue
            try:
                module = importlib.util.module_from_spec(spec)
                loader.exec_module(module)
            except ImportError:
                continue
            return module
    return None
