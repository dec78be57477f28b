"""Every public error survives pickling, as a process pool of the user's own sends it back:
one that could not be made again left ``multiprocessing.Pool`` waiting for ever."""

from __future__ import annotations

import multiprocessing
import pickle

import pytest

from convsplit import get_counter
from convsplit.errors import (
    ChatFormatError,
    ConvsplitError,
    InvalidConversationError,
    InvalidOptionError,
    MissingExtraError,
    OptionHint,
    OutputError,
    StrategyError,
    TargetTooLongError,
    TokenizerDataError,
    UnknownNameError,
    UnsupportedSampleError,
    WorkerError,
)

ERRORS: list[ConvsplitError] = [
    InvalidConversationError("bad role", path="f.jsonl", lineno=3, field="role",
                             hints=[OptionHint("role_map", ("bot=assistant",), mapping=True)]),
    InvalidOptionError("max_tokens must be an int"),
    UnknownNameError("tokenizer", "no-such", ["o200k_base", "cl100k_base"]),
    MissingExtraError("tokenizers", extra="hf", purpose="hf:<folder>"),
    TokenizerDataError("no copy"),
    ChatFormatError("cannot render"),
    UnsupportedSampleError("two targets", hints=[OptionHint("writer_options", ("x=y",))]),
    TargetTooLongError("too long"),
    StrategyError("planned twice"),
    OutputError("disk full"),
    WorkerError("a worker died"),
]  # fmt: skip


def test_every_public_error_class_is_listed() -> None:
    def subclasses(cls: type) -> set[type]:
        children: list[type] = cls.__subclasses__()
        return {cls, *(s for c in children for s in subclasses(c))}

    assert subclasses(ConvsplitError) - {ConvsplitError} == {type(e) for e in ERRORS}


@pytest.mark.parametrize("error", ERRORS, ids=[type(e).__name__ for e in ERRORS])
def test_an_error_pickles_to_itself(error: ConvsplitError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert vars(again) == vars(error)


def _count(name: str) -> int:
    return get_counter(name).count("Hello")


def test_a_pool_of_the_users_own_gets_the_error_back() -> None:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result = pool.map_async(_count, ["o200k_base", "no-such-tokenizer"])
        with pytest.raises(UnknownNameError, match="'no-such-tokenizer'; expected one of"):
            result.get(timeout=60)
