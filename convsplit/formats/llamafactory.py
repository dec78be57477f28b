"""A LLaMA-Factory ``dataset_info.json`` entry, read as convsplit's reading options: so a
LLaMA-Factory user points convsplit at the description they already have.

An entry (``"name": {"file_name", "formatting", "ranking", "columns", "tags"}``) says how
LLaMA-Factory reads one dataset. Here it becomes the input format (``alpaca`` reads as
``pairs``; ``sharegpt`` is detected per record, since its messages may use ``from``/``value``
or ``role``/``content``), the field names (``columns``: ``prompt``/``query``/``response`` are
alpaca's ``instruction``/``input``/``output``; ``messages``, ``system``, ``tools``,
``history``, ``chosen``, ``rejected``; ``kto_tag`` is the ``label``) and the role map
(``tags``: ``role_tag``/``content_tag`` name the message keys, ``user_tag``,
``assistant_tag``, ``observation_tag``, ``function_tag``, ``system_tag`` the role values).
Only what differs from the names convsplit's readers already know is set, so the records
read as the same records written in the usual names. ``ranking`` and ``kto_tag`` mark
preference and KTO data, which the preference formats read from ``chosen``/``rejected``
and ``label``.

Media columns (``images``, ``videos``, ``audios``) are kept on each record as extra fields;
nothing in a record is ever read as a path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from convsplit.errors import InvalidOptionError, UnknownNameError
from convsplit.formats.record_fields import FUNCTION_CALL

#: LLaMA-Factory's alpaca columns and the convsplit field each one is.
_ALPACA_COLUMNS = {
    "prompt": "instruction", "query": "input", "response": "output", "history": "history",
    "system": "system", "tools": "tools", "chosen": "chosen", "rejected": "rejected",
    "kto_tag": "label",
}  # fmt: skip
#: LLaMA-Factory's sharegpt columns and the convsplit field each one is.
_SHAREGPT_COLUMNS = {
    "messages": "messages", "system": "system", "tools": "tools", "chosen": "chosen",
    "rejected": "rejected", "kto_tag": "label",
}  # fmt: skip
#: Names a column may have and be read without a field name (what the readers know).
_KNOWN_NAMES = {"messages": ("messages", "conversations")}
#: LLaMA-Factory's role tags, their defaults and the role each stands for.
_ROLE_TAGS = {
    "user_tag": ("human", "user"),
    "assistant_tag": ("gpt", "assistant"),
    "observation_tag": ("observation", "tool"),
    "function_tag": ("function_call", FUNCTION_CALL),
    "system_tag": ("system", "system"),
}
_FORMATTINGS = ("alpaca", "sharegpt")
#: Keys by which an entry names a dataset that is not a local file; LLaMA-Factory prefers
#: them to ``file_name``, in this order.
_REMOTE_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset's entry, as convsplit's reading options.

    Attributes:
        name: the dataset's name in the file.
        input_format: ``pairs`` for alpaca, ``auto`` for sharegpt.
        fields: the field names (``SplitSpec(fields=...)``).
        role_map: the role names (``SplitSpec(role_map=...)``).
        ranking: the entry says it is preference data (``chosen``/``rejected``).
        kto: the entry names a ``kto_tag`` column (a judged answer per record).
        file_name: the data file the entry names, if any (beside the dataset_info file).
        remote: where the entry says the data is when it is not a local file (such as
            ``hf_hub_url 'org/name'``), which LLaMA-Factory reads before ``file_name``.
    """

    name: str
    input_format: str
    fields: Mapping[str, str] = field(default_factory=dict)
    role_map: Mapping[str, str] = field(default_factory=dict)
    ranking: bool = False
    kto: bool = False
    file_name: Path | None = None
    remote: str | None = None

    def input_path(self) -> str:
        """The local file or folder the entry names, to read when no input is given
        (``file_name``, beside the ``dataset_info.json`` as LLaMA-Factory takes it).

        Raises:
            InvalidOptionError: the entry names a hub dataset, a script or a cloud file
                (convsplit reads local files only), no ``file_name``, or one that is not
                there.

        >>> DatasetInfo("a", "pairs", file_name=Path("/nowhere/a.json")).input_path()
        Traceback (most recent call last):
        ...
        convsplit.errors.InvalidOptionError: dataset 'a': file_name /nowhere/a.json: no such \
file or folder
        """
        at = f"dataset {self.name!r}"
        if self.remote is not None:
            raise InvalidOptionError(
                f"{at} is read from {self.remote}, not a local file; convsplit reads local "
                "files only: download it and give its file as INPUT"
            )
        if self.file_name is None:
            raise InvalidOptionError(f"{at} names no file_name; give its file as INPUT")
        if not self.file_name.exists():
            raise InvalidOptionError(f"{at}: file_name {self.file_name}: no such file or folder")
        return str(self.file_name)

    def options(self) -> dict[str, Any]:
        """The :class:`~convsplit.SplitSpec` options it sets: ``SplitSpec(budget,
        **info.options())``."""
        return {
            "input_format": self.input_format,
            "fields": dict(self.fields),
            "role_map": dict(self.role_map),
        }


def read_dataset_info(path: str | os.PathLike[str], dataset: str) -> DatasetInfo:
    """The entry ``dataset`` of the LLaMA-Factory ``dataset_info.json`` at ``path``.

    Raises:
        InvalidOptionError: the file cannot be read, is not a JSON object, or the entry
            holds a value of the wrong type (naming the file, entry and key).
        UnknownNameError: no entry of that name (listing the names).

    >>> import json, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(f"{folder}/dataset_info.json", "w") as f:
    ...     json.dump({"chats": {"file_name": "c.json", "formatting": "sharegpt",
    ...                "columns": {"messages": "dialog"},
    ...                "tags": {"role_tag": "speaker", "content_tag": "text",
    ...                         "user_tag": "customer", "assistant_tag": "agent"}}}, f)
    >>> info = read_dataset_info(f"{folder}/dataset_info.json", "chats")
    >>> info.options()
    {'input_format': 'auto', 'fields': {'messages': 'dialog', 'role': 'speaker', \
'content': 'text'}, 'role_map': {'customer': 'user', 'agent': 'assistant'}}
    """
    where = str(path)
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as error:
        raise InvalidOptionError(f"{where}: cannot read it ({error.strerror})") from error
    except orjson.JSONDecodeError as error:
        raise InvalidOptionError(f"{where}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise InvalidOptionError(f"{where}: expected a JSON object of datasets")
    if dataset not in data:
        raise UnknownNameError(f"dataset of {where}", dataset, data)
    return dataset_info(data[dataset], name=dataset, where=where, folder=Path(path).parent)


def dataset_info(
    entry: object, *, name: str, where: str = "dataset_info", folder: Path | None = None
) -> DatasetInfo:
    """One entry (already parsed) as convsplit's reading options; see
    :func:`read_dataset_info`.

    >>> dataset_info({"ranking": True, "columns": {"prompt": "question", "chosen": "good",
    ...               "rejected": "bad"}}, name="dpo").fields
    {'instruction': 'question', 'chosen': 'good', 'rejected': 'bad'}
    """
    at = f"{where}: dataset {name!r}"
    entry = _mapping(entry, at)
    formatting = entry.get("formatting", "alpaca")
    if formatting not in _FORMATTINGS:
        raise InvalidOptionError(
            f"{at}: formatting must be one of {', '.join(_FORMATTINGS)}; got {formatting!r}"
        )
    columns = _strings(entry.get("columns"), f"{at}: columns")
    tags = _strings(entry.get("tags"), f"{at}: tags")
    table = _ALPACA_COLUMNS if formatting == "alpaca" else _SHAREGPT_COLUMNS
    fields: dict[str, str] = {}
    for column, key in columns.items():
        target = table.get(column)
        if target is not None and key != target and key not in _KNOWN_NAMES.get(target, ()):
            fields[target] = key
    role_map: dict[str, str] = {}
    if formatting == "sharegpt":
        fields.update(_message_keys(tags))
        for tag, (default, role) in _ROLE_TAGS.items():
            value = tags.get(tag, default)
            if value not in (default, role):
                role_map[value] = role
    ranking = entry.get("ranking", False)
    if not isinstance(ranking, bool):
        raise InvalidOptionError(f"{at}: ranking must be true or false; got {ranking!r}")
    file_name = entry.get("file_name")
    remote = next((f"{key} {entry[key]!r}" for key in _REMOTE_KEYS if key in entry), None)
    return DatasetInfo(
        name=name,
        input_format="pairs" if formatting == "alpaca" else "auto",
        fields=fields,
        role_map=role_map,
        ranking=ranking,
        kto="kto_tag" in columns,
        file_name=(folder or Path()) / file_name if isinstance(file_name, str) else None,
        remote=remote,
    )


def _message_keys(tags: Mapping[str, str]) -> dict[str, str]:
    """Field names for the message keys ``role_tag`` and ``content_tag``: none where the
    readers know them (``from``/``value`` for ShareGPT, ``role``/``content`` for OpenAI)."""
    role, content = tags.get("role_tag", "from"), tags.get("content_tag", "value")
    out: dict[str, str] = {}
    if role not in ("from", "role"):
        out["role"] = role
    if content not in ("value", "content") or (role != "from" and content != "content"):
        out["content"] = content
    return out


def _mapping(value: object, at: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidOptionError(f"{at}: expected a JSON object; got {type(value).__name__}")
    return value


def _strings(value: object, at: str) -> dict[str, str]:
    if value is None:
        return {}
    found = _mapping(value, at)
    for key, item in found.items():
        if not isinstance(item, str) or not item:
            raise InvalidOptionError(f"{at}: {key!r} must be a non-empty string; got {item!r}")
    return found
