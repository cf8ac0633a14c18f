"""The activities tests' simulator at T0 (2026-12-01 10:00 in Shanghai), shared by the folder's modules."""
from __future__ import annotations

import pytest

from tests.activities.test_activities import T0


@pytest.fixture
def sim_at(sim, clock):
    clock.set(T0)
    return sim
