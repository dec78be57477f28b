"""The floor: parse every record and tokenize every message once, on one thread, nothing else.

No splitting, no output. Any tool that turns these conversations into samples with exact
counts must at least read them and tokenize their text once, so this is the speed the
splitter is measured against. It uses the same JSON parser (orjson) and the same tiktoken
call (``encode_ordinary``) as convsplit, and loads the vocabulary with plain
``tiktoken.get_encoding`` from the cache folder the benchmark prepares.

    python benchmarks/floor.py corpus.jsonl    # prints {"records": ..., "tokens": ...}
"""

from __future__ import annotations

import argparse
import sys

import orjson
from harness import ENCODING, load_encoding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="an OpenAI chat JSONL file")
    parser.add_argument("--encoding", default=ENCODING)
    args = parser.parse_args()
    encode = load_encoding(args.encoding).encode_ordinary
    records = messages = tokens = 0
    with open(args.input, "rb") as lines:
        for line in lines:
            record = orjson.loads(line)
            records += 1
            for message in record["messages"]:
                messages += 1
                content = message.get("content")
                if content:
                    tokens += len(encode(content))
                for call in message.get("tool_calls") or ():
                    tokens += len(encode(call["function"]["arguments"]))
    sys.stdout.write(
        orjson.dumps({"records": records, "messages": messages, "tokens": tokens}).decode()
    )


if __name__ == "__main__":
    main()
