"""Preference data through a whole run: every pair accounted for in the report and the
rejects, preference records refused by SFT outputs (never trained silently), and the
command line's usage error and messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convsplit import Budget, SplitSpec, split_files
from convsplit.formats import read_records
from tests.reference import count_row
from tests.test_cli import run, write_jsonl

HUMAN = {"from": "human", "value": "What is the capital of France?"}


def dpo(k: int, earlier: int) -> dict[str, Any]:
    """dpo_en_demo's shape: a prompt (with ``earlier`` answered turns) and two answers."""
    turns: list[dict[str, str]] = []
    for t in range(earlier):
        turns += [{"from": "human", "value": f"Question {k}.{t} " + "more " * 20},
                  {"from": "gpt", "value": f"Answer {k}.{t} " + "sure " * 20}]  # fmt: skip
    return {
        "conversations": [*turns, HUMAN],
        "chosen": {"from": "gpt", "value": f"Paris ({k})."},
        "rejected": {"from": "gpt", "value": "Lyon, " + "I think " * (5 * k)},
    }


RECORDS: list[Any] = [
    dpo(0, 0),
    dpo(1, 3),
    {"conversations": [HUMAN]},  # a prompt alone: rejected with its reason, not lost
    dpo(2, 1),
    {"conversations": [HUMAN], "chosen": {"from": "gpt", "value": "Paris."}},  # no rejected
    dpo(40, 0),  # its rejected answer alone is over the budget: skipped, counted
    "not a record",
]


def test_every_pair_is_accounted_for(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "dpo.jsonl", RECORDS)
    out, rejects = tmp_path / "pairs.jsonl", tmp_path / "rejects.jsonl"
    spec = SplitSpec(Budget(150), output_format="preference")
    report = split_files([source], out, spec, rejects=rejects)
    assert (report.records, report.conversations, report.rejected) == (7, 4, 3)
    assert (report.assistant_turns, report.targeted) == (4, 3)
    assert report.skipped == {"target_too_long": 1}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["chosen"][0]["content"] for row in rows] == [
        "Paris (0).",
        "Paris (1).",
        "Paris (2).",
    ]
    assert all(row["prompt"][-1]["content"] == HUMAN["value"] for row in rows)
    assert report.samples == len(rows)
    reasons = {r["line"]: r["reason"] for r in map(json.loads, rejects.read_text().splitlines())}
    assert reasons == {
        3: "not preference data: no 'chosen' and 'rejected' answers and no KTO label (keys "
        "'conversations'); a prompt alone has nothing to compare",
        5: "field 'rejected' is missing: a preference record needs both 'chosen' and 'rejected'",
        7: "expected a JSON object (a preference record); got a string",
    }


def test_sft_outputs_reject_preference_records_with_their_reason(tmp_path: Path) -> None:
    """The issue's dpo_en_demo run said "300 of 300 records (0 rejected)" while dropping
    every answer; a KTO ``label: false`` answer became an SFT target."""
    kto = {"messages": [{"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Go away."}], "label": False}  # fmt: skip
    source = write_jsonl(tmp_path / "mixed.jsonl", [dpo(0, 1), kto])
    for output in ("openai", "trl", "sharegpt"):
        rejects = tmp_path / f"rejects-{output}.jsonl"
        spec = SplitSpec(Budget(500), output_format=output, input_format="sharegpt")
        report = split_files([source], tmp_path / f"{output}.jsonl", spec, rejects=rejects)
        assert (report.records, report.rejected, report.samples) == (2, 2, 0)
        reasons = [json.loads(line)["reason"] for line in rejects.read_text().splitlines()]
        assert [r.split(":")[0] for r in reasons] == ["preference_data"] * 2
        assert reasons[1].endswith("write it with output_format='kto'")
    records = list(read_records(source))  # what validate, stats and show read
    assert [
        r.error is not None and r.error.reason.startswith("preference_data") for r in records
    ] == [
        True,
        True,
    ]


def test_kto_records_keep_their_label(tmp_path: Path) -> None:
    records = [
        {"prompt": [{"role": "user", "content": "Hi"}],
         "completion": [{"role": "assistant", "content": "Hello!"}], "label": True},
        {"messages": [{"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Go away."}], "label": False},
        {"conversations": [HUMAN, {"from": "gpt", "value": "Paris."}], "kto_tag": True},
    ]  # fmt: skip
    source = write_jsonl(tmp_path / "kto.jsonl", records)
    out = tmp_path / "kto-out.jsonl"
    report = split_files([source], out, SplitSpec(Budget(200), output_format="kto"))
    assert (report.records, report.rejected, report.samples) == (3, 0, 3)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["label"] for row in rows] == [True, False, True]
    assert [row["completion"][0]["content"] for row in rows] == ["Hello!", "Go away.", "Paris."]


def test_the_command_line_refuses_preference_input_for_sft_at_the_start(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "dpo.jsonl", [dpo(0, 0)])
    proc = run("split", str(source), "-o", str(tmp_path / "o.jsonl"), "--from", "preference")
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines()[0] == (
        "error: --from preference reads preference data, which the SFT output format 'openai' "
        "would train as if it were conversations; write it with --to preference or kto"
    )
    assert not (tmp_path / "o.jsonl").exists()


def test_the_command_line_writes_pairs_and_names_the_output_in_rejects(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "dpo.jsonl", [dpo(0, 2), {"conversations": [HUMAN]}])
    out = tmp_path / "pairs.jsonl"
    proc = run("split", str(source), "-o", str(out), "--to", "preference", "--max-tokens", "300")
    assert proc.returncode == 3
    assert len(out.read_text().splitlines()) == 1
    sft = run("split", str(source), "-o", str(tmp_path / "sft.jsonl"))
    assert sft.returncode == 3
    assert (
        "preference_data: a preference record (chosen and rejected answers) is not SFT data: the "
        "rejected answer would be lost and the prompt's own answers trained; write it with "
        "--to preference"
    ) in sft.stderr.decode()


def test_hugging_face_datasets_split_pairs_as_the_command_line_writes_them(
    tmp_path: Path,
) -> None:
    datasets = pytest.importorskip("datasets")
    from convsplit.integrations import split_dataset

    kto = [
        {"messages": [{"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Go away."}], "label": False},
        {"messages": [{"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello!"}], "label": True},
    ]  # fmt: skip
    for output, rows in (("preference", [dpo(0, 2), dpo(1, 0), dpo(40, 0)]), ("kto", kto)):
        source = write_jsonl(tmp_path / f"{output}-in.jsonl", rows)
        spec = SplitSpec(Budget(300), output_format=output)
        out = tmp_path / f"{output}.jsonl"
        report = split_files([source], out, spec)
        split = split_dataset(datasets.Dataset.from_list(rows), spec)
        expected = [json.loads(line) for line in out.read_text().splitlines()]
        got = [{k: v for k, v in row.items() if v is not None} for row in split.samples]
        assert got == expected
        assert split.report.summary() == report.summary()


def test_named_fields_read_preference_data_under_other_keys(tmp_path: Path) -> None:
    records = [{"question": "2+2?", "good": "4", "bad": "5", "source": "quiz"}]
    source = write_jsonl(tmp_path / "named.jsonl", records)
    out = tmp_path / "pairs.jsonl"
    names = {"prompt": "question", "chosen": "good", "rejected": "bad"}
    spec = SplitSpec(Budget(100), output_format="preference", fields=names)
    report = split_files([source], out, spec)
    assert (report.records, report.rejected) == (1, 0)
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert [
        row["prompt"][0]["content"],
        row["chosen"][0]["content"],
        row["rejected"][0]["content"],
    ] == [
        "2+2?",
        "4",
        "5",
    ]
    # Read for SFT, the same names make it preference data, refused.
    sft = split_files([source], tmp_path / "sft.jsonl", SplitSpec(fields=names))
    assert (sft.rejected, sft.first_rejects[0].reason.split(":")[0]) == (1, "preference_data")


def test_validate_checks_preference_data_as_the_preference_output_reads_it(tmp_path: Path) -> None:
    from convsplit import validate_records

    source = write_jsonl(tmp_path / "dpo.jsonl", RECORDS)
    spec = SplitSpec(Budget(150), output_format="preference")
    found = [
        (f.lineno, f.code, f.severity.value, f.message)
        for f in validate_records(read_records(source), spec, check_tokens=True)
    ]
    assert found == [
        (3, "invalid_record", "error", "not preference data: no 'chosen' and 'rejected' answers "
         "and no KTO label (keys 'conversations'); a prompt alone has nothing to compare"),
        (5, "invalid_record", "error", "field 'rejected' is missing: a preference record needs "
         "both 'chosen' and 'rejected'"),
        (6, "target_too_long", "warning", "the answer is never written: target_too_long "
         "(max_tokens 150)"),
        (7, "invalid_record", "error", "expected a JSON object (a preference record); got a "
         "string"),
    ]  # fmt: skip
    # For an SFT output, every preference record is an error naming the output to use.
    sft = [f for f in validate_records(read_records(source), SplitSpec()) if f.lineno == 1]
    assert [(f.code, f.message.split(";")[-1]) for f in sft] == [
        ("preference_data", " write it with output_format='preference'")
    ]
    proc = run("validate", str(source), "--to", "preference", "--max-tokens", "150")
    assert proc.returncode == 3
    assert "dpo.jsonl:6: the answer is never written: target_too_long" in proc.stdout.decode()


def _count(prompt: list[Any], answer: list[Any]) -> int:
    """Tokens of a prompt with one answer, rebuilt from the written row and counted by
    tiktoken on the rendering (tests/reference.py), not by convsplit."""
    row = {"prompt": prompt, "completion": answer}
    return count_row(row, "trl", encoding_name="o200k_base", format_name="openai")


def test_stats_counts_the_pairs_split_writes(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "dpo.jsonl", RECORDS)
    out = tmp_path / "pairs.jsonl"
    flags = ["--to", "preference", "--max-tokens", "150"]
    split = run("split", str(source), "-o", str(out), *flags)
    assert split.returncode == 3
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    longer = [
        max(_count(r["prompt"], r["chosen"]), _count(r["prompt"], r["rejected"])) for r in rows
    ]
    assert split.stderr.decode().startswith(
        "pairs: 4 of 7 records (3 rejected)\n"
        "pairs written: 3 (1 skipped: 1 target_too_long)\n"
        f"tokens: {sum(longer)} (each prompt with the longer answer), "
    )
    done = run("stats", str(source), *flags, "--json")
    assert done.returncode == 3, done.stderr
    data = json.loads(done.stdout)
    (report,) = data["reports"]
    assert (data["conversations"], data["rejected"]) == (4, 3)
    assert (report["samples"], report["targets"], report["skipped"]) == (
        3,
        3,
        {"target_too_long": 1},
    )
    assert report["tokens_per_epoch"] == sum(longer)
    text = run("stats", str(source), *flags).stdout.decode()
    assert text.startswith(
        "pairs: 4 (3 records rejected)\n"
        f"  3 cannot be read; the first: {source} line 3: not preference data: no 'chosen' and "
        "'rejected' answers and no KTO label (keys 'conversations'); a prompt alone has nothing "
        "to compare\ntokens per pair (prompt + longer answer): min "
    )
    assert "pairs skipped" in text and "at 150: skipped 1 target_too_long" in text


def test_stats_counts_kto_records_as_judged_answers(tmp_path: Path) -> None:
    said = [{"role": "user", "content": "2+2?"}]
    records = [{"prompt": said, "completion": [{"role": "assistant", "content": a}], "label": ok}
               for a, ok in (("4", True), ("5", False))]  # fmt: skip
    source = write_jsonl(tmp_path / "kto.jsonl", [*records, RECORDS[0]])
    done = run("stats", str(source), "--to", "kto", "--json")
    data = json.loads(done.stdout)
    assert (data["conversations"], data["rejected"]) == (2, 1)  # a pair is not KTO data
    expected = [_count(r["prompt"], r["completion"]) for r in records]
    assert data["reports"][0]["tokens_per_epoch"] == sum(expected)
    split = run("split", str(source), "-o", str(tmp_path / "out.jsonl"), "--to", "kto")
    assert split.stderr.decode().startswith(
        "judged answers: 2 of 3 records (1 rejected)\njudged answers written: 2 (0 skipped)\n"
        f"tokens: {sum(expected)} (each prompt with its answer), "
    )
    text = run("stats", str(source), "--to", "kto").stdout.decode()
    assert text.startswith(
        "judged answers: 2 (1 record rejected)\n"
        f"  1 cannot be read: {source} line 3: a preference pair cannot be written as kto (one "
        "answer and a label per row); write it with --to preference (TRL's KTOTrainer reads "
        "pairs too)\ntokens per judged answer "
    )


def test_show_shows_a_pair_as_split_writes_it(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "dpo.jsonl", RECORDS)
    out = tmp_path / "pairs.jsonl"
    flags = ["--to", "preference", "--max-tokens", "150"]
    run("split", str(source), "-o", str(out), *flags)
    row = json.loads(out.read_text().splitlines()[1])  # record 1 (three earlier turns)
    rejected, chosen = _count(row["prompt"], row["rejected"]), _count(row["prompt"], row["chosen"])
    assert rejected > chosen
    done = run("show", str(source), *flags, "--conversation", "1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0] == "pair #1: a prompt of 7 messages, a chosen and a rejected answer, 1 sample"
    assert lines[2].startswith(f"sample 0: {rejected} tokens (prompt ")
    assert lines[-3].startswith("> assistant  Lyon, I think") and "[rejected, " in lines[-3]
    assert lines[-1] == f"  chosen     Paris (1).  [{chosen} tokens with the same prompt]"
    assert "weight_zero" not in done.stdout.decode()  # the prompt's answers are context
    skipped = run("show", str(source), *flags, "--conversation", "5")
    assert skipped.stdout.decode().splitlines()[-2:] == [
        "skipped: the pair: target_too_long",
        "  needs 422 of 150 tokens: target 408, rest of its turn 14",
    ]
    alone = run("show", str(source), *flags, "--conversation", "2")
    assert alone.returncode == 1
    assert alone.stderr.decode().startswith(f"error: {source} line 3: not preference data: ")


def test_preference_and_kto_rows_carry_the_record_s_columns_with_keep_columns(
    tmp_path: Path,
) -> None:
    pair = {"prompt": "2+2?", "chosen": "4", "rejected": "5", "source": "faq", "id": "q1"}
    judged = {"prompt": "2+2?", "completion": "5", "label": False, "category": "math"}
    for output, record, columns in (
        ("preference", pair, {"source": "faq"}),
        ("kto", judged, {"category": "math"}),
    ):
        source = write_jsonl(tmp_path / f"{output}.jsonl", [record, {**record, "source": None}])
        out = tmp_path / "out.jsonl"
        keep = ["--writer-option", "keep_columns=true"]
        assert run("split", str(source), "-o", str(out), "--to", output, *keep).returncode == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert rows[0]["metadata"] == columns
        assert run("split", str(source), "-o", str(out), "--to", output).returncode == 0
        assert all("metadata" not in json.loads(line) for line in out.read_text().splitlines())
