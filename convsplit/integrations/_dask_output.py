"""The Dask engine's output folder: checked before any work, filled in a temporary folder
beside it, and renamed into place only when every partition has succeeded.

A wrong path never deletes other files: an existing folder is replaced only if it holds
nothing but part files (a previous run).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Sequence

from convsplit.errors import OutputError
from convsplit.run.output import AtomicOutput, temporary_folder

_COPY_CHUNK = 1 << 20
_PART = re.compile(r"part-\d+\.(jsonl|parquet)\Z")


def part_names(count: int, *, suffix: str = ".jsonl") -> list[str]:
    """``part-00000.jsonl``... for ``count`` partitions, wide enough to sort in order
    (``suffix=".parquet"``: an output folder named ``.parquet`` holds Parquet parts).

    >>> part_names(2)
    ['part-00000.jsonl', 'part-00001.jsonl']
    >>> part_names(1, suffix=".parquet")
    ['part-00000.parquet']
    """
    width = max(5, len(str(count - 1)))
    return [f"part-{k:0{width}d}{suffix}" for k in range(count)]


def rejects_name(part: str) -> str:
    """The file beside a part that holds that part's rejects until they are joined."""
    return f".rejects-{part}"


def check_output(target: str) -> None:
    """Refuse, before any work, an output path that is a file or a folder of other files."""
    if not os.path.lexists(target):
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            raise OutputError(f"cannot write {target}: no folder {parent}; nothing was written")
        return
    if not os.path.isdir(target) or os.path.islink(target):
        raise OutputError(
            f"cannot write {target}: it exists and is not a folder (the Dask engine writes a "
            "folder of part files); nothing was written"
        )
    others = sorted(name for name in os.listdir(target) if not _PART.match(name))
    if others:
        raise OutputError(
            f"cannot write {target}: the folder holds other files than part-NNNNN.jsonl "
            "or .parquet "
            f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); choose a new or "
            "empty folder; nothing was written"
        )


def make_temporary(target: str) -> str:
    """A folder beside ``target`` (same file system, so the final rename is atomic) that
    every worker may write to, made as ``mkdir`` makes one; its name is one no later run
    reads as input (:func:`~convsplit.run.output.is_temporary`)."""
    try:
        return temporary_folder(target)
    except OSError as error:
        raise OutputError(
            f"cannot write {target}: {error.strerror or error}; nothing was written"
        ) from error


def join_rejects(folder: str, names: Sequence[str], rejects: str | os.PathLike[str]) -> None:
    """Concatenate the parts' rejects, in part order, into the file ``rejects``."""
    with AtomicOutput(rejects) as out:
        for name in names:
            path = os.path.join(folder, rejects_name(name))
            with open(path, "rb") as part:
                shutil.copyfileobj(part, out, _COPY_CHUNK)
            os.unlink(path)


def put_in_place(folder: str, target: str) -> None:
    """Rename the finished folder to ``target``, replacing a previous run's parts."""
    check_output(target)  # nothing else appeared there while the run went on
    try:
        if os.path.lexists(target):
            old = temporary_folder(target)  # empty: renaming a folder over it replaces it
            os.replace(target, old)
            os.replace(folder, target)
            remove(old)
        else:
            os.replace(folder, target)
    except OSError as error:
        raise OutputError(
            f"cannot put {target} in place: {error.strerror or error}; nothing was written"
        ) from error


def remove(folder: str) -> None:
    """Remove ``folder`` and what it holds, if it is there.

    It is renamed first: a task still running on some worker (an external cluster finishes
    a task it was told to cancel) can then no longer create a file in it, which would
    leave it behind once emptied.
    """
    if not os.path.lexists(folder):
        return
    doomed: str | None = None
    with contextlib.suppress(OSError):
        doomed = temporary_folder(folder)
        try:
            os.replace(folder, doomed)  # over the empty folder just made
        except OSError:
            os.rmdir(doomed)
            doomed = None
    shutil.rmtree(doomed or folder, ignore_errors=True)
