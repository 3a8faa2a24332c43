"""One torch thread for these small problems: on a shared, loaded machine two spinning threads per fit cost
far more than they gain (the probes here are ~1,000 × 64)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
