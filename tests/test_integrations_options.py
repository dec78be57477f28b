"""The integrations refuse a wrong option up front with the project's error (they raised
an AttributeError from deep inside, or waited a minute for workers that were never
started), before any cluster starts or any file is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from convsplit import Budget, InvalidOptionError, SplitSpec

EXAMPLES = Path(__file__).parents[1] / "examples" / "conversations.jsonl"
NOT_A_SPEC = (
    "spec must be a SplitSpec, such as SplitSpec(Budget(4096)); got Budget(max_tokens=100, "
    "reserve_target=0, min_context=0)"
)


def test_split_files_dask_wants_a_spec(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from convsplit.integrations import split_files_dask

    with pytest.raises(InvalidOptionError) as caught:
        split_files_dask([EXAMPLES], tmp_path / "out", Budget(100))  # type: ignore[arg-type]
    assert str(caught.value) == NOT_A_SPEC
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("n_workers", "shown"), [(0, "0"), (-2, "-2"), ("4", "str '4'")], ids=["zero", "neg", "str"]
)
def test_split_files_dask_refuses_a_cluster_of_no_workers(
    tmp_path: Path, n_workers: object, shown: str
) -> None:
    pytest.importorskip("distributed")
    from convsplit.integrations import split_files_dask

    with pytest.raises(InvalidOptionError) as caught:
        split_files_dask([EXAMPLES], tmp_path / "out", SplitSpec(), n_workers=n_workers)  # type: ignore[arg-type]
    assert str(caught.value) == f"n_workers must be an int >= 1; got {shown}"
    assert not (tmp_path / "out").exists()


def test_split_bag_wants_a_spec_when_called() -> None:
    """Checked when the bag is planned, not later when it is computed."""
    bag = pytest.importorskip("dask.bag")
    from convsplit.integrations import split_bag

    with pytest.raises(InvalidOptionError) as caught:
        split_bag(bag.from_sequence(['{"messages": []}']), Budget(100))  # type: ignore[arg-type]
    assert str(caught.value) == NOT_A_SPEC


def test_split_dataset_wants_a_spec() -> None:
    datasets = pytest.importorskip("datasets")
    from convsplit.integrations import split_dataset

    chats = datasets.Dataset.from_list([{"messages": [{"role": "user", "content": "Hi"}]}])
    with pytest.raises(InvalidOptionError) as caught:
        split_dataset(chats, Budget(100))  # type: ignore[arg-type]
    assert str(caught.value) == NOT_A_SPEC


@pytest.mark.parametrize(("batch_size", "shown"), [(0, "0"), ("8", "str '8'")], ids=["zero", "str"])
def test_split_dataset_wants_a_batch_size(batch_size: object, shown: str) -> None:
    """Refused up front with the project's error (a TypeError from inside datasets before)."""
    datasets = pytest.importorskip("datasets")
    from convsplit.integrations import split_dataset

    chats = datasets.Dataset.from_list([{"messages": [{"role": "user", "content": "Hi"}]}])
    with pytest.raises(InvalidOptionError) as caught:
        split_dataset(chats, SplitSpec(), batch_size=batch_size)  # type: ignore[arg-type]
    assert str(caught.value) == f"batch_size must be an int >= 1; got {shown}"


@pytest.mark.parametrize("windows", [False, True], ids=["split_files", "split_windows"])
def test_the_local_engine_wants_a_spec(tmp_path: Path, windows: bool) -> None:
    """The same check, the same words, for the local engine (an AttributeError before)."""
    from convsplit import split_files, split_windows

    with pytest.raises(InvalidOptionError) as caught:
        if windows:
            split_windows([EXAMPLES], tmp_path / "o{max_tokens}", Budget(100), [100])  # type: ignore[arg-type]
        else:
            split_files([EXAMPLES], tmp_path / "out", Budget(100))  # type: ignore[arg-type]
    assert str(caught.value) == NOT_A_SPEC
    assert list(tmp_path.iterdir()) == []
