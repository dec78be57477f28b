"""Optional dependencies: imported on first use, or an error that says what to install.

The core needs only pydantic and tiktoken. Backends that need more sit behind extras
(``pip install 'convsplit[hf]'`` for Hugging Face tokenizers and chat templates,
``convsplit[dask]`` for the distributed engine), and ``import convsplit`` imports none of
them: a module that uses one calls :func:`require` where it needs it, so a missing package
costs nothing until the feature is used, and then fails with the command that fixes it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from types import MappingProxyType, ModuleType

from convsplit.errors import MissingExtraError

__all__ = ["EXTRAS", "MissingExtraError", "available", "require"]

#: The extra that brings each optional top-level module.
EXTRAS: Mapping[str, str] = MappingProxyType(
    {
        "tokenizers": "hf",
        "jinja2": "hf",
        "transformers": "hf",
        "datasets": "hf",
        "dask": "dask",
        "distributed": "dask",
    }
)


def require(module: str, *, extra: str | None = None, purpose: str | None = None) -> ModuleType:
    """Import an optional module, or raise :class:`MissingExtraError` naming its extra.

    Args:
        module: the module to import (``"tokenizers"``, ``"jinja2.sandbox"``).
        extra: the convsplit extra that installs it; looked up in :data:`EXTRAS` by the
            module's top-level name when omitted.
        purpose: what needs it, for the message (``"Hugging Face tokenizers"``).

    Returns:
        The imported module.

    Raises:
        MissingExtraError: the module (or one it imports) cannot be imported.

    >>> require("json").dumps([1])
    '[1]'
    >>> require("convsplit_no_such_module", extra="hf", purpose="this example")
    Traceback (most recent call last):
    ...
    convsplit.errors.MissingExtraError: convsplit_no_such_module is not installed \
(this example needs it); run: pip install 'convsplit[hf]'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.partition(".")[0]
        chosen = extra or EXTRAS.get(top)
        if chosen is None:
            raise
        raise MissingExtraError(module, extra=chosen, purpose=purpose) from error


def available(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it.

    >>> available("json"), available("convsplit_no_such_module")
    (True, False)
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
