"""The public API is laid out in one place: ``convsplit.__all__``."""

from __future__ import annotations

import subprocess
import sys
import types

import convsplit


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name in dir(convsplit)  # with the names imported on first use
        if not name.startswith("_") and not isinstance(getattr(convsplit, name), types.ModuleType)
    }
    assert public | {"__version__"} == set(convsplit.__all__)
    assert convsplit.__all__ == sorted(convsplit.__all__, key=str)


def test_reports_and_validation_load_on_first_use_not_at_import() -> None:
    code = (
        "import sys, convsplit; "
        "lazy = ('convsplit.inspect.report_collect', 'convsplit.inspect.report_render', "
        "'convsplit.inspect.findings', 'convsplit.inspect.validation', 'convsplit.inspect.stats', "
        "'convsplit.tokens.huggingface'); "
        "print([m for m in lazy if m in sys.modules]); "
        "from convsplit import collect_report, validate_records; "
        "print(collect_report.__module__, convsplit.token_report.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "[]",
        "convsplit.inspect.report_collect convsplit.inspect.stats",
    ]


def test_importing_convsplit_loads_no_optional_or_test_dependency() -> None:
    code = (
        "import sys, convsplit; "
        "print(sorted(m for m in ('hypothesis', 'tokenizers', 'transformers', 'datasets', "
        "'dask', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
