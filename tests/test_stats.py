"""The token report: exact percentiles, per-epoch tokens and the amplification."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import (
    Budget,
    Chunks,
    Conversation,
    Message,
    SplitSpec,
    get_chat_format,
    get_counter,
    split_conversation,
)
from convsplit.core.layout import Layout
from convsplit.core.split import as_written
from convsplit.errors import InvalidOptionError
from convsplit.formats import read_records
from convsplit.inspect.stats import (
    Distribution,
    TokenReportBuilder,
    conversation_tokens,
    percentile,
    token_report,
    whole_costs,
)
from convsplit.testing import conversations
from tests.format_strategies import data_file


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=60))
def test_percentiles_match_numpy_linear_interpolation(values: list[int]) -> None:
    numpy = pytest.importorskip("numpy")
    d = Distribution.of(values)
    assert (d.min, d.max, d.count, d.total) == (min(values), max(values), len(values), sum(values))
    for got, q in ((d.p5, 5), (d.median, 50), (d.p95, 95)):
        assert got == pytest.approx(float(numpy.percentile(values, q)), rel=1e-12, abs=1e-9)
    assert d.mean == pytest.approx(sum(values) / len(values))


def test_percentiles_are_exact() -> None:
    assert percentile([1, 2], Fraction(1, 2)) == 1.5
    assert percentile([0, 10**18], 0.05) == 5 * 10**16  # no float rounding inside
    assert Distribution.of([]) == Distribution(0, 0, 0, 0.0, 0.0, 0.0, 0, 0.0)
    with pytest.raises(ValueError, match="q must be between 0 and 1"):
        percentile([1], 2)


def test_the_toy_file_report() -> None:
    convs = [
        r.conversation
        for r in read_records(data_file("openai_cookbook_toy_chat_fine_tuning.jsonl"))
    ]
    report = token_report([c for c in convs if c], SplitSpec(budget=Budget(4096)))
    assert (report.conversations, report.samples, report.targets) == (5, 6, 6)
    assert report.skipped == {"no_user_before": 1, "target_too_long": 1}
    assert report.conversations_over_budget == 1
    assert report.conversation_tokens.max == 8031
    assert (report.tokens_per_epoch, report.trained_tokens_per_epoch) == (366, 66)
    assert report.whole_conversation_tokens == 8233 - 8031 + 4096  # the long one capped
    assert report.amplification == pytest.approx(366 / 4298)
    assert report.training_tokens(epochs=3) == 3 * 366


@pytest.mark.parametrize(
    ("name", "samples", "tokens", "whole"),
    [
        pytest.param("fastchat_dummy_conversation.json", 1000, 48244, 28751, id="fastchat"),
        pytest.param("llamafactory_glaive_toolcall_en_demo.json", 957, 318773, 132177, id="glaive"),
        # OpenAI's format writes no reasoning, so neither side counts it.
        pytest.param("llamafactory_reason_tool_use_demo_50.jsonl", 112, 72324, 31629, id="reason"),
    ],
)
def test_real_files_amplification(name: str, samples: int, tokens: int, whole: int) -> None:
    convs = [r.conversation for r in read_records(data_file(name)) if r.conversation]
    report = token_report(convs, SplitSpec(budget=Budget(4096)))
    assert (report.samples, report.tokens_per_epoch, report.whole_conversation_tokens) == (
        samples,
        tokens,
        whole,
    )
    assert report.amplification == tokens / whole
    assert report.amplification > 1  # every sample repeats its history
    assert report.skipped == {}


@given(conversations(max_events=10), st.sampled_from(["openai", "chatml", "llama2"]))
def test_builder_sums_the_split_results(conv: Conversation, format_name: str) -> None:
    chat_format = get_chat_format(format_name)
    budget = Budget(1500)
    result = split_conversation(
        conv, SplitSpec(budget=budget, chat_format=chat_format, window=Chunks())
    )
    spec = SplitSpec(budget=budget, chat_format=chat_format)
    builder = TokenReportBuilder(spec)
    builder.add(conv, result)
    report = builder.build()
    assert report.samples == len(result.samples)
    assert report.tokens_per_epoch == sum(s.total_tokens for s in result.samples)
    assert report.trained_tokens_per_epoch == sum(s.target_tokens for s in result.samples)
    assert report.targets + sum(report.skipped.values()) == len(result.outcomes)
    # The whole conversation as the output format writes it, as its samples are counted.
    written = as_written(conv, spec)
    whole = conversation_tokens(written, counter=get_counter(), chat_format=chat_format)
    assert report.conversation_tokens.total == whole
    assert report.whole_conversation_tokens == min(whole, 1500)


def test_a_conversation_trained_whole_costs_what_its_one_sample_costs() -> None:
    conv = Conversation(
        messages=(
            Message(role="system", content="Be brief."),
            Message(role="user", content="Capital of France?"),
            Message(role="assistant", content="Paris."),
        )
    )
    for name in ("openai", "chatml", "llama2", "llama3"):
        chat_format = get_chat_format(name)
        (sample,) = split_conversation(
            conv, SplitSpec(budget=Budget(100), chat_format=chat_format)
        ).samples
        tokens = conversation_tokens(conv, counter=get_counter(), chat_format=chat_format)
        assert tokens == sample.total_tokens, name


@given(conversations(max_events=10), st.sampled_from(["openai", "chatml", "llama2", "llama3"]))
def test_whole_conversation_costs_are_the_layouts(conv: Conversation, format_name: str) -> None:
    """The report's whole-conversation side is read from the split's Layout; counted here the
    other way, message by message beside its input neighbour, it agrees."""
    chat_format, counter = get_chat_format(format_name), get_counter()
    whole = whole_costs(conv, counter, chat_format)
    previous: Message | None = None
    expected = []
    for message in conv.messages:
        after = previous is not None and previous.role in ("system", "developer")
        expected.append(
            (message.role, chat_format.message_cost(message, counter, after_instruction=after))
        )
        previous = message
    assert whole.messages == expected
    assert whole.fixed == chat_format.sample_cost(conv.tools, counter)
    layout = Layout(conv, counter=counter, chat_format=chat_format)  # context without reasoning
    assert [cost for _, cost in whole.messages] == [
        layout.target_cost(i) for i in range(len(conv.messages))
    ]


def test_percentile_errors_are_option_errors() -> None:
    with pytest.raises(InvalidOptionError, match=r"^percentile of no values$"):
        percentile([], 0.5)
    with pytest.raises(InvalidOptionError, match=r"^q must be between 0 and 1; got 2$"):
        percentile([1], 2)
