"""Shared test set-up: Hypothesis depth from the environment, the real data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "convsplit",
    max_examples=int(os.environ.get("CONVSPLIT_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("convsplit")

# No test downloads a vocabulary: the ones about downloading refuse the network themselves.
os.environ.setdefault("CONVSPLIT_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real public conversation files beside the project; skip where they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} not found (it sits beside the project root)")
    return SHARED_DATA
