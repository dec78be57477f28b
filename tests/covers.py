"""Parameter covers: fewer runs of a slow matrix that still meet every combination that matters.

A real-data matrix (file x chat format x output x budget) multiplies out to many runs of one
slow check. :func:`cover` keeps the full product of the named axes and gives each of those
combinations one value of the alternating axis, in turn by the sum of the other axes'
positions. So every combination of the full axes still runs, and so does every combination
of the alternating value with any two of them (a third full axis with at least as many
values as the alternating one walks through all of its values): only the four-way product
is thinned. With two budgets that halves the runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest


def cover(*axes: Sequence[Any], alternate: Sequence[Any]) -> list[Any]:
    """Every combination of ``axes``, each with one value of ``alternate`` (taken in turn):
    ``pytest.param`` s of ``(*axes, alternate)`` values, with readable ids.

    >>> [p.values for p in cover(["a", "b"], [1, 2], alternate=["x", "y"])]
    [('a', 1, 'x'), ('a', 2, 'y'), ('b', 1, 'y'), ('b', 2, 'x')]
    """
    params = []
    for positions in itertools.product(*(range(len(axis)) for axis in axes)):
        values = [axis[k] for axis, k in zip(axes, positions, strict=True)]
        values.append(alternate[sum(positions) % len(alternate)])
        params.append(pytest.param(*values, id="-".join(map(str, values))))
    return params
