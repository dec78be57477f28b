"""The formats package's public seams: JSONL byte ranges (what the Dask engine reads), the
writer protocol every writer fills in, and the errors options raise."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convsplit import Budget, Conversation, ConvsplitError, Message, SplitSpec, split_conversation
from convsplit.errors import InvalidConversationError, InvalidOptionError, UnknownNameError
from convsplit.formats import (
    OpenAIWriter,
    PromptCompletionWriter,
    RawRecord,
    SampleWriter,
    ShareGPTWriter,
    Source,
    TextWriter,
    TRLWriter,
    _sniff,
    count_range,
    get_writer,
    read_range,
    register_reader,
    register_writer,
    splittable,
)
from convsplit.formats.preference import sft_writer_names
from convsplit.formats.records import parse_record
from convsplit.samples import SplitResult

# -- byte ranges ---------------------------------------------------------------------------------

LIMIT = 40

#: Lines of every kind the reader treats apart: records, blanks, broken JSON, lines around
#: the size limit (whitespace-only ones too), a lone carriage return before the newline.
LINES = st.one_of(
    st.builds(lambda n: b'{"n": %d}' % n, st.integers(0, 10**6)),
    st.sampled_from([b"", b"   ", b"\t", b"{", b'"text"', b"[1, 2]", b"\r", b"{}\r"]),
    st.integers(LIMIT - 3, LIMIT + 3).map(lambda n: b'"' + b"x" * (n - 2) + b'"'),
    st.integers(LIMIT - 2, LIMIT + 3).map(lambda n: b" " * n),
)
ENDINGS = st.sampled_from([b"\n", b"\r\n"])


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(LINES, ENDINGS), max_size=12))
    data = b"".join(line + ending for line, ending in lines)
    if lines and draw(st.booleans()):  # no newline after the last line
        data = data[: -len(lines[-1][1])]
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


def whole(path: Path, limit: int | None) -> list[RawRecord]:
    with Source.open(path) as source:
        return list(source.records(max_record_bytes=limit))


def by_ranges(path: Path, cuts: list[int], limit: int | None) -> Iterator[RawRecord]:
    """The records of the ranges between ``cuts``, numbered as the Dask engine numbers them."""
    line = 1
    for start, end in itertools.pairwise(cuts):
        count = count_range(path, start, end, max_record_bytes=limit)
        records = list(read_range(path, start, end, first_line=line, max_record_bytes=limit))
        assert len(records) == count.records
        yield from records
        line += count.lines


@given(
    data=jsonl_files(),
    cuts=st.lists(st.integers(0, 1000), max_size=8),
    limit=st.sampled_from([None, LIMIT]),
)
def test_ranges_read_one_after_another_are_the_whole_file(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, cuts: list[int], limit: int | None
) -> None:
    path = tmp_path_factory.mktemp("ranges") / "data.jsonl"
    path.write_bytes(data)
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    assert list(by_ranges(path, points, limit)) == whole(path, limit)


@given(
    data=jsonl_files(),
    limit=st.sampled_from([None, LIMIT]),
    chunk=st.sampled_from([1, 2, 7, 1 << 20]),
)
def test_every_single_byte_cut_gives_the_whole_file(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, limit: int | None, chunk: int
) -> None:
    """Whatever the read size (tiny ones make every line straddle reads)."""
    path = tmp_path_factory.mktemp("ranges") / "data.jsonl"
    path.write_bytes(data)
    expected = whole(path, limit)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_sniff, "CHUNK", chunk)
        assert whole(path, limit) == expected
        for cut in range(len(data) + 1):
            assert list(by_ranges(path, [0, cut, len(data)], limit)) == expected, cut


def test_a_range_counts_its_lines_blank_ones_included(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n\n  \n{"a": 2}\r\n{"a": 3}')
    assert count_range(path, 0, 9) == (1, 1)
    assert count_range(path, 9, 13) == (2, 0)  # the blank lines start at 9 and 10
    assert count_range(path, 13, 100) == (2, 2)
    assert [(r.lineno, r.text) for r in read_range(path, 13, 100, first_line=4)] == [
        (4, b'{"a": 2}'),
        (5, b'{"a": 3}'),
    ]


def test_a_range_inside_one_line_is_empty_and_reads_no_further_than_its_end(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"text": "' + b"x" * 5_000_000 + b'"}\n{"a": 1}\n')
    assert list(read_range(path, 10, 20)) == []
    assert count_range(path, 10, 20) == (0, 0)
    (record,) = read_range(path, 0, 1, max_record_bytes=1000)
    assert record.lineno == 1 and record.error is not None and "larger than 1,000" in record.error
    assert [r.value for r in read_range(path, 1000, 5_000_020)] == [{"a": 1}]


def test_a_byte_order_mark_is_dropped_whatever_the_first_range(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n')
    for end in range(1, 5):
        assert [r.text for r in read_range(path, 0, end)] == [b'{"a": 1}']
    assert [r.value for r in read_range(path, 1, 30)] == [{"a": 2}]


def test_records_may_be_cut_only_then_parsed(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": \n')
    cut = list(read_range(path, 0, 100, parse=False))
    assert [(r.value, r.error) for r in cut] == [(None, None), (None, None)]
    assert [parse_record(r.lineno, r.text).value for r in cut] == [{"a": 1}, None]


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        pytest.param("a.jsonl", b'[\n{"a": 1}\n]\n', True, id="jsonl-name-always"),
        pytest.param("a.NDJSON", b"[\n", True, id="ndjson-name-any-case"),
        pytest.param("a.json", b'{"a": 1}\n{"a": 2}\n', True, id="sniffed-lines"),
        pytest.param("a.json", b'[\n{"a": 1}\n]\n', False, id="array"),
        pytest.param("a.json", b'{\n"a": 1\n}\n', False, id="pretty-objects"),
        pytest.param("a.json", b'\xef\xbb\xbf[{"role": "user"}]\n', True, id="bom-one-line-list"),
        pytest.param("a.json", b"\n  \n", False, id="only-whitespace"),
        pytest.param("a.jsonl.gz", b"not really gzip", False, id="gz-name"),
        pytest.param("a.json", b"\x1f\x8b\x08", False, id="gzip-magic"),
    ],
)
def test_splittable_agrees_with_the_whole_file_reader(
    tmp_path: Path, name: str, data: bytes, expected: bool
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert splittable(path) is expected


def test_splittable_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidConversationError, match=r"^.*nope\.jsonl: cannot read: "):
        splittable(tmp_path / "nope.jsonl")


def test_read_range_checks_its_options_at_once(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"{}\n")
    with pytest.raises(InvalidOptionError, match=r"start <= end; got \[5, 2\)"):
        read_range(path, 5, 2)
    with pytest.raises(InvalidOptionError, match="start must be an int >= 0; got -1"):
        read_range(path, -1, 2)
    with pytest.raises(InvalidOptionError, match="first_line must be an int >= 1; got 0"):
        read_range(path, 0, 2, first_line=0)
    with pytest.raises(InvalidOptionError, match="max_record_bytes"):
        count_range(path, 0, 2, max_record_bytes=-1)
    with pytest.raises(InvalidConversationError, match=r"gone\.jsonl: cannot open: "):
        list(read_range(tmp_path / "gone.jsonl", 0, 2))


# -- the writer protocol -------------------------------------------------------------------------

CONVERSATION = Conversation(
    messages=(
        Message(role="user", content="Hi"),
        Message(role="assistant", content="Hello"),
        Message(role="user", content="Bye"),
        Message(role="assistant", content="Bye!"),
    )
)


@pytest.mark.parametrize("name", sft_writer_names())
def test_every_registered_writer_offers_lines_and_chunks_of_the_same_bytes(name: str) -> None:
    writer = get_writer(name)
    result = split_conversation(CONVERSATION, SplitSpec(budget=Budget(200)))
    assert isinstance(writer, SampleWriter)
    assert writer.name == name
    lines = list(writer.lines(result))
    assert len(lines) == 2
    assert b"".join(writer.chunks(result)) == b"".join(lines)


class LinesOnly:
    """A writer of one's own, written before writers had ``chunks``."""

    name = "upper"

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        for sample in result.samples:
            yield (sample.messages[-1].text or "").upper().encode() + b"\n"


def test_a_lines_only_writer_registered_by_a_user_gets_chunks() -> None:
    register_writer("upper", LinesOnly)
    try:
        writer = get_writer("upper")
    finally:
        from convsplit.formats import _WRITERS

        del _WRITERS["upper"]
    result = split_conversation(CONVERSATION, SplitSpec(budget=Budget(200)))
    assert isinstance(writer, SampleWriter)
    assert writer.name == "upper"
    assert list(writer.lines(result)) == [b"HELLO\n", b"BYE!\n"]
    assert list(writer.chunks(result)) == [b"HELLO\n", b"BYE!\n"]


def test_a_writer_subclassing_the_protocol_inherits_chunks() -> None:
    class Own(SampleWriter):
        @property
        def name(self) -> str:
            return "own"

        def lines(self, result: SplitResult) -> Iterator[bytes]:
            yield from (b"%d\n" % len(s.messages) for s in result.samples)

    result = split_conversation(CONVERSATION, SplitSpec(budget=Budget(200)))
    assert list(Own().chunks(result)) == [b"2\n", b"4\n"]


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: OpenAIWriter(metadata="sidecar"), "metadata must be", id="openai"),
        pytest.param(lambda: TRLWriter(arguments="json"), "arguments must be", id="trl-args"),
        pytest.param(lambda: TRLWriter(multi_target="x"), "multi_target must be", id="trl-multi"),
        pytest.param(lambda: ShareGPTWriter(train_flag="x"), "train_flag must be", id="sharegpt"),
        pytest.param(lambda: TextWriter(layout="x"), "layout must be", id="text-layout"),
        pytest.param(lambda: TextWriter(template="openai"), "cannot render", id="text-template"),
        pytest.param(lambda: register_reader("auto", lambda r, **k: r), "reserved", id="auto"),
    ],
)
def test_bad_options_raise_convsplit_errors(build: object, message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message) as caught:
        build()  # type: ignore[operator]
    assert isinstance(caught.value, ConvsplitError)
    assert isinstance(caught.value, ValueError)  # what callers caught before


def test_an_unknown_text_template_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="unknown chat format 'nope'"):
        TextWriter(template="nope")


def test_prompt_completion_writer_renders_chatml_on_its_own() -> None:
    writer = PromptCompletionWriter()
    assert writer.chat_format is None
    assert writer.for_spec(SplitSpec(chat_format="llama3")).chat_format is not None


# -- the package's layout ------------------------------------------------------------------------


def test_no_module_of_the_package_is_over_400_lines() -> None:
    folder = Path(__file__).resolve().parents[1] / "convsplit" / "formats"
    sizes = {p.name: len(p.read_text().splitlines()) for p in folder.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400} == {}


def test_importing_formats_alone_works_in_a_fresh_interpreter() -> None:
    code = "import convsplit.formats.jsonl, convsplit.formats.records; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout == "ok\n", done.stderr


def test_source_reads_a_stream_as_before() -> None:
    with Source.open(io.BytesIO(b'{"a": 1}\n'), name="m.jsonl") as source:
        assert [r.value for r in source.records()] == [{"a": 1}]
