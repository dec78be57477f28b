"""The parameter cover the real-data matrices use meets what their docstrings say it meets."""

from __future__ import annotations

import itertools

from tests.covers import cover


def test_the_real_data_cover_meets_every_three_way_combination() -> None:
    """Files x chat formats x outputs, alternating two budgets: every combination of any
    three of the four axes runs, with half the runs of the full product."""
    axes = [["f1", "f2", "f3", "f4"], ["c1", "c2", "c3", "c4"], ["o1", "o2", "o3"]]
    budgets = [256, 1024]
    runs = [p.values for p in cover(*axes, alternate=budgets)]
    assert len(runs) == 4 * 4 * 3 == len(set(runs))
    every_axis = [*axes, budgets]
    for chosen in itertools.combinations(range(4), 3):
        wanted = set(itertools.product(*(every_axis[k] for k in chosen)))
        met = {tuple(run[k] for k in chosen) for run in runs}
        assert met == wanted, chosen
    # and not the four-way product: that is what is thinned
    assert len(set(runs)) < len(list(itertools.product(*every_axis)))
