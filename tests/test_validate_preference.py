"""``validate``, ``stats`` and ``report`` on preference data, through the real command line:
a record ``split`` refuses as preference data is reported as such, with ``split``'s advice
worded as its flags, and ``stats`` says why it rejected records.

The file is the one a user's first hour met: TRL preference rows (plain text and
conversational), a ShareGPT ranking row, an alpaca ranking row, a pair with no
``rejected``, and one more plain-text row.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convsplit import SplitSpec, validate_records
from convsplit.formats import read_records
from tests.test_cli import run, write_jsonl

PREFERENCE_ROWS: list[object] = [
    {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"},
    {
        "prompt": [{"role": "user", "content": "Hi"}],
        "chosen": [{"role": "assistant", "content": "Hello!"}],
        "rejected": [{"role": "assistant", "content": "Go away."}],
    },
    {
        "conversations": [{"from": "human", "value": "Name a colour."}],
        "chosen": {"from": "gpt", "value": "Blue."},
        "rejected": {"from": "gpt", "value": "Seven."},
    },
    {"instruction": "Translate to French.", "input": "cat", "chosen": "chat", "rejected": "chien"},
    {"prompt": "Capital of France?", "chosen": "Paris"},
    {"prompt": "Say yes.", "chosen": "Yes.", "rejected": "No."},
]

#: What split says of a pair sent to an SFT output, after ``preference_data: ``.
REFUSED = (
    "a preference record (chosen and rejected answers) is not SFT data: the rejected answer "
    "would be lost and the prompt's own answers trained; write it with --to preference"
)
MISSING = "field 'rejected' is missing: a preference record needs both 'chosen' and 'rejected'"


@pytest.fixture
def pref(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "pref.jsonl", PREFERENCE_ROWS)


def test_validate_reports_preference_records_as_split_does(pref: Path) -> None:
    done = run("validate", str(pref))
    assert done.returncode == 3
    assert done.stdout.decode().splitlines() == [
        "error invalid_record: the record does not parse (wrong field type...) (1)",
        f"  {pref}:5: {MISSING}",
        "",
        "error preference_data: preference data (chosen and rejected answers, or a KTO label): "
        "not conversations to train (5)",
        *(f"  {pref}:{n}: {REFUSED}" for n in (1, 2, 3, 4, 6)),
        "",
        "6 errors, 0 warnings, 0 notes",
    ]
    # split's own words for the same records: the same advice, the same flag
    split = run("split", str(pref), "-o", str(pref.with_name("out.jsonl")))
    said = split.stderr.decode().splitlines()
    assert f"  {pref}:1: preference_data: {REFUSED}" in said
    assert f"  {pref}:5: {MISSING}" in said


def test_validate_to_a_preference_output_still_reads_preference_data(pref: Path) -> None:
    done = run("validate", str(pref), "--to", "preference")
    assert (done.returncode, done.stdout.decode().splitlines()) == (
        3,
        [
            "error invalid_record: the record does not parse (wrong field type...) (1)",
            f"  {pref}:5: {MISSING}",
            "",
            "1 error, 0 warnings, 0 notes",
        ],
    )
    pairs = (
        "a preference pair cannot be written as kto (one answer and a label per row); write "
        "it with --to preference (TRL's KTOTrainer reads pairs too)"
    )
    done = run("validate", str(pref), "--to", "kto")
    assert done.stdout.decode().splitlines()[1:7] == [
        *(f"  {pref}:{n}: {pairs}" for n in (1, 2, 3, 4)),
        f"  {pref}:5: {MISSING}",
        f"  {pref}:6: {pairs}",
    ]


def test_the_library_and_the_data_keep_the_library_words(pref: Path) -> None:
    """Only what the command line prints for a person changes: validate_records, --json and
    the rejects file word the remedy as the keyword argument."""
    (first, *_) = validate_records(read_records(pref), SplitSpec())
    assert (first.code, first.message.split("; ")[-1]) == (
        "preference_data",
        "write it with output_format='preference'",
    )
    data = json.loads(run("validate", str(pref), "--json").stdout)
    assert data["findings"][0]["message"].endswith("write it with output_format='preference'")
    assert data["findings"][0]["hints"] == [
        {"option": "output_format", "values": ["preference"], "mapping": False}
    ]
    rejects = pref.with_name("rejects.jsonl")
    run("split", str(pref), "-o", str(pref.with_name("o.jsonl")), "--rejects", str(rejects))
    reason = json.loads(rejects.read_text().splitlines()[0])["reason"]
    assert reason.endswith("write it with output_format='preference'")


def test_stats_says_why_it_rejected_records_by_kind(pref: Path) -> None:
    done = run("stats", str(pref))
    assert (done.returncode, done.stdout.decode().splitlines()) == (
        3,
        [
            "conversations: 0 (6 records rejected)",
            "  5 are preference data: split them with --to preference",
            f"  1 cannot be read: {pref} line 5: {MISSING}",
            "no conversations to count: nothing would be split",
        ],
    )


def test_stats_names_kto_data_and_says_one_record(tmp_path: Path) -> None:
    chat = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
        ]
    }
    kto = {"prompt": "2+2?", "completion": "5", "label": False}
    source = write_jsonl(tmp_path / "mixed.jsonl", [chat, kto])
    lines = run("stats", str(source)).stdout.decode().splitlines()
    assert lines[:3] == [
        "conversations: 1 (1 record rejected)",
        "  1 is KTO data (judged answers): split it with --to kto",
        "tokens per conversation: min 13, p5 13, median 13, p95 13, max 13",
    ]


def test_stats_of_preference_data_says_why_a_pair_was_rejected(pref: Path) -> None:
    lines = run("stats", str(pref), "--to", "preference").stdout.decode().splitlines()
    assert lines[:2] == [
        "pairs: 5 (1 record rejected)",
        f"  1 cannot be read: {pref} line 5: {MISSING}",
    ]


def test_split_warns_of_one_record_rejected_in_the_singular(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "one.jsonl", [PREFERENCE_ROWS[0]])
    done = run("split", str(source), "-o", str(tmp_path / "o.jsonl"))
    assert "warning: 1 record rejected (use --rejects FILE to keep them):" in (
        done.stderr.decode().splitlines()
    )
