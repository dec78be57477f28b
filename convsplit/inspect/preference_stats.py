"""Token reports of preference data: ``stats --to preference`` (or ``kto``) counts each
record as ``split`` writes it, its prompt with the longer answer as the sample, so the
figures are the run's own (one trained turn per pair, skipped with its reason).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from convsplit.budget import Budget
from convsplit.core.preference import (
    PreparedJudged,
    preference_output,
    prepare_judged,
    with_answer,
)
from convsplit.core.split import as_written
from convsplit.errors import InvalidConversationError
from convsplit.formats import Record, parse_json
from convsplit.formats.preference import PreferenceKind, PreferenceRecord, UnpairedRecord
from convsplit.inspect.stats import BudgetReports, TokenReport, WholeCosts, whole_costs
from convsplit.messages import Conversation
from convsplit.spec import SplitSpec


def record_reports(
    records: Iterable[Record],
    spec: SplitSpec,
    *,
    budgets: Sequence[Budget] | None = None,
    on_reject: Callable[[Record, InvalidConversationError | None], object] | None = None,
) -> tuple[list[TokenReport], int]:
    """:func:`token_reports` of the records read, and how many records were rejected:
    for a preference output (``kto`` too) each record is read as preference data, as
    ``split`` reads it, and counted as its pair (the prompt with the longer answer).
    ``on_reject`` is given each rejected record with the error ``split`` rejects it with.

    >>> import io
    >>> from convsplit.formats import read_records
    >>> data = io.BytesIO(b'{"prompt": "2+2?", "chosen": "4", "rejected": "five"}\\n'
    ...                   b'{"prompt": "Hi"}\\n')
    >>> records = read_records(data, name="d.jsonl")
    >>> reports, rejected = record_reports(records, SplitSpec(output_format="preference"))
    >>> reports[0].conversations, reports[0].targets, rejected
    (1, 1, 1)
    """
    reports = BudgetReports(spec, [spec.budget] if budgets is None else budgets)
    kind = preference_output(spec)
    rejected = counted = 0
    for record in records:
        judged = record.error if kind is None else _judged(record, spec, kind, counted)
        if kind is None and record.conversation is not None:
            reports.add(record.conversation, counted)
        elif isinstance(judged, PreparedJudged):
            whole_conversation, whole = judged_whole(judged.record, spec)
            reports.add_results(whole_conversation, whole, judged.split)
        else:
            rejected += 1
            if on_reject is not None:
                on_reject(record, judged)
            continue
        counted += 1
    return reports.build(), rejected


def _judged(
    record: Record, spec: SplitSpec, kind: PreferenceKind, index: int
) -> PreparedJudged | InvalidConversationError | None:
    """``record`` read as preference data of ``kind``, or where ``split`` rejects it the
    error it rejects it with (None: not JSON convsplit reads, without the reader's error)."""
    try:
        return prepare_judged(parse_json(record.raw), spec, kind=kind, index=index)
    except InvalidConversationError as error:
        return error
    except ValueError:  # orjson's: not JSON, which the reader found too
        return record.error


def judged_whole(
    record: PreferenceRecord | UnpairedRecord, spec: SplitSpec
) -> tuple[Conversation, WholeCosts]:
    """A preference record's prompt with its longer answer (the chosen one where they
    cost the same, as the split takes it), and its costs as one sample, unwindowed.

    >>> from convsplit import Message
    >>> prompt = Conversation(messages=(Message(role="user", content="2+2?"),))
    >>> pair = PreferenceRecord(prompt=prompt, chosen=Message(role="assistant", content="4"),
    ...                         rejected=Message(role="assistant", content="It is five."))
    >>> conversation, whole = judged_whole(pair, SplitSpec())
    >>> conversation.messages[-1].content, whole.total
    ('It is five.', 19)
    """
    answers = (
        (record.completion,)
        if isinstance(record, UnpairedRecord)
        else (record.chosen, record.rejected)
    )
    costed = [
        (
            conversation,
            whole_costs(as_written(conversation, spec), spec.tokenizer, spec.chat_format),
        )
        for conversation in (with_answer(record.prompt, answer) for answer in answers)
    ]
    return max(costed, key=lambda item: item[1].total)  # the first (chosen) of equals
