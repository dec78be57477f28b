"""The floor: parse every record and count every message's tokens once, on one thread.

No splitting, no output. Any tool that turns these conversations into samples with exact
counts must at least read them and count their text once, so this is the speed the
splitter is measured against. It uses the same JSON parser (orjson) as convsplit and, by
default, the fastest exact counter installed, the one convsplit counts with: the
``bpe-openai`` wheel's Rust ``count`` (loaded from its compiled module, as convsplit loads
it, without the package's start-up). ``--counter tiktoken`` counts with tiktoken's
``encode_ordinary`` instead (the vocabulary loaded with plain ``tiktoken.get_encoding`` from
the cache folder the benchmark prepares): the floor as it was defined before.

    python benchmarks/floor.py corpus.jsonl    # prints {"records": ..., "tokens": ...}
    python benchmarks/floor.py corpus.jsonl --counter tiktoken
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
from harness import ENCODING, load_encoding


def fast_counter(encoding: str) -> Callable[[str], int] | None:
    """bpe-openai's exact ``count`` for ``encoding``, or None where the wheel is absent."""
    package = importlib.util.find_spec("bpe_openai")
    if package is None or not package.submodule_search_locations:
        return None
    for folder in package.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"_bindings{suffix}"
            if path.is_file():
                loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", str(path))
                spec = importlib.util.spec_from_loader(loader.name, loader)
                assert spec is not None
                module = importlib.util.module_from_spec(spec)
                loader.exec_module(module)
                count: Callable[[str], int] = module.tokenizer_for_encoding(encoding).count
                return count
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="an OpenAI chat JSONL file")
    parser.add_argument("--encoding", default=ENCODING)
    parser.add_argument(
        "--counter", choices=("fastest", "tiktoken"), default="fastest",
        help="fastest: bpe-openai's Rust count where installed, else tiktoken (default)",
    )  # fmt: skip
    args = parser.parse_args()
    fast = fast_counter(args.encoding) if args.counter == "fastest" else None
    counter = "bpe-openai" if fast is not None else "tiktoken"
    if fast is None:
        encode = load_encoding(args.encoding).encode_ordinary

        def count(text: str) -> int:
            return len(encode(text))
    else:
        count = fast
    records = messages = tokens = 0
    with open(args.input, "rb") as lines:
        for line in lines:
            record = orjson.loads(line)
            records += 1
            for message in record["messages"]:
                messages += 1
                content = message.get("content")
                if content:
                    tokens += count(content)
                for call in message.get("tool_calls") or ():
                    tokens += count(call["function"]["arguments"])
    result = {"records": records, "messages": messages, "tokens": tokens, "counter": counter}
    sys.stdout.write(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
