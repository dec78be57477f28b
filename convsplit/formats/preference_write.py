"""Writing preference data in TRL's conversational forms: ``preference`` (``prompt``,
``chosen``, ``rejected``, each a list of messages; DPO, ORPO, reward models, and KTO, which
reads pairs too) and ``kto`` (``prompt``, ``completion``, ``label``: the unpaired form).

Messages are written as the ``trl`` writer writes them (reasoning under
``reasoning_content``, tool-call arguments as JSON objects, a ``tools`` column), so that
TRL's ``apply_chat_template`` renders what the split counted. These writers take the results
of :func:`convsplit.core.preference.split_judged`; a conversation split for SFT has no
answers to compare and is refused.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from convsplit.errors import UnsupportedSampleError
from convsplit.formats.json_text import dumps
from convsplit.formats.preference import (
    PreferenceKind,
    PreferencePair,
    PreferenceResult,
    UnpairedSample,
)
from convsplit.formats.protocols import SampleWriter, WrittenForm
from convsplit.formats.record_fields import openai_tools
from convsplit.formats.trl import TRLWriter
from convsplit.messages import Message
from convsplit.samples import SplitResult


@dataclass(frozen=True, kw_only=True)
class _JudgedWriter(SampleWriter):
    """What both writers share: TRL's message form, and refusing SFT results (the
    options: see :class:`PreferenceWriter`)."""

    arguments: Literal["object", "string"] = "object"
    keep_reasoning: bool = True
    reasoning_key: str = "reasoning_content"
    keep_extras: bool = False
    keep_columns: bool = False
    _trl: TRLWriter = field(init=False, repr=False, compare=False)

    record_kind: ClassVar[PreferenceKind]

    def __post_init__(self) -> None:
        trl = TRLWriter(
            arguments=self.arguments,
            keep_reasoning=self.keep_reasoning,
            reasoning_key=self.reasoning_key,
            keep_extras=self.keep_extras,
        )  # checks the options
        object.__setattr__(self, "_trl", trl)

    @property
    def written_form(self) -> WrittenForm:
        """As the ``trl`` writer: what TRL's chat templates render."""
        return self._trl.written_form

    def lines(self, result: SplitResult) -> Iterator[bytes]:
        """One JSON line per row: the prompt, the row's answers, ``tools`` if any, and
        ``metadata`` with ``keep_columns``."""
        columns = self._columns(result)
        for row in self._rows(result):
            answers = self._answers(row)
            line = {"prompt": self._messages(row.prompt), **answers, **self._tools(row), **columns}
            yield dumps(line) + b"\n"

    @abstractmethod
    def _answers(self, row: PreferencePair | UnpairedSample) -> dict[str, object]:
        """The columns after the prompt; a row of the other kind is refused."""

    def _messages(self, messages: tuple[Message, ...]) -> list[object]:
        return [self._trl.message(m) for m in messages]

    def _rows(self, result: SplitResult) -> Iterator[PreferencePair | UnpairedSample]:
        if not isinstance(result, PreferenceResult):
            raise UnsupportedSampleError(
                f"the {self.name} writer writes preference records (split with "
                "convsplit.core.preference.split_judged); a conversation split for "
                "SFT has no answers to compare"
            )
        yield from result.pairs

    def _tools(self, row: PreferencePair | UnpairedSample) -> dict[str, object]:
        return {"tools": openai_tools(row.tools)} if row.tools else {}

    def _columns(self, result: SplitResult) -> dict[str, object]:
        """The record's own columns, carried by its sample, under ``metadata``."""
        columns = result.samples[0].columns if self.keep_columns and result.samples else None
        return {"metadata": columns} if columns else {}


@dataclass(frozen=True, kw_only=True)
class PreferenceWriter(_JudgedWriter):
    """Pairs as TRL conversational preference rows: ``prompt``, ``chosen``, ``rejected``
    (plus ``tools``).

    Args:
        arguments: tool-call arguments as JSON ``"object"`` or ``"string"`` (as ``trl``).
        keep_reasoning: write assistant reasoning under ``reasoning_key`` (as ``trl``).
        reasoning_key: the key reasoning is written under.
        keep_extras: keep unknown message fields read from the input.
        keep_columns: write the record's own columns read beside it (``source``,
            ``category``...) under a ``metadata`` key of each row that has any (TRL reads
            only prompt, chosen, rejected and tools).

    >>> from convsplit import Budget, SplitSpec
    >>> from convsplit.core.preference import split_judged
    >>> from convsplit.formats.preference_read import read_preference
    >>> pair = read_preference({"prompt": "2+2?", "chosen": "4", "rejected": "5"})
    >>> result = split_judged(pair, SplitSpec(Budget(50), output_format="preference"))
    >>> print(next(PreferenceWriter().lines(result)).decode())
    {"prompt":[{"role":"user","content":"2+2?"}],"chosen":[{"role":"assistant","content":"4"}],"rejected":[{"role":"assistant","content":"5"}]}
    <BLANKLINE>
    """

    record_kind: ClassVar[PreferenceKind] = "pairwise"

    @property
    def name(self) -> str:
        return "preference"

    def _answers(self, row: PreferencePair | UnpairedSample) -> dict[str, object]:
        if not isinstance(row, PreferencePair):
            raise UnsupportedSampleError("a KTO answer cannot be written as a pair")
        return {
            "chosen": self._messages((row.chosen,)),
            "rejected": self._messages((row.rejected,)),
        }


@dataclass(frozen=True, kw_only=True)
class KTOWriter(_JudgedWriter):
    """Judged answers as TRL conversational unpaired preference rows: ``prompt``,
    ``completion``, ``label`` (plus ``tools``).

    Args:
        arguments: tool-call arguments as JSON ``"object"`` or ``"string"`` (as ``trl``).
        keep_reasoning: write assistant reasoning under ``reasoning_key`` (as ``trl``).
        reasoning_key: the key reasoning is written under.
        keep_extras: keep unknown message fields read from the input.
        keep_columns: write the record's own columns read beside it (``source``,
            ``category``...) under a ``metadata`` key of each row that has any (TRL reads
            only prompt, completion, label and tools).

    >>> from convsplit import Budget, SplitSpec
    >>> from convsplit.core.preference import split_judged
    >>> from convsplit.formats.preference_read import read_unpaired
    >>> kto = read_unpaired({"prompt": "2+2?", "completion": "5", "label": False})
    >>> result = split_judged(kto, SplitSpec(Budget(50), output_format="kto"))
    >>> print(next(KTOWriter().lines(result)).decode())
    {"prompt":[{"role":"user","content":"2+2?"}],"completion":[{"role":"assistant","content":"5"}],"label":false}
    <BLANKLINE>
    """

    record_kind: ClassVar[PreferenceKind] = "unpaired"

    @property
    def name(self) -> str:
        return "kto"

    def _answers(self, row: PreferencePair | UnpairedSample) -> dict[str, object]:
        if not isinstance(row, UnpairedSample):
            raise UnsupportedSampleError("a preference pair cannot be written as KTO")
        return {"completion": self._messages((row.completion,)), "label": row.label}
