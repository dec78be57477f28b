"""OpenAI chat format, written: a file that uploads as it is.

Context assistant messages get "weight": 0, targets stay unweighted (or get
"weight": 1); reasoning and unknown fields are dropped unless asked for, because OpenAI
rejects keys it does not know. Reasoning is counted exactly where it is written
(:attr:`OpenAIWriter.written_form`): by default neither, so a target's thinking costs no
budget in a file that does not hold it; tool schemas are put in OpenAI's {"type": "function",
"function": ...} form; tool calls without ids get deterministic ones
(call_<message>_<k>) and their results the matching tool_call_id, because OpenAI
requires the pairing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal, cast

from convsplit.errors import InvalidOptionError
from convsplit.formats.json_text import dumps, join_list, key
from convsplit.formats.openai_json import CallIds, message_json, tool_call_ids
from convsplit.formats.protocols import SampleWriter, WrittenForm
from convsplit.formats.record_fields import openai_tools, sample_metadata
from convsplit.messages import Message
from convsplit.samples import Sample, SplitResult


def _positions_of_none(items: list[Any]) -> list[int]:
    """Where ``items`` holds None (found with ``list.index``, at C speed)."""
    found: list[int] = []
    k = -1
    try:
        while True:
            k = items.index(None, k + 1)
            found.append(k)
    except ValueError:
        return found


def _lacks_ids(message: Message) -> bool:
    """Whether ``message`` is a tool call or result without an id."""
    if message.role == "tool":
        return message.tool_call_id is None
    calls = message.tool_calls
    return calls is not None and any(call.id is None for call in calls)


@dataclass(frozen=True, kw_only=True)
class OpenAIWriter(SampleWriter):
    """Samples as OpenAI chat fine-tuning lines: ``{"messages": [...], "tools": [...]}``.

    Args:
        weight_targets: write ``"weight": 1`` on targets (else they carry no weight key,
            which OpenAI also trains).
        keep_reasoning: write assistant reasoning, under ``reasoning_key``, and count it
            (for consumers that read it, such as axolotl's chat templates with
            ``reasoning_content``). OpenAI's format has no such field: the file will not
            upload as it is. Off (the default), reasoning is neither written nor counted.
        reasoning_key: the key reasoning is written under.
        keep_extras: keep unknown message fields read from the input (same caveat).
        fill_tool_call_ids: give id-less tool calls and results matching ids (OpenAI
            requires them); off, ids are written only where the input had them.
        parallel_tool_calls: write ``"parallel_tool_calls"`` with this value on every
            sample that has tools (OpenAI's switch for training single calls). A sample
            does not carry its conversation's own value, so it is set here for the file.
        metadata: ``"inline"`` adds each sample's :func:`sample_metadata` under
            ``metadata_key`` (not accepted by OpenAI's upload); for a sidecar file use
            :func:`convsplit.formats.metadata_lines` instead.
        metadata_key: the key inline metadata goes under.

    >>> from convsplit import Budget, SplitSpec, split_conversation
    >>> from convsplit.formats.openai import read_openai
    >>> conv = read_openai({"messages": [
    ...     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
    ...     {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!"}]})
    >>> lines = list(OpenAIWriter().lines(split_conversation(conv, SplitSpec(Budget(100)))))
    >>> print(lines[1].decode(), end="")
    {"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello","weight":0},{"role":"user","content":"Bye"},{"role":"assistant","content":"Bye!"}]}
    """

    weight_targets: bool = False
    keep_reasoning: bool = False
    reasoning_key: str = "reasoning"
    keep_extras: bool = False
    fill_tool_call_ids: bool = True
    parallel_tool_calls: bool | None = None
    metadata: Literal["none", "inline"] = "none"
    metadata_key: str = "metadata"

    def __post_init__(self) -> None:
        if self.metadata not in ("none", "inline"):
            raise InvalidOptionError(f"metadata must be 'none' or 'inline'; got {self.metadata!r}")

    @property
    def name(self) -> str:
        return "openai"

    @property
    def written_form(self) -> WrittenForm:
        """Reasoning only with ``keep_reasoning``; arguments as OpenAI's JSON strings."""
        return WrittenForm(reasoning=self.keep_reasoning)

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per sample; each distinct message is encoded once per result."""
        for pieces in self._pieces(result):
            yield b"".join(pieces)

    def chunks(self, result: SplitResult) -> Iterator[bytes]:
        """The bytes of :meth:`lines` in pieces, for a caller that writes them as they are.

        A sample's line is mostly messages already encoded for an earlier sample: handing
        out the pieces instead of a joined line saves copying each line several times.
        """
        return chain.from_iterable(self._pieces(result))

    def _pieces(self, result: SplitResult) -> Iterator[list[bytes]]:
        """Each sample's line as pieces.

        A message encodes the same way in every sample where it is context, so it is
        encoded once, by input index, followed by its comma; targets and truncated
        messages are encoded apart. A tool call or result without an id gets one that
        depends on the sample (:func:`tool_call_ids`): from the first sample that has
        one, the lines come from :meth:`_lines_filling_ids`.
        """
        context: dict[int, bytes] = {}
        head = b"{" + key("messages") + b":["
        tools_fragment = b""
        for index, sample in enumerate(result.samples):
            sources, messages, targets = sample.source_indices, sample.messages, sample.targets
            pieces: list[bytes | None] = [head, *map(context.get, sources)]
            own = {*targets, *sample.truncated}  # encoded apart, as they are in this sample
            for k in own:
                pieces[k + 1] = b""
            unseen = [k - 1 for k in _positions_of_none(pieces)]  # context seen first here
            if self.fill_tool_call_ids and any(_lacks_ids(messages[k]) for k in (*own, *unseen)):
                for line in self._lines_filling_ids(result, first=index):
                    yield [line]
                return
            for k in own:
                pieces[k + 1] = self._fragment(messages[k], k in targets) + b","
            for k in unseen:
                pieces[k + 1] = context[sources[k]] = self._fragment(messages[k], False) + b","
            pieces[-1] = cast(bytes, pieces[-1])[:-1] + b"]"
            items: list[tuple[bytes, bytes]] = []
            if sample.tools:
                if not tools_fragment:
                    tools_fragment = dumps(openai_tools(sample.tools))
                items.append((key("tools"), tools_fragment))
            pieces.append(self._tail(items, sample, index))
            yield cast(list[bytes], pieces)

    def _fragment(self, message: Message, trained: bool) -> bytes:
        return dumps(self._message(message, trained, None, None))

    def _tail(self, items: list[tuple[bytes, bytes]], sample: Sample, index: int) -> bytes:
        """The keys after ``"messages"`` and the line's end."""
        if sample.tools and self.parallel_tool_calls is not None:
            items.append((key("parallel_tool_calls"), dumps(self.parallel_tool_calls)))
        if self.metadata == "inline":
            meta = sample_metadata(sample, sample_index=index, columns=True)
            items.append((key(self.metadata_key), dumps(meta)))
        return b"".join(b"," + name + b":" + value for name, value in items) + b"}\n"

    def _lines_filling_ids(self, result: SplitResult, *, first: int = 0) -> Iterator[bytes]:
        """Lines where id-less tool calls and results get matching ids, per sample (from
        sample ``first`` on)."""
        cache: dict[tuple[Any, ...], bytes] = {}
        tools_cache: dict[int, bytes] = {}
        messages_key, tools_key = key("messages"), key("tools")
        for index, sample in enumerate(result.samples[first:], first):
            ids = tool_call_ids(sample.messages, sample.source_indices)
            targets = set(sample.targets)
            fragments: list[bytes] = []
            for k, message in enumerate(sample.messages):
                trained = k in targets
                cache_key = (id(message), sample.source_indices[k], trained, *ids[k])
                fragment = cache.get(cache_key)
                if fragment is None:
                    fragment = dumps(self._message(message, trained, *ids[k]))
                    cache[cache_key] = fragment
                fragments.append(fragment)
            items: list[tuple[bytes, bytes]] = []
            if sample.tools:
                tools = tools_cache.get(id(sample.tools))
                if tools is None:
                    tools = tools_cache[id(sample.tools)] = dumps(openai_tools(sample.tools))
                items.append((tools_key, tools))
            yield (
                b"{" + messages_key + b":" + join_list(fragments) + self._tail(items, sample, index)
            )

    def _message(
        self, message: Message, trained: bool, call_ids: CallIds, answers: str | None
    ) -> dict[str, Any]:
        weight = (1 if self.weight_targets else None) if trained else 0
        return message_json(
            message,
            weight=weight,
            keep_reasoning=self.keep_reasoning,
            keep_extras=self.keep_extras,
            reasoning_key=self.reasoning_key,
            call_ids=call_ids,
            answers=answers,
        )
