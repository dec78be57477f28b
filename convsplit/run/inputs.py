"""Which files a run reads: names, globs and directories expanded to a list of files."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from convsplit.errors import InvalidConversationError
from convsplit.run.output import is_temporary

#: What a directory is searched for, in any case (``.JSONL`` too).
INPUT_SUFFIXES = (
    ".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".parquet",
)  # fmt: skip


def input_list(
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[str | os.PathLike[str]]:
    """``inputs`` as a list: one name given alone is one input, not a sequence of letters.

    >>> input_list("chats.jsonl"), input_list(["a.jsonl", "b.jsonl"])
    (['chats.jsonl'], ['a.jsonl', 'b.jsonl'])
    """
    if isinstance(inputs, (str, os.PathLike)):
        return [inputs]
    return list(inputs)


def expand_inputs(inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """Files named, globs expanded, directories searched for JSON, JSON Lines (gzipped
    too) and Parquet files. One name may be given alone.

    ``-`` stands for standard input. A file that exists under the name given is read
    even if the name looks like a pattern (``chat[1].jsonl``); otherwise ``*``, ``?`` and
    ``[...]`` are a pattern. A search (a directory's or a pattern's) never finds what
    convsplit is writing or a killed run left (:func:`~convsplit.run.output.is_temporary`).
    A name that matches nothing raises.

    Raises:
        InvalidConversationError: naming the input that matched no file.

    >>> expand_inputs(["-"])
    ['-']
    """
    found: list[str] = []
    for item in input_list(inputs):
        text = os.fspath(item)
        if text == "-":
            found.append(text)
        elif Path(text).is_dir():
            matches = _search(text)
            if not matches:
                raise InvalidConversationError(
                    f"no {', '.join(INPUT_SUFFIXES)} files in directory", path=text
                )
            found.extend(matches)
        elif Path(text).exists():
            found.append(text)
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            kept = _without_temporaries(text, matches)
            if not kept:
                raise InvalidConversationError(
                    "no file matches this pattern (and no file has this name)"
                    if not matches
                    else "this pattern matches only temporary files convsplit writes (left "
                    "by a run that was killed); name one to read it",
                    path=text,
                )
            found.extend(kept)
        else:
            raise InvalidConversationError("no such file", path=text)
    return found


def _search(folder: str) -> list[str]:
    """The input files under ``folder``, in path order, skipping temporary files and
    folders (without reading what a leftover temporary folder holds)."""
    paths: list[Path] = []
    for parent, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not is_temporary(name)]
        for name in names:
            path = Path(parent, name)
            if name.lower().endswith(INPUT_SUFFIXES) and not is_temporary(name) and path.is_file():
                paths.append(path)
    return [str(path) for path in sorted(paths)]


def _without_temporaries(pattern: str, matches: list[str]) -> list[str]:
    """``matches`` of ``pattern`` but those where a part the pattern matched (not one it
    spells out) is a temporary name."""
    parts = Path(pattern).parts
    literal = next((k for k, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return [
        match
        for match in matches
        if not any(is_temporary(part) for part in Path(match).parts[literal:])
    ]
