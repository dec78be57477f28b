"""The token report: what a dataset costs before and after per-turn splitting.

Splitting trains every assistant turn with its own history, so every sample repeats the
turns before it: the tokens a trainer reads per epoch grow faster than the data. The
report shows both sides (each conversation as one sample, and the split samples), the
distribution of each (min, p5, median, p95, max; percentiles computed exactly, the way
``numpy.percentile`` interpolates by default) and the ratio between them, the
*amplification*.

Token counts come from the splitter itself (``Sample.total_tokens``) and, for whole
conversations, from the split's own :class:`~convsplit.core.layout.Layout`, so the two
sides are counted alike.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import accumulate
from typing import NamedTuple

from convsplit.budget import Budget
from convsplit.core.layout import Layout
from convsplit.core.split import as_written, split_conversation
from convsplit.errors import InvalidOptionError
from convsplit.messages import Conversation
from convsplit.samples import SplitResult
from convsplit.spec import SplitSpec
from convsplit.tokens.chat_formats import ChatFormat
from convsplit.tokens.counters import TokenCounter


@dataclass(frozen=True)
class Distribution:
    """Summary of a list of token counts; every field is 0 for an empty list.

    >>> d = Distribution.of([10, 20, 30, 40, 1000])
    >>> d.min, d.median, d.max, d.p95, d.mean
    (10, 30.0, 1000, 808.0, 220.0)
    """

    count: int
    total: int
    min: int
    p5: float
    median: float
    p95: float
    max: int
    mean: float

    @classmethod
    def of(cls, values: Iterable[int]) -> Distribution:
        """The distribution of ``values``."""
        return cls.from_counts(Counter(values))

    @classmethod
    def from_counts(cls, counts: Mapping[int, int]) -> Distribution:
        """The distribution of a histogram ``{value: how many times}``.

        A histogram of token counts stays small (at most one entry per distinct count),
        so a report over millions of samples keeps little in memory and is still exact.
        """
        items = sorted((v, n) for v, n in counts.items() if n > 0)
        if not items:
            return cls(count=0, total=0, min=0, p5=0.0, median=0.0, p95=0.0, max=0, mean=0.0)
        values = [v for v, _ in items]
        ends = list(accumulate(n for _, n in items))
        total = sum(v * n for v, n in items)
        count = ends[-1]
        return cls(
            count=count,
            total=total,
            min=values[0],
            p5=_percentile(values, ends, Fraction(5, 100)),
            median=_percentile(values, ends, Fraction(1, 2)),
            p95=_percentile(values, ends, Fraction(95, 100)),
            max=values[-1],
            mean=float(Fraction(total, count)),
        )


def percentile(values: Iterable[int], q: Fraction | float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between order statistics, exactly.

    >>> percentile([1, 2, 3, 4], 0.5), percentile([1, 2, 3, 4], Fraction(1, 3))
    (2.5, 2.0)
    """
    counts = Counter(values)
    items = sorted(counts.items())
    if not items:
        raise InvalidOptionError("percentile of no values")
    q = Fraction(q)
    if not 0 <= q <= 1:
        raise InvalidOptionError(f"q must be between 0 and 1; got {q}")
    return _percentile([v for v, _ in items], list(accumulate(n for _, n in items)), q)


def _percentile(values: list[int], ends: list[int], q: Fraction) -> float:
    """``values`` sorted and distinct, ``ends[k]`` the count of items <= ``values[k]``."""
    position = (ends[-1] - 1) * q
    low = int(position)  # floor: position >= 0

    def nth(k: int) -> int:
        return values[bisect_right(ends, k)]

    fraction = position - low
    low_value = nth(low)
    if fraction == 0:
        return float(low_value)
    return float(low_value + fraction * (nth(low + 1) - low_value))


class WholeCosts(NamedTuple):
    """A conversation trained whole, as one sample: its fixed cost and each message's."""

    fixed: int
    """What the chat format adds once per sample (priming, tool schemas)."""
    messages: list[tuple[str, int]]
    """Each message's role and tokens."""

    @property
    def total(self) -> int:
        """The sample's tokens."""
        return self.fixed + sum(cost for _, cost in self.messages)


def whole_costs(
    conversation: Conversation, counter: TokenCounter, chat_format: ChatFormat
) -> WholeCosts:
    """The costs of ``conversation`` as one sample, read from its :class:`Layout`, the split's
    own accounting, so the report's whole-conversation side is counted as samples are.

    >>> from convsplit import Message
    >>> conv = Conversation(messages=(Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello")))
    >>> from convsplit import get_chat_format, get_counter
    >>> whole_costs(conv, get_counter(), get_chat_format("openai"))
    WholeCosts(fixed=3, messages=[('user', 5), ('assistant', 5)])
    """
    # Laid out keeping reasoning, every message's context form is the message itself, so
    # its context cost is its cost as a trained target: every assistant message is one here.
    layout = Layout(conversation, counter=counter, chat_format=chat_format, keep_reasoning=True)
    roles = [message.role for message in conversation.messages]
    return WholeCosts(layout.fixed, list(zip(roles, layout.context_cost, strict=True)))


def conversation_tokens(
    conversation: Conversation, *, counter: TokenCounter, chat_format: ChatFormat
) -> int:
    """Tokens of the whole conversation as one sample (every assistant message trained).

    >>> from convsplit import Message
    >>> conv = Conversation(messages=(Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello")))
    >>> from convsplit import get_chat_format, get_counter
    >>> conversation_tokens(conv, counter=get_counter(), chat_format=get_chat_format("openai"))
    13
    """
    return whole_costs(conversation, counter, chat_format).total


def message_costs(
    conversation: Conversation, counter: TokenCounter, chat_format: ChatFormat
) -> list[tuple[str, int]]:
    """Each message's role and tokens, in the whole conversation."""
    return whole_costs(conversation, counter, chat_format).messages


@dataclass(frozen=True)
class TokenReport:
    """Tokens per conversation and per sample, per epoch, and the amplification.

    Attributes:
        budget: the ``max_tokens`` the samples were split for.
        conversations: conversations counted.
        samples: samples the split produced.
        conversation_tokens: each conversation as one sample (what training on whole
            conversations would read, before truncation).
        sample_tokens: each split sample.
        tokens_per_epoch: every sample's tokens, summed: what one epoch reads (and what
            OpenAI bills per epoch).
        trained_tokens_per_epoch: the target tokens among them.
        whole_conversation_tokens: every conversation's tokens, each capped at
            ``budget`` (training on whole conversations truncates them to the same context,
            as OpenAI's cookbook counts billed tokens), summed.
        amplification: ``tokens_per_epoch / whole_conversation_tokens`` (None if there
            were no tokens); below 1 where turns too long to train are skipped.
        conversations_over_budget: conversations that do not fit ``budget`` whole.
        targets: assistant messages some sample trains.
        skipped: assistant messages no sample trains, by reason.
        history_kept: the share of the history before its target each sample kept (see
            :attr:`Sample.history_kept`), in thousandths, as a distribution.
        role_tokens: tokens per message, by role.
    """

    budget: int
    conversations: int
    samples: int
    conversation_tokens: Distribution
    sample_tokens: Distribution
    tokens_per_epoch: int
    trained_tokens_per_epoch: int
    whole_conversation_tokens: int
    amplification: float | None
    conversations_over_budget: int
    targets: int
    skipped: dict[str, int] = field(default_factory=dict)
    history_kept: Distribution = field(default_factory=lambda: Distribution.of([]))
    role_tokens: dict[str, Distribution] = field(default_factory=dict)

    def training_tokens(self, *, epochs: int) -> int:
        """Tokens read over ``epochs`` epochs."""
        return self.tokens_per_epoch * epochs

    def cost_per_epoch(self, price_per_million: float) -> float:
        """What one epoch costs at ``price_per_million`` per million training tokens."""
        return self.tokens_per_epoch * price_per_million / 1_000_000

    @property
    def turns(self) -> int:
        """Assistant messages counted: targeted plus skipped."""
        return self.targets + sum(self.skipped.values())


class TokenReportBuilder:
    """Accumulates a :class:`TokenReport` one conversation at a time.

    A pipeline that splits anyway feeds it each conversation with its result, so the
    report costs no second split; memory is a histogram of token counts.

    >>> from convsplit import Message
    >>> conv = Conversation(messages=(Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello"),
    ...                               Message(role="user", content="Bye"),
    ...                               Message(role="assistant", content="Bye!")))
    >>> spec = SplitSpec(Budget(100))
    >>> builder = TokenReportBuilder(spec)
    >>> builder.add(conv, split_conversation(conv, spec))
    >>> report = builder.build()
    >>> report.samples, report.tokens_per_epoch, report.whole_conversation_tokens
    (2, 37, 24)
    >>> round(report.amplification, 3)
    1.542
    """

    def __init__(self, spec: SplitSpec) -> None:
        self.spec = spec
        self.budget = spec.budget
        self.counter = spec.tokenizer
        self.chat_format = spec.chat_format
        self._conversation_tokens: Counter[int] = Counter()
        self._sample_tokens: Counter[int] = Counter()
        self._trained = 0
        self._targets = 0
        self._skipped: Counter[str] = Counter()
        self._history_kept: Counter[int] = Counter()
        self._roles: dict[str, Counter[int]] = {}

    def add(
        self,
        conversation: Conversation,
        result: SplitResult,
        *,
        whole: WholeCosts | None = None,
    ) -> None:
        """Count one conversation and the result of splitting it.

        ``whole``: the conversation's :func:`whole_costs`, when the caller has them
        already (several budgets over one conversation need them only once).
        """
        if whole is None:
            written = as_written(conversation, self.spec)
            whole = whole_costs(written, self.counter, self.chat_format)
        self._conversation_tokens[whole.total] += 1
        for role, cost in whole.messages:
            self._roles.setdefault(role, Counter())[cost] += 1
        for sample in result.samples:
            self._sample_tokens[sample.total_tokens] += 1
            self._trained += sample.target_tokens
            self._history_kept[round(sample.history_kept * 1000)] += 1
        for outcome in result.outcomes:
            if outcome.reason is None:
                self._targets += 1
            else:
                self._skipped[outcome.reason.value] += 1

    def conversation_histogram(self) -> dict[int, int]:
        """``{tokens of a whole conversation: how many}`` of everything added, smallest first."""
        return dict(sorted(self._conversation_tokens.items()))

    def build(self) -> TokenReport:
        """The report of everything added so far."""
        conversations = Distribution.from_counts(self._conversation_tokens)
        samples = Distribution.from_counts(self._sample_tokens)
        cap = self.budget.max_tokens
        over = sum(n for v, n in self._conversation_tokens.items() if v > cap)
        whole = sum(min(v, cap) * n for v, n in self._conversation_tokens.items())
        return TokenReport(
            budget=self.budget.max_tokens,
            conversations=conversations.count,
            samples=samples.count,
            conversation_tokens=conversations,
            sample_tokens=samples,
            tokens_per_epoch=samples.total,
            trained_tokens_per_epoch=self._trained,
            whole_conversation_tokens=whole,
            amplification=samples.total / whole if whole else None,
            conversations_over_budget=over,
            targets=self._targets,
            skipped=dict(sorted(self._skipped.items())),
            history_kept=Distribution.from_counts(self._history_kept),
            role_tokens={r: Distribution.from_counts(c) for r, c in sorted(self._roles.items())},
        )


def token_report(conversations: Iterable[Conversation], spec: SplitSpec) -> TokenReport:
    """Split every conversation with ``spec`` and report the tokens.

    >>> from convsplit import Message
    >>> conv = Conversation(messages=(Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello")))
    >>> report = token_report([conv, conv], SplitSpec(Budget(100)))
    >>> report.conversations, report.samples, report.sample_tokens.median, report.amplification
    (2, 2, 13.0, 1.0)
    """
    (report,) = token_reports(conversations, spec)
    return report


def token_reports(
    conversations: Iterable[Conversation],
    spec: SplitSpec,
    *,
    budgets: Sequence[Budget] | None = None,
) -> list[TokenReport]:
    """One :class:`TokenReport` per budget (``spec.budget`` alone by default), reading the
    conversations once.

    What a split at each ``max_tokens`` would produce, side by side: the question a user
    choosing a context window asks.

    >>> from convsplit import Message
    >>> conv = Conversation(messages=(Message(role="user", content="Hi " * 40),
    ...                               Message(role="assistant", content="Hello"),
    ...                               Message(role="user", content="Bye"),
    ...                               Message(role="assistant", content="Bye!")))
    >>> [r.samples for r in token_reports([conv], SplitSpec(), budgets=[Budget(30), Budget(100)])]
    [1, 2]
    """
    reports = BudgetReports(spec, [spec.budget] if budgets is None else budgets)
    for index, conversation in enumerate(conversations):
        reports.add(conversation, index)
    return reports.build()


class BudgetReports:
    """Token reports at several budgets, fed one conversation at a time: each conversation
    is split once per budget, its messages counted once for all of them."""

    def __init__(self, spec: SplitSpec, budgets: Sequence[Budget]) -> None:
        self.spec, self.counter, self.chat_format = spec, spec.tokenizer, spec.chat_format
        self._specs = [spec.with_budget(b) for b in budgets]
        self._builders = [TokenReportBuilder(s) for s in self._specs]

    def add(self, conversation: Conversation, index: int) -> None:
        """Account for the ``index``-th conversation."""
        # The whole conversation as it would be written: comparable with the samples.
        written = as_written(conversation, self.spec)
        whole = whole_costs(written, self.counter, self.chat_format)
        for builder, spec in zip(self._builders, self._specs, strict=True):
            builder.add(
                conversation, split_conversation(conversation, spec, index=index), whole=whole
            )

    def add_results(
        self, conversation: Conversation, whole: WholeCosts, split: Callable[[Budget], SplitResult]
    ) -> None:
        """Account for a record read another way (a preference record): ``conversation``
        and ``whole`` stand for it whole, ``split`` gives its result at a budget."""
        for builder, spec in zip(self._builders, self._specs, strict=True):
            builder.add(conversation, split(spec.budget), whole=whole)

    def conversation_histogram(self) -> dict[int, int]:
        """``{tokens of a whole conversation: how many}``, smallest first (every budget's
        reports share it)."""
        return self._builders[0].conversation_histogram() if self._builders else {}

    def build(self) -> list[TokenReport]:
        """One report per budget, in the order given."""
        return [builder.build() for builder in self._builders]
