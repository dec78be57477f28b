"""Optional dependencies: never imported by ``import convsplit``; missing ones name their extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from convsplit import ConvsplitError
from convsplit.extras import EXTRAS, MissingExtraError, available, require

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("tokenizers", "transformers", "jinja2", "dask", "distributed", "datasets", "torch")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the project root, so nothing is preloaded."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_importing_convsplit_imports_no_optional_package() -> None:
    result = run_python(
        f"""
        import sys
        import convsplit, convsplit.extras
        import convsplit.tokens.huggingface, convsplit.tokens.templates
        print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_missing_extra_names_the_pip_install() -> None:
    result = run_python(
        """
        import sys
        sys.modules["tokenizers"] = None  # as if not installed
        sys.modules["jinja2"] = None
        from convsplit.tokens.huggingface import load_hf_tokenizer
        from convsplit.tokens.templates import compile_template
        from convsplit.extras import MissingExtraError
        for attempt in (lambda: load_hf_tokenizer("x"), lambda: compile_template("{{ 1 }}")):
            try:
                attempt()
            except MissingExtraError as error:
                print(error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "tokenizers is not installed (the Hugging Face tokenizer backend needs it); "
        "run: pip install 'convsplit[hf]'",
        "jinja2 is not installed (chat template rendering needs it); "
        "run: pip install 'convsplit[hf]'",
    ]


def test_require_maps_each_module_to_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(MissingExtraError) as caught:
        require("dask", purpose="the distributed engine")
    error = caught.value
    assert str(error) == (
        "dask is not installed (the distributed engine needs it); "
        "run: pip install 'convsplit[dask]'"
    )
    assert isinstance(error, ConvsplitError)
    assert isinstance(error, ImportError)  # code that guards imports keeps working
    assert (error.module, error.extra, error.install) == (
        "dask",
        "dask",
        "pip install 'convsplit[dask]'",
    )
    assert isinstance(error.__cause__, ImportError)


def test_require_leaves_unknown_modules_alone() -> None:
    with pytest.raises(ImportError) as caught:
        require("convsplit_no_such_module")
    assert not isinstance(caught.value, MissingExtraError)
    assert require("json").dumps([]) == "[]"


def test_every_extra_is_hf_or_dask() -> None:
    assert set(EXTRAS.values()) == {"hf", "dask"}
    assert EXTRAS["tokenizers"] == EXTRAS["jinja2"] == "hf"


def test_available_finds_without_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert available("json")
    assert not available("convsplit_no_such_module")
    monkeypatch.setitem(sys.modules, "dask", None)
    assert not available("dask")
