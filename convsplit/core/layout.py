"""A conversation laid out for splitting: where windows may start, what each message costs.

Everything here is computed once per conversation, so choosing the window of every target
costs integer arithmetic and a binary search, never a re-tokenization.

Words (see DESIGN.md): *instruction* messages (system/developer) are pinned: every sample
keeps those that come before its last target. The other messages are *plain*. A window
*starts* at a user message, and only where no tool result after that point answers a call
made before it, so a window never begins with an assistant reply or an orphaned tool
result. The span from one start to the next is a *unit*, the smallest thing a window drops.

A selection of plain messages is a tuple of *blocks*, half-open index ranges; a sample is
the pinned instructions before its end plus those blocks. Its cost is::

    fixed + S[end] + sum(P[b] - P[a] for each block) + adjustments

with ``S``/``P`` prefix sums of instruction/plain context costs. Adjustments cover a block
start whose neighbour differs from the input's (llama2 folds a system prompt into the next
message) and targets, which cost more than their context form when they keep reasoning.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence

from convsplit.messages import INSTRUCTION_ROLES, Conversation, Message
from convsplit.tokens.chat_formats import ChatFormat
from convsplit.tokens.counters import TokenCounter

Block = tuple[int, int]


class Layout:
    """Costs and window starts of one conversation, for one counter and chat format."""

    def __init__(
        self,
        conversation: Conversation,
        *,
        counter: TokenCounter,
        chat_format: ChatFormat,
        keep_reasoning: bool = False,
    ) -> None:
        check = getattr(chat_format, "check_conversation", None)
        if check is not None:  # a template that is exact only for some conversations
            check(conversation)
        self.conversation = conversation
        self.counter = counter
        self.chat_format = chat_format
        messages = self.messages = conversation.messages
        n = len(messages)
        instruction = self.instruction = [m.role in INSTRUCTION_ROLES for m in messages]
        self.context_forms: tuple[Message, ...] = (
            messages
            if keep_reasoning
            else tuple(m.without_reasoning() if m.role == "assistant" else m for m in messages)
        )
        self._after = [i > 0 and instruction[i - 1] for i in range(n)]
        self._position_dependent: bool = getattr(chat_format, "position_dependent", True)
        cost = chat_format.message_cost
        self.context_cost = [
            cost(m, counter, after_instruction=a)
            for m, a in zip(self.context_forms, self._after, strict=True)
        ]
        later = getattr(chat_format, "later_instruction_cost", None)
        if later is not None and n and instruction[0]:
            # The first message is pinned in every sample, so an instruction after a plain
            # message never opens one: a template that renders an opening one otherwise
            # (Llama 3.x, Qwen 2.5) gives its cost there.
            for i in range(1, n):
                if instruction[i] and not instruction[i - 1]:
                    self.context_cost[i] = later(self.context_forms[i], counter)
        self.fixed = chat_format.sample_cost(conversation.tools, counter)

        plain_prefix = [0] * (n + 1)
        instruction_prefix = [0] * (n + 1)
        plain_count = [0] * (n + 1)
        last_instruction = [-1] * (n + 1)
        last_plain = [-1] * (n + 1)
        for i, c in enumerate(self.context_cost):
            ins = instruction[i]
            plain_prefix[i + 1] = plain_prefix[i] + (0 if ins else c)
            instruction_prefix[i + 1] = instruction_prefix[i] + (c if ins else 0)
            plain_count[i + 1] = plain_count[i] + (0 if ins else 1)
            last_instruction[i + 1] = i if ins else last_instruction[i]
            last_plain[i + 1] = last_plain[i] if ins else i
        self._plain_prefix = plain_prefix
        self._instruction_prefix = instruction_prefix
        self._plain_count = plain_count
        self._last_instruction = last_instruction
        self._last_plain = last_plain
        self.instruction_indices = [i for i in range(n) if instruction[i]]
        self.first_user = next((i for i, m in enumerate(messages) if m.role == "user"), None)
        self.starts = self._window_starts()
        self._start_prefix = [plain_prefix[s] for s in self.starts]
        self._target_cost: dict[int, int] = {}
        self._context_tokens: dict[int, list[int]] = {}
        self.cuts: dict[tuple[int, int], Message] = {}
        """Cut forms of context messages by (index, tokens kept), made once per conversation:
        every target whose history cuts a message searches the same cuts first."""
        self._variant_cost: dict[int, int] = {}
        # Instructions that cost differently once the plain message before them is dropped
        # and another instruction becomes their neighbour (only llama2 has any).
        self._fragile = [
            i
            for i in self.instruction_indices
            if i > 0 and not instruction[i - 1] and self._flipped_cost(i) != self.context_cost[i]
        ]

    # -- structure -------------------------------------------------------------------------

    def _window_starts(self) -> list[int]:
        """User messages where a window may begin without splitting a call from its result."""
        if self.first_user is None:
            return []
        messages = self.messages
        open_until = [0] * (len(messages) + 1)
        call_owner: dict[str, int] = {}
        last_caller: int | None = None
        for i, message in enumerate(messages):
            if message.role == "assistant" and message.tool_calls:
                last_caller = i
                for call in message.tool_calls:
                    if call.id is not None:
                        call_owner[call.id] = i
            elif message.role == "tool":
                caller = call_owner.get(message.tool_call_id or "", last_caller)
                # A call before the first user message is never in any sample anyway.
                if caller is not None and self.first_user <= caller < i:
                    open_until[caller + 1] += 1
                    open_until[i + 1] -= 1
        starts: list[int] = []
        depth = 0
        for i, message in enumerate(messages):
            depth += open_until[i]
            if message.role == "user" and depth == 0:
                starts.append(i)
        return starts

    def unit_start(self, index: int) -> int | None:
        """The start of the unit holding message ``index``; None before the first user."""
        k = bisect_right(self.starts, index) - 1
        return self.starts[k] if k >= 0 else None

    def start_position(self, start: int) -> int:
        """Position of ``start`` in :attr:`starts`."""
        return bisect_left(self.starts, start)

    def unit_end(self, position: int) -> int:
        """End (exclusive) of the unit at ``starts[position]``."""
        k = position + 1
        return self.starts[k] if k < len(self.starts) else len(self.messages)

    # -- costs -----------------------------------------------------------------------------

    def needs(self, target: int, *, reserve: int = 0) -> dict[str, int]:
        """What message ``target`` costs as a target with no history, part by part, largest
        first: ``tool schemas``, ``pinned`` messages, the ``target`` (at least
        ``reserve``) and the ``rest of its turn`` with the sample's own framing. The parts
        add up to :meth:`cost` of the smallest sample that trains it, so a target too long
        can say what did not fit."""
        start = self.unit_start(target)
        total = self.cost(((target if start is None else start, target + 1),), (target,),
                          reserve=reserve)  # fmt: skip
        tools = self.fixed - self.chat_format.sample_cost(None, self.counter)
        pinned = sum(self.context_cost[i] for i in self.instruction_indices if i <= target)
        alone = max(self.target_cost(target), reserve)
        parts = {
            "tool schemas": tools,
            "pinned": pinned,
            "target": alone,
            "rest of its turn": total - tools - pinned - alone,
        }
        return {name: n for name, n in sorted(parts.items(), key=lambda p: -p[1]) if n}

    def target_cost(self, index: int) -> int:
        """Cost of message ``index`` as a trained target (with its reasoning)."""
        cost = self._target_cost.get(index)
        if cost is None:
            message = self.messages[index]
            if message is self.context_forms[index]:
                cost = self.context_cost[index]
            else:
                cost = self.message_cost(message, after_instruction=self._after[index])
            self._target_cost[index] = cost
        return cost

    def context_tokens(self, index: int) -> list[int]:
        """The tokens of message ``index``'s text as context, encoded once per conversation
        (every target whose history cuts it asks again)."""
        tokens = self._context_tokens.get(index)
        if tokens is None:
            tokens = self._context_tokens[index] = self.counter.encode(
                self.context_forms[index].text
            )
        return tokens

    def message_cost(self, message: Message, *, after_instruction: bool) -> int:
        """Cost of any message under this layout's counter and chat format."""
        return self.chat_format.message_cost(
            message, self.counter, after_instruction=after_instruction
        )

    def follows_instruction(self, start: int, previous_plain: int) -> bool:
        """In a sample, whether block start ``start`` comes right after a pinned message."""
        return self._last_instruction[start] > previous_plain

    def start_cost(self, start: int, previous_plain: int) -> int:
        """Context cost of a block start, given the last plain message kept before it."""
        if self.follows_instruction(start, previous_plain) == self._after[start]:
            return self.context_cost[start]
        return self._flipped_cost(start)

    def _flipped_cost(self, index: int) -> int:
        """Context cost of message ``index`` with the other kind of neighbour than in the input."""
        if not self._position_dependent:
            return self.context_cost[index]
        cost = self._variant_cost.get(index)
        if cost is None:
            cost = self.message_cost(
                self.context_forms[index], after_instruction=not self._after[index]
            )
            self._variant_cost[index] = cost
        return cost

    def cost(
        self,
        blocks: Sequence[Block],
        targets: Sequence[int],
        *,
        reserve: int = 0,
        replacements: Mapping[int, Message] | None = None,
    ) -> int:
        """Exact token count of the sample made of ``blocks`` (plus pinned instructions).

        ``targets`` must lie inside the blocks; each counts at least ``reserve`` tokens.
        ``replacements`` swaps messages (truncated ones) for others at the same index.
        """
        plain_prefix = self._plain_prefix
        end = blocks[-1][1]
        total = self.fixed + self._instruction_prefix[end]
        if not (self._position_dependent or replacements):  # the common case, in brief
            for a, b in blocks:
                total += plain_prefix[b] - plain_prefix[a]
            context_cost, target_cost = self.context_cost, self.target_cost
            for t in targets:
                total += max(target_cost(t), reserve) - context_cost[t]
            return total
        previous = -1
        gap_start = 0
        block_starts: dict[int, tuple[bool, int]] = {}
        for a, b in blocks:
            if self._fragile:
                total += self._gap_adjustment(gap_start, a, previous)
            gap_start = b
            start_cost = self.start_cost(a, previous)
            total += plain_prefix[b] - plain_prefix[a] - self.context_cost[a] + start_cost
            if replacements:
                block_starts[a] = (self.follows_instruction(a, previous), start_cost)
            previous = self._last_plain[b]
        for t in targets:
            replaced = replacements.get(t) if replacements else None
            cost = self.target_cost(t) if replaced is None else self.replacement_cost(t, replaced)
            total += max(cost, reserve) - self.context_cost[t]
        if replacements:
            target_set = set(targets)
            for i, message in replacements.items():
                if i not in target_set:
                    after, old = block_starts.get(i, (self._after[i], self.context_cost[i]))
                    total += self.message_cost(message, after_instruction=after) - old
        return total

    def _gap_adjustment(self, gap_start: int, gap_end: int, previous_plain: int) -> int:
        """Cost change of pinned instructions in a gap whose plain neighbour was dropped."""
        fragile = self._fragile
        adjustment = 0
        k = bisect_left(fragile, gap_start)
        while k < len(fragile) and fragile[k] < gap_end:
            i = fragile[k]
            if i - 1 >= gap_start and self._last_instruction[i] > previous_plain:
                adjustment += self._flipped_cost(i) - self.context_cost[i]
            k += 1
        return adjustment

    def replacement_cost(self, index: int, message: Message) -> int:
        """Cost of ``message`` standing at ``index`` with the input's neighbour."""
        return self.message_cost(message, after_instruction=self._after[index])

    def plain_tokens(self, start: int, end: int) -> int:
        """Context tokens of the plain messages in ``[start, end)``."""
        return self._plain_prefix[end] - self._plain_prefix[start]

    def history(self, blocks: Sequence[Block], targets: Sequence[int]) -> tuple[int, int, int]:
        """Plain context before the sample's end: tokens kept, messages and tokens left out.

        Targets are not history; counts are the input's context costs.
        """
        end = blocks[-1][1]
        count, prefix = self._plain_count, self._plain_prefix
        if len(blocks) == 1:  # the common case, without the generators
            ((a, b),) = blocks
            kept_count, kept_tokens = count[b] - count[a], prefix[b] - prefix[a]
        else:
            kept_count = sum(count[b] - count[a] for a, b in blocks)
            kept_tokens = sum(prefix[b] - prefix[a] for a, b in blocks)
        history = kept_tokens - sum(map(self.context_cost.__getitem__, targets))
        return history, count[end] - kept_count, prefix[end] - kept_tokens

    def earliest(
        self, lowest: int, highest: int, fits: Callable[[int], bool], *, guess: int | None = None
    ) -> int:
        """Position in :attr:`starts` of the earliest start in ``[lowest, highest]`` that fits.

        ``starts[highest]`` must fit. Cost falls as the start moves later, except for
        llama2's few-token adjustment at a block start, so a binary search (or a ``guess``
        from :meth:`guess_start`) lands next to the answer and a short walk makes it exact:
        the start just before the result never fits.
        """
        starts = self.starts
        if guess is None:
            lo, hi = lowest, highest
            while lo < hi:
                mid = (lo + hi) // 2
                if fits(starts[mid]):
                    hi = mid
                else:
                    lo = mid + 1
        else:
            lo = min(max(guess, lowest), highest)
            while not fits(starts[lo]):
                lo += 1
        while lo > lowest and fits(starts[lo - 1]):
            lo -= 1
        return lo

    @property
    def exact_guesses(self) -> bool:
        """Whether :meth:`guess_start` is always the answer: messages cost the same
        whatever their neighbours (every format but llama2)."""
        return not self._position_dependent

    def guess_start(
        self, lowest: int, highest: int, end: int, targets: Sequence[int], *, reserve: int,
        limit: int,
    ) -> int:  # fmt: skip
        """Where the earliest fitting start lies if block starts cost what they do in the input.

        One cost evaluation and a binary search over the prefix sums at the starts: exact for
        every format but llama2, and off by a unit at most there.
        """
        start = self.starts[highest]
        whole = self.cost(((start, end),), targets, reserve=reserve) + self._plain_prefix[start]
        return bisect_left(self._start_prefix, whole - limit, lowest, highest)

    def select(self, blocks: Sequence[Block]) -> tuple[list[int], list[Message]]:
        """The sample's messages in context form, and their input indices, in order: the
        pinned instructions and the blocks."""
        pinned, forms = self.instruction_indices, self.context_forms
        indices: list[int] = []
        messages: list[Message] = []
        position = 0
        for a, b in blocks:
            k = bisect_left(pinned, position)
            stop = bisect_left(pinned, a)
            if k < stop:
                indices.extend(pinned[k:stop])
                messages.extend([forms[i] for i in pinned[k:stop]])
            indices.extend(range(a, b))
            messages.extend(forms[a:b])  # a slice: no step per message
            position = b
        return indices, messages
