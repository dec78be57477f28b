"""Reading preference records in the shapes LLaMA-Factory and TRL document.

Pairwise (:class:`~convsplit.formats.preference.PreferenceRecord`):

- LLaMA-Factory ranking, ShareGPT: ``conversations`` (the prompt) with ``chosen`` and
  ``rejected`` turn objects (``{"from": "gpt", "value": ...}``); the same with ``messages``
  and role/content objects;
- LLaMA-Factory ranking, alpaca: ``instruction``/``input`` (``system``, ``history``) with
  ``chosen``/``rejected`` strings, or ``output`` as ``[chosen, rejected]`` (its earlier form);
- TRL preference: ``prompt``, ``chosen``, ``rejected`` as strings or lists of messages, or
  without ``prompt`` (the implicit prompt: the answers' common beginning, as TRL's
  ``extract_prompt`` takes it, also where a text ``prompt`` stands beside message answers;
  if they share no beginning, that text is the user's message).

Unpaired (:class:`~convsplit.formats.preference.UnpairedRecord`): TRL's ``prompt``,
``completion``, ``label``; LLaMA-Factory's ``messages`` or ``conversations`` whose last turn is
the answer, with a boolean ``kto_tag`` (or ``label``, as its ``kto_en_demo`` names it).

Each message is read by the format's own reader (:mod:`.sharegpt`, :mod:`.openai`,
:mod:`.pairs`), so roles, tool calls and errors are exactly theirs. An answer is one
assistant message.

>>> pair = read_preference({"conversations": [{"from": "human", "value": "2+2?"}],
...                         "chosen": {"from": "gpt", "value": "4"},
...                         "rejected": {"from": "gpt", "value": "5"}})
>>> [m.content for m in pair.prompt.messages], pair.chosen.content, pair.rejected.content
(['2+2?'], '4', '5')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from convsplit.errors import InvalidConversationError
from convsplit.formats.json_text import json_type
from convsplit.formats.openai import read_openai
from convsplit.formats.pairs import read_pairs
from convsplit.formats.preference import (
    PREFERENCE_OUTPUTS,
    PreferenceRecord,
    UnpairedRecord,
    preference_kind,
)
from convsplit.formats.sharegpt import read_sharegpt
from convsplit.messages import Conversation, Message

_Reader = Callable[..., Conversation]
_ANSWERS = ("chosen", "rejected")


def read_judged(
    record: object, *, role_map: Mapping[str, str] | None = None
) -> PreferenceRecord | UnpairedRecord:
    """A pairwise or unpaired preference record, whichever ``record`` is.

    Raises:
        InvalidConversationError: ``record`` is not preference data (a prompt alone, say),
            or a field is missing or of the wrong type, naming it.

    >>> read_judged({"prompt": "Hi", "completion": "Hello", "label": True}).label
    True
    >>> read_judged({"conversations": [{"from": "human", "value": "Hi"}]})
    Traceback (most recent call last):
    ...
    convsplit.errors.InvalidConversationError: not preference data: no 'chosen' and \
'rejected' answers and no KTO label (keys 'conversations'); a prompt alone has nothing to \
compare
    """
    kind = preference_kind(record)
    if kind == "pairwise":
        return read_preference(record, role_map=role_map)
    if kind == "unpaired":
        return read_unpaired(record, role_map=role_map)
    if not isinstance(record, dict):
        raise InvalidConversationError(
            f"expected a JSON object (a preference record); got {json_type(record)}"
        )
    keys = ", ".join(map(repr, record))
    raise InvalidConversationError(
        f"not preference data: no 'chosen' and 'rejected' answers and no KTO label (keys "
        f"{keys or 'none'}); a prompt alone has nothing to compare"
    )


def read_preference(
    record: object, *, role_map: Mapping[str, str] | None = None
) -> PreferenceRecord:
    """One pairwise record (LLaMA-Factory ranking, ShareGPT or alpaca; TRL preference).

    Raises:
        InvalidConversationError: naming the field.

    >>> pair = read_preference({"instruction": "Add", "input": "2+2", "output": ["4", "5"]})
    >>> pair.prompt.messages[0].content, pair.chosen.content, pair.rejected.content
    ('Add\\n2+2', '4', '5')
    """
    if not isinstance(record, dict):
        raise InvalidConversationError(f"expected a JSON object; got {json_type(record)}")
    if "instruction" in record:
        return _alpaca(record, role_map)
    for name in _ANSWERS:
        if name not in record:
            raise InvalidConversationError(
                f"field {name!r} is missing: a preference record needs both 'chosen' and "
                f"'rejected'",
                field=name,
            )
    rest = {k: v for k, v in record.items() if k not in _ANSWERS}
    chosen, rejected = record["chosen"], record["rejected"]
    for key, reader in (("conversations", read_sharegpt), ("messages", read_openai)):
        if key in record:
            prompt = _read(reader, rest, role_map, None)
            return PreferenceRecord(
                prompt=prompt,
                chosen=_turn(reader, key, chosen, "chosen", role_map),
                rejected=_turn(reader, key, rejected, "rejected", role_map),
            )
    return _trl(rest, chosen, rejected, role_map)


def read_unpaired(record: object, *, role_map: Mapping[str, str] | None = None) -> UnpairedRecord:
    """One KTO record: TRL's ``prompt``/``completion``/``label``, or LLaMA-Factory's
    ``messages``/``conversations`` (the last turn is the answer) with ``kto_tag`` or
    ``label``.

    Raises:
        InvalidConversationError: naming the field.

    >>> kto = read_unpaired({"messages": [{"role": "user", "content": "Hi"},
    ...                                   {"role": "assistant", "content": "Go away"}],
    ...                      "label": False})
    >>> kto.completion.content, kto.label
    ('Go away', False)
    """
    if not isinstance(record, dict):
        raise InvalidConversationError(f"expected a JSON object; got {json_type(record)}")
    tag = "kto_tag" if "kto_tag" in record else "label"
    label = record.get(tag)
    if not isinstance(label, bool):
        raise InvalidConversationError(
            f"field {tag!r}: expected true (a desirable answer) or false; got {json_type(label)}",
            field=tag,
        )
    rest = {k: v for k, v in record.items() if k != tag}
    if "prompt" in rest and "completion" in rest:
        completion = rest["completion"]
        if isinstance(completion, list) and len(completion) != 1:
            raise _one_message("completion", len(completion))
        whole = _read(read_pairs, rest, role_map, None)
    elif "conversations" in rest:
        whole = _read(read_sharegpt, rest, role_map, None)
    elif "messages" in rest:
        whole = _read(read_openai, rest, role_map, None)
    else:
        raise InvalidConversationError(
            "expected 'prompt' and 'completion', 'messages' or 'conversations' beside the "
            f"label; got keys {', '.join(map(repr, record))}"
        )
    if not whole.messages or whole.messages[-1].role != "assistant":
        raise InvalidConversationError(
            "the last message is the judged answer and must be an assistant's; got "
            + (repr(whole.messages[-1].role) if whole.messages else "no messages"),
        )
    prompt = whole.model_copy(update={"messages": whole.messages[:-1]})
    return UnpairedRecord(prompt=prompt, completion=whole.messages[-1], label=label)


def _alpaca(record: dict[str, Any], role_map: Mapping[str, str] | None) -> PreferenceRecord:
    output = record.get("output")
    if isinstance(output, list):
        if len(output) != 2:
            raise InvalidConversationError(
                f"field 'output': expected [chosen, rejected]; got a list of {len(output)}",
                field="output",
            )
        answers = {"chosen": output[0], "rejected": output[1]}
    else:
        answers = {name: record.get(name) for name in _ANSWERS}
    for name, value in answers.items():
        if not isinstance(value, str):
            field = "output" if isinstance(output, list) else name
            raise InvalidConversationError(
                f"field {field!r}: expected the {name} answer as a string; got {json_type(value)}",
                field=field,
            )
    rest = {k: v for k, v in record.items() if k not in (*_ANSWERS, "output")}
    whole = _read(read_pairs, {**rest, "output": answers["chosen"]}, role_map, None)
    return PreferenceRecord(
        prompt=whole.model_copy(update={"messages": whole.messages[:-1]}),
        chosen=whole.messages[-1],
        rejected=Message(role="assistant", content=answers["rejected"]),
    )


def _trl(
    rest: dict[str, Any], chosen: object, rejected: object, role_map: Mapping[str, str] | None
) -> PreferenceRecord:
    prompt = rest.pop("prompt", None)
    if isinstance(chosen, str) and isinstance(rejected, str):
        if not isinstance(prompt, str):
            if prompt is not None:
                raise _prompt_type(prompt, "a string, as the answers are")
            prompt, chosen, rejected = _common_text(chosen, rejected)
        whole = _read(read_pairs, {**rest, "prompt": prompt, "completion": chosen}, role_map, None)
        return PreferenceRecord(
            prompt=whole.model_copy(update={"messages": whole.messages[:-1]}),
            chosen=whole.messages[-1],
            rejected=Message(role="assistant", content=rejected),
        )
    if isinstance(chosen, list) and isinstance(rejected, list):
        if not isinstance(prompt, list):  # the implicit prompt, as TRL's extract_prompt
            text = prompt
            shared = 0
            while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
                shared += 1
            prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
            if not prompt and isinstance(text, str):  # the text is the prompt, then
                prompt = [{"role": "user", "content": text}]
        conversation = _read(read_openai, {**rest, "messages": prompt}, role_map, "prompt")
        return PreferenceRecord(
            prompt=conversation,
            chosen=_answer(chosen, "chosen", role_map),
            rejected=_answer(rejected, "rejected", role_map),
        )
    raise InvalidConversationError(
        "fields 'chosen' and 'rejected': expected two strings or two lists of messages "
        f"(TRL), or two turn objects beside 'conversations' (LLaMA-Factory); got "
        f"{json_type(chosen)} and {json_type(rejected)}",
        field="chosen",
    )


def _common_text(chosen: str, rejected: str) -> tuple[str, str, str]:
    """TRL's implicit text prompt: the answers' common beginning, a space before the first
    difference going with the answers."""
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    if shared and chosen[shared - 1] == " ":
        shared -= 1
    return chosen[:shared], chosen[shared:], rejected[shared:]


def _turn(
    reader: _Reader, key: str, value: object, name: str, role_map: Mapping[str, str] | None
) -> Message:
    """A LLaMA-Factory answer: one turn object, read as the prompt's turns are."""
    if not isinstance(value, dict):
        raise InvalidConversationError(
            f"field {name!r}: expected one turn object, as the items of {key!r}; got "
            f"{json_type(value)}",
            field=name,
        )
    return _assistant(_read(reader, {key: [value]}, role_map, name).messages, name)


def _answer(value: list[Any], name: str, role_map: Mapping[str, str] | None) -> Message:
    """A TRL answer: a list of one assistant message."""
    if len(value) != 1:
        raise _one_message(name, len(value))
    return _assistant(_read(read_openai, {"messages": value}, role_map, name).messages, name)


def _assistant(messages: tuple[Message, ...], name: str) -> Message:
    if len(messages) != 1 or messages[0].role != "assistant":
        got = repr(messages[0].role) if len(messages) == 1 else f"{len(messages)} messages"
        raise InvalidConversationError(
            f"field {name!r}: an answer is one assistant message; got {got}", field=name
        )
    return messages[0]


def _read(
    reader: _Reader, record: dict[str, Any], role_map: Mapping[str, str] | None, name: str | None
) -> Conversation:
    """``reader(record)``, its errors placed in field ``name`` (None: as they are)."""
    try:
        return reader(record, role_map=role_map)
    except InvalidConversationError as error:
        if name is None:
            raise
        raise InvalidConversationError(
            f"field {name!r}: {error.reason}", field=name, hints=error.hints
        ) from error


def _one_message(name: str, count: int) -> InvalidConversationError:
    return InvalidConversationError(
        f"field {name!r}: an answer is one assistant message; got {count} messages "
        f"({PREFERENCE_OUTPUTS['pairwise']} and {PREFERENCE_OUTPUTS['unpaired']} outputs "
        "compare single answers)",
        field=name,
    )


def _prompt_type(prompt: object, expected: str) -> InvalidConversationError:
    return InvalidConversationError(
        f"field 'prompt': expected {expected}; got {json_type(prompt)}", field="prompt"
    )
