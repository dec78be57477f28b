"""One very long conversation is written as its samples are made (memory flat in its
length): the output is the bytes of its samples written whole, whatever the parts."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from convsplit import (
    Budget,
    ChatFormatError,
    DropOldest,
    Layout,
    Request,
    SplitSpec,
    split_conversation,
)
from convsplit.core.truncation import Fit
from convsplit.errors import UnsupportedSampleError
from convsplit.formats.openai import read_openai
from convsplit.run import records
from convsplit.run.pipeline import split_files, split_windows


def _conversation() -> dict[str, object]:
    """600 turns: a question, a tool call and its result, an answer."""
    messages: list[dict[str, object]] = [{"role": "system", "content": "Be brief."}]
    for i in range(600):
        call = {"id": f"c{i}", "type": "function",
                "function": {"name": "look_up", "arguments": json.dumps({"q": i})}}  # fmt: skip
        messages += [
            {"role": "user", "content": f"What is item {i}?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"c{i}", "content": f"item {i} is {i * 7}"},
            {"role": "assistant", "content": f"Item {i} is {i * 7}, as the tool says."},
        ]
    return {"id": "long", "messages": messages}


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("output_format", ["openai", "sharegpt", "trl", "text"])
def test_written_in_parts_is_written_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int, output_format: str
) -> None:
    record = _conversation()
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                             {"role": "assistant", "content": "Hello"}]})
                    + "\n" + json.dumps(record) + "\n")  # fmt: skip
    spec = SplitSpec(Budget(300), output_format=output_format)
    writer = spec.writer()
    whole = b"".join(
        b"".join(writer.lines(split_conversation(read_openai(json.loads(line)), spec, index=i)))
        for i, line in enumerate(path.read_text().splitlines())
    )
    monkeypatch.setattr(records, "_HELD_MESSAGES", 50)  # parts of a few samples each
    report = split_files([path], tmp_path / "out.jsonl", spec, jobs=jobs)
    assert (tmp_path / "out.jsonl").read_bytes() == whole
    assert report.samples == len(whole.splitlines()) > 1000
    assert report.targeted == report.samples
    reports = split_windows([path], tmp_path / "w{max_tokens}.jsonl", spec, [300, 90], jobs=jobs)
    assert (tmp_path / "w300.jsonl").read_bytes() == whole
    assert reports[300].sample_tokens == report.sample_tokens


@dataclass(frozen=True)
class _RefuseLate:
    """A user's truncation strategy that cannot fit the targets past message 1,500: what a
    template does when it cannot render a cut message, long after the first parts."""

    name: str = "refuse-late"

    def fit(self, layout: Layout, request: Request, budget: Budget) -> Fit:
        if request.targets[0] > 1500:
            raise ChatFormatError("cannot render this sample")
        return DropOldest().fit(layout, request, budget)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_conversation_refused_late_is_a_reject_with_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    """Refused after parts of its samples would have been written, the conversation is
    still a reject like any other (it is rehearsed before its first part is written), and
    the run goes on: the output holds only the other record's sample."""
    path = tmp_path / "long.jsonl"
    small = {"id": "small", "messages": [{"role": "user", "content": "Hi"},
                                         {"role": "assistant", "content": "Hello"}]}  # fmt: skip
    path.write_text(json.dumps(_conversation()) + "\n" + json.dumps(small) + "\n")
    spec = SplitSpec(Budget(300), truncation=_RefuseLate())
    monkeypatch.setattr(records, "_HELD_MESSAGES", 50)
    report = split_files([path], tmp_path / "out.jsonl", spec, jobs=jobs,
                         rejects=tmp_path / "rejects.jsonl")  # fmt: skip
    assert (report.records, report.rejected, report.samples) == (2, 1, 1)
    (line,) = (tmp_path / "out.jsonl").read_text().splitlines()
    assert json.loads(line)["messages"][0]["content"] == "Hi"
    (reject,) = [json.loads(r) for r in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert reject["line"] == 1
    assert "cannot render this sample" in reject["reason"]


@dataclass(frozen=True)
class _PairsLate:
    """A user's window that trains the targets past message 1,500 two to a sample: the TRL
    writer refuses those samples, long after the first parts of the conversation."""

    name: str = "pairs-late"

    def requests(self, layout: Layout, targets: Sequence[int], budget: Budget) -> Iterator[Request]:
        early = [t for t in targets if t <= 1500]
        late = [t for t in targets if t > 1500]
        for t in early:
            yield Request((t,), required_start=layout.unit_start(t) or 0, history_start=0)
        for k in range(0, len(late), 2):
            pair = tuple(late[k : k + 2])
            start = layout.unit_start(pair[0]) or 0
            yield Request(pair, required_start=start, history_start=start)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_sample_its_writer_refuses_late_ends_the_run_before_a_line_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], jobs: int
) -> None:
    """The rehearsal encodes every part too: a sample the writer cannot write (here TRL, a
    sample with two targets), made long after the first parts, ends the run before any of
    the conversation reaches standard output, which cannot be taken back."""
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(_conversation()) + "\n")
    spec = SplitSpec(Budget(300), window=_PairsLate(), output_format="trl")
    monkeypatch.setattr(records, "_HELD_MESSAGES", 50)
    with pytest.raises(UnsupportedSampleError, match="a sample with 2 targets cannot be written"):
        split_files([path], "-", spec, jobs=jobs)
    assert capfd.readouterr().out == ""
