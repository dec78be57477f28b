"""Which files a run reads: names, globs and directories expanded to a list of files."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from convsplit.errors import InvalidConversationError

_INPUT_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Files named, globs expanded, directories searched for JSON/JSONL (gzipped too).

    ``-`` stands for standard input. A name that matches nothing raises.

    Raises:
        InvalidConversationError: naming the input that matched no file.
    """
    found: list[str] = []
    for item in inputs:
        text = os.fspath(item)
        if text == "-":
            found.append(text)
        elif Path(text).is_dir():
            matches = [
                str(p)
                for p in sorted(Path(text).rglob("*"))
                if p.is_file() and p.name.endswith(_INPUT_SUFFIXES)
            ]
            if not matches:
                raise InvalidConversationError(
                    f"no {', '.join(_INPUT_SUFFIXES)} files in directory", path=text
                )
            found.extend(matches)
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InvalidConversationError("no file matches this pattern", path=text)
            found.extend(matches)
        elif Path(text).exists():
            found.append(text)
        else:
            raise InvalidConversationError("no such file", path=text)
    return found
