"""The public API is laid out in one place: ``convsplit.__all__``."""

from __future__ import annotations

import subprocess
import sys
import types

import convsplit


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(convsplit).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public | {"__version__"} == set(convsplit.__all__)
    assert convsplit.__all__ == sorted(convsplit.__all__, key=str)


def test_importing_convsplit_loads_no_optional_or_test_dependency() -> None:
    code = (
        "import sys, convsplit; "
        "print(sorted(m for m in ('hypothesis', 'tokenizers', 'transformers', 'datasets', "
        "'dask', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
