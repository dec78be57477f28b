"""Coverage-guided fuzzing of the readers and the splitter with atheris.

Any bytes in: read every record, split every conversation. Only convsplit's own errors
may come out; anything else is a crash that atheris reports with its input.

    python fuzz/fuzz_read_split.py -max_total_time=60
"""

from __future__ import annotations

import io
import sys

import atheris

from convsplit import SplitSpec

with atheris.instrument_imports():
    from convsplit import Budget, Chunks, ConvsplitError, MiddleOut, split_conversation
    from convsplit.formats import Record, read_records

BUDGETS = (Budget(16), Budget(64), Budget(400, reserve_target=8))


def test_one_input(data: bytes) -> None:
    """Read ``data`` as JSONL and as a sniffed file; split each conversation three ways."""
    for name in ("fuzz.jsonl", "fuzz.json"):
        try:
            records = list(read_records(io.BytesIO(data), name=name))
        except ConvsplitError:
            continue
        split_each(records)


def split_each(records: list[Record]) -> None:
    """Split each conversation read three ways; a record is either read or rejected."""
    for k, record in enumerate(records):
        if record.conversation is None:
            if record.error is None:
                raise AssertionError("a record that is neither read nor rejected")
            continue
        budget = BUDGETS[k % len(BUDGETS)]
        split_conversation(record.conversation, SplitSpec(budget=budget))
        split_conversation(
            record.conversation, SplitSpec(budget=budget, window=Chunks(carry_tokens=8))
        )
        split_conversation(record.conversation, SplitSpec(budget=budget, truncation=MiddleOut()))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
