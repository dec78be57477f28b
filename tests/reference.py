"""Independent re-counting, for tests: render a sample from scratch, tokenize it with tiktoken.

Nothing here uses convsplit's rendering or counting (no ``pieces``, ``message_body``,
``count_pieces`` or ``openai_tools_cost``): the built-in chat formats (openai, chatml, llama3)
are re-implemented from their published shapes, over plain JSON messages, and the text
between template markers is encoded by tiktoken itself (``encode_ordinary``, so a marker
look-alike inside content is plain text, as it is to a trainer that tokenizes text and
markers apart). Each marker is one token. :func:`row_messages` rebuilds, from one line a
writer wrote, the messages its format carries, so a test counts what was written.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import tiktoken

from convsplit import Message, Sample, TiktokenCounter, get_chat_format, get_counter
from convsplit.tokens.chat_formats import TemplateFormat

Segment = tuple[str, bool]  # (text, is a one-token template marker)
Row = dict[str, Any]


@functools.cache
def encoding_with_markers(encoding_name: str, format_name: str) -> tiktoken.Encoding:
    """The official encoding plus the chat format's markers as special tokens."""
    counter = get_counter(encoding_name)
    assert isinstance(counter, TiktokenCounter)
    base = counter.encoding
    chat_format = get_chat_format(format_name)
    assert isinstance(chat_format, TemplateFormat)
    extra = sorted(chat_format.specials - set(base._special_tokens))
    specials = dict(base._special_tokens)
    for k, marker in enumerate(extra):
        specials[marker] = base.max_token_value + 1 + k
    return tiktoken.Encoding(
        name=f"{encoding_name}+{format_name}",
        pat_str=base._pat_str,
        mergeable_ranks=base._mergeable_ranks,
        special_tokens=specials,
    )


@functools.cache
def _encoding(name: str) -> tiktoken.Encoding:
    counter = get_counter(name)
    assert isinstance(counter, TiktokenCounter)
    return counter.encoding


# -- messages as written ---------------------------------------------------------------------


def _text(content: object) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text") or ""
        for part in content
        if isinstance(part, dict) and part.get("type") == "text"
    )


def _arguments(value: object) -> str:
    """Arguments as a template shows them: a string as it is, an object as json.dumps."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _calls(calls: object) -> list[tuple[str, str]]:
    out = []
    for call in calls or ():
        function = call.get("function", call)
        out.append((function["name"], _arguments(function.get("arguments", ""))))
    return out


def openai_message(message: Mapping[str, Any], *, reasoning_key: str) -> Row:
    """One OpenAI/TRL JSON message as the neutral form the renderers take."""
    return {
        "role": message["role"],
        "text": _text(message.get("content")),
        "name": message.get("name"),
        "reasoning": message.get(reasoning_key),
        "calls": _calls(message.get("tool_calls")),
    }


_SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "observation": "tool", "system": "system"}


def row_messages(row: Mapping[str, Any], output_format: str) -> tuple[list[Row], list[Any] | None]:
    """The messages and tool schemas a written line carries, in the neutral form.

    openai: ``reasoning`` (the writer's key when kept); trl: prompt then completion,
    ``reasoning_content``; sharegpt: a ``gpt`` turn followed by a ``function_call`` turn is
    one message, unless the latter says ``"separate": true`` (as convsplit's reader joins
    them; LLaMA-Factory skips a record with either).
    """
    tools = row.get("tools")
    if output_format == "openai":
        messages = [openai_message(m, reasoning_key="reasoning") for m in row["messages"]]
    elif output_format == "trl":
        messages = [
            openai_message(m, reasoning_key="reasoning_content")
            for m in [*row["prompt"], *row["completion"]]
        ]
    elif output_format == "sharegpt":
        messages = []
        for turn in row["conversations"]:
            if turn["from"] == "function_call":
                value = json.loads(turn["value"])
                calls = _calls(value if isinstance(value, list) else [value])
                previous = messages[-1] if messages else None
                if (
                    previous is not None
                    and previous["joinable"]
                    and not previous["calls"]
                    and previous["train"] == turn.get("train")
                    and turn.get("separate") is not True
                ):
                    previous["calls"] = calls
                    previous["joinable"] = False
                else:
                    messages.append({"role": "assistant", "text": "", "name": turn.get("name"),
                                     "reasoning": None, "calls": calls, "joinable": False,
                                     "train": turn.get("train")})  # fmt: skip
                continue
            messages.append({"role": _SHAREGPT_ROLES[turn["from"]], "text": turn["value"],
                             "name": turn.get("name"), "reasoning": None, "calls": [],
                             "joinable": turn["from"] == "gpt", "train": turn.get("train")})  # fmt: skip
        tools = json.loads(tools) if tools else None
    else:
        raise ValueError(output_format)
    return messages, tools


def neutral(message: Message) -> Row:
    """A convsplit Message in the neutral form (for tests that count a Sample directly)."""
    return {
        "role": message.role,
        "text": "".join(
            p.text or "" for p in message.content if p.type == "text"
        ) if isinstance(message.content, tuple) else (message.content or ""),
        "name": message.name,
        "reasoning": message.reasoning,
        "calls": [(c.function.name, c.function.arguments) for c in message.tool_calls or ()],
    }  # fmt: skip


# -- rendering, written from the formats' published shapes -------------------------------------


def _body(message: Row) -> str:
    out = ""
    if message["reasoning"]:
        out += "<think>\n" + message["reasoning"] + "\n</think>\n\n"
    out += message["text"]
    for name, arguments in message["calls"]:
        out += '\n<tool_call>\n{"name": ' + json.dumps(name, ensure_ascii=False)
        out += ', "arguments": ' + (arguments or "{}") + "}\n</tool_call>"
    return out


def _tools_lines(tools: Sequence[Any]) -> str:
    return "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)


def render(messages: Sequence[Row], tools: Sequence[Any] | None, format_name: str) -> list[Segment]:
    """The sample as text and markers, per the chat format's published template."""
    out: list[Segment] = []
    if format_name == "chatml":
        if tools:
            out += [("<|im_start|>", True), ("system\n# Tools\n\n" + _tools_lines(tools), False),
                    ("<|im_end|>", True), ("\n", False)]  # fmt: skip
        for m in messages:
            out += [("<|im_start|>", True), (m["role"] + "\n" + _body(m), False),
                    ("<|im_end|>", True), ("\n", False)]  # fmt: skip
    elif format_name == "llama3":
        roles = {"developer": "system", "tool": "ipython"}

        def block(role: str, text: str) -> list[Segment]:
            return [("<|start_header_id|>", True), (role, False), ("<|end_header_id|>", True),
                    ("\n\n" + text.strip(), False), ("<|eot_id|>", True)]  # fmt: skip

        out.append(("<|begin_of_text|>", True))
        if tools:
            out += block("system", "Environment: ipython\n\n" + _tools_lines(tools))
        for m in messages:
            out += block(roles.get(m["role"], m["role"]), _body(m))
    elif format_name == "plain":  # each message's text, then one <|endoftext|>
        if tools:
            out += [(_tools_lines(tools), False), ("<|endoftext|>", True)]
        for m in messages:
            out += [(_body(m), False), ("<|endoftext|>", True)]
    elif format_name == "openai":
        for m in messages:
            out += [("<|im_start|>", True), (m["role"], False)]
            if m["name"] is not None:
                out += [("<|im_name|>", True), (m["name"], False)]
            out += [("<|im_sep|>", True), (_body(m), False), ("<|im_end|>", True)]
        out += [("<|im_start|>", True), ("assistant", False), ("<|im_sep|>", True)]
    else:
        raise ValueError(format_name)
    return out


def count_segments(segments: Sequence[Segment], encoding_name: str) -> int:
    """One token per marker; the text between two markers encoded whole by tiktoken."""
    encoding = _encoding(encoding_name)
    total, run = 0, ""
    for text, marker in segments:
        if marker:
            total += 1 + (len(encoding.encode_ordinary(run)) if run else 0)
            run = ""
        else:
            run += text
    return total + (len(encoding.encode_ordinary(run)) if run else 0)


def openai_tools_tokens(tools: Sequence[Any], encoding_name: str) -> int:
    """The OpenAI cookbook's ``num_tokens_for_tools``, transcribed from the notebook."""
    if not tools:
        return 0
    encoding = _encoding(encoding_name)
    func_init = 10 if encoding_name == "cl100k_base" else 7
    prop_init, prop_key, enum_init, enum_item, func_end = 3, 3, -3, 3, 12
    total = 0
    for tool in tools:
        function = tool.get("function", tool)
        total += func_init
        description = (function.get("description") or "").removesuffix(".")
        total += len(encoding.encode_ordinary(f"{function.get('name', '')}:{description}"))
        properties = (function.get("parameters") or {}).get("properties")
        if not isinstance(properties, dict) or not properties:
            continue
        total += prop_init
        for key, value in properties.items():
            prop = value if isinstance(value, dict) else {}
            total += prop_key
            if isinstance(prop.get("enum"), list):
                total += enum_init
                for item in prop["enum"]:
                    total += enum_item + len(encoding.encode_ordinary(str(item)))
            p_desc = (prop.get("description") or "").removesuffix(".")
            total += len(encoding.encode_ordinary(f"{key}:{prop.get('type', '')}:{p_desc}"))
    return total + func_end


def count_messages(
    messages: Sequence[Row], tools: Sequence[Any] | None, *, encoding_name: str, format_name: str
) -> int:
    """Tokens of the sample: its rendering counted by tiktoken (plus OpenAI's tool estimate)."""
    if format_name == "openai":
        segments = render(messages, None, format_name)
        return count_segments(segments, encoding_name) + openai_tools_tokens(
            tools or (), encoding_name
        )
    return count_segments(render(messages, tools, format_name), encoding_name)


def count_row(
    row: Mapping[str, Any], output_format: str, *, encoding_name: str, format_name: str
) -> int:
    """Tokens of one written line, rebuilt from what its format carries."""
    messages, tools = row_messages(row, output_format)
    return count_messages(messages, tools, encoding_name=encoding_name, format_name=format_name)


def count_rendered(
    messages: Sequence[Message],
    tools: Sequence[dict[str, Any]] | None,
    *,
    encoding_name: str,
    format_name: str,
) -> int:
    """Tokens of a sample given as Messages, counted independently (llama2, which no test
    of the written files needs, uses convsplit's rendering with tiktoken's count)."""
    if format_name in ("openai", "chatml", "llama3", "plain"):
        return count_messages(
            [neutral(m) for m in messages],
            tools,
            encoding_name=encoding_name,
            format_name=format_name,
        )
    chat_format = get_chat_format(format_name)
    assert isinstance(chat_format, TemplateFormat)
    pieces = chat_format.pieces(messages, tools)
    segments = [(p, False) if isinstance(p, str) else (p.text, True) for p in pieces]
    return count_segments(segments, encoding_name)


def count_sample(sample: Sample, *, encoding_name: str, format_name: str) -> int:
    """Independent count of a finished sample."""
    return count_rendered(
        sample.messages, sample.tools, encoding_name=encoding_name, format_name=format_name
    )
