"""Property: a record whose fields have other names (given as ``fields``), which carries
extra columns, and whose system prompt and tool schemas are columns beside the messages,
splits to exactly the bytes its canonical form splits to, for every output format."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import Budget, SplitSpec
from convsplit.run.records import RecordSplitter
from tests.format_strategies import openai_records

OUTPUTS = ["openai", "trl", "sharegpt"]

#: Names people give these fields, and random ones; never a name a reader knows.
_KEYS = st.one_of(
    st.sampled_from(["dialog", "conversation", "turns", "chat", "contents", "speaker", "text",
                     "author", "body", "system_prompt", "persona", "functions", "tool_list"]),
    st.text(string.ascii_letters + "_- ", min_size=1, max_size=12).map(lambda k: f"k{k}"),
)  # fmt: skip
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20))


def split_bytes(record: object, output: str, **options: Any) -> bytes:
    """What ``convsplit split`` writes for one record (the run's own unit of work)."""
    splitter = RecordSplitter(SplitSpec(Budget(400), output_format=output, **options))
    result = splitter.split(splitter.parse(record), 0)
    return b"".join(splitter.writer.lines(result))


@st.composite
def renamed(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(canonical record, the same record in other names with extra columns, the fields)."""
    canonical = draw(openai_records())
    messages = [dict(m) for m in canonical["messages"]]
    keys = draw(st.lists(_KEYS, min_size=5, max_size=5, unique=True))
    messages_key, role_key, content_key, system_key, tools_key = keys
    fields: dict[str, str] = {}
    variant: dict[str, Any] = {}
    first = messages[0] if messages else None
    second = messages[1] if len(messages) > 1 else None
    if (
        first is not None
        and first.get("role") == "system"
        and isinstance(first.get("content"), str)
        and first["content"]
        and set(first) == {"role", "content"}
        and second != first  # an equal second one would be taken for the column's message
        and draw(st.booleans())
    ):
        messages = messages[1:]
        named = draw(st.booleans())
        variant[system_key if named else "system"] = first["content"]
        if named:
            fields["system"] = system_key
    if draw(st.booleans()):
        fields["role"], fields["content"] = role_key, content_key
        messages = [_renamed(m, {"role": role_key, "content": content_key}) for m in messages]
    if draw(st.booleans()):
        fields["messages"] = messages_key
        variant[messages_key] = messages
    else:
        variant["messages"] = messages
    if "tools" in canonical:
        tools = canonical["tools"]
        value = json.dumps(tools) if draw(st.booleans()) else tools
        named = draw(st.booleans())
        variant[tools_key if named else "tools"] = value
        if named:
            fields["tools"] = tools_key
    extras = draw(
        st.dictionaries(st.text(string.ascii_lowercase, max_size=8), _SCALARS, max_size=3)
    )
    for name, value in extras.items():
        variant[f"x_{name}"] = value
    order = draw(st.permutations(list(variant)))
    return canonical, {k: variant[k] for k in order}, fields


def _renamed(message: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names.get(k, k): v for k, v in message.items()}


@pytest.mark.parametrize("output", OUTPUTS)
@given(case=renamed())
def test_named_fields_and_columns_split_as_the_canonical_form(
    output: str, case: tuple[dict[str, Any], dict[str, Any], dict[str, str]]
) -> None:
    canonical, variant, fields = case
    try:
        expected = split_bytes(canonical, output)
    except Exception as error:  # a canonical record a writer refuses: the variant must too
        with pytest.raises(type(error)):
            split_bytes(variant, output, fields=fields)
        return
    assert split_bytes(variant, output, fields=fields) == expected


@st.composite
def renamed_pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """A prompt/completion pair under other names with system, tools and extra columns, and
    the messages record it stands for."""
    texts = st.text(max_size=40)
    prompt, completion, system = draw(texts), draw(texts), draw(texts)
    keys = draw(st.lists(_KEYS, min_size=4, max_size=4, unique=True))
    tools = draw(st.sampled_from([None, [{"type": "function", "function": {"name": "f"}}]]))
    canonical: dict[str, Any] = {
        "messages": [
            *([{"role": "system", "content": system}] if system else []),
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": completion},
        ]
    }
    variant: dict[str, Any] = {keys[0]: prompt, keys[1]: completion, keys[2]: system}
    fields = {"prompt": keys[0], "completion": keys[1], "system": keys[2]}
    if tools is not None:
        canonical["tools"] = tools
        variant[keys[3]] = json.dumps(tools) if draw(st.booleans()) else tools
        fields["tools"] = keys[3]
    for name, value in draw(st.dictionaries(st.text(string.ascii_lowercase, max_size=8),
                                            _SCALARS, max_size=3)).items():  # fmt: skip
        variant[f"x_{name}"] = value
    return canonical, variant, fields


@pytest.mark.parametrize("output", OUTPUTS)
@given(case=renamed_pairs())
def test_named_pair_columns_split_as_the_canonical_form(
    output: str, case: tuple[dict[str, Any], dict[str, Any], dict[str, str]]
) -> None:
    canonical, variant, fields = case
    assert split_bytes(variant, output, fields=fields) == split_bytes(canonical, output)
