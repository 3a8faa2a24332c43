"""The LoRA tests train tiny models: one torch thread, since on a loaded 2-core machine two threads were ~14× slower
(8 Adam steps of a 2-layer Llama: 13 s with 2 threads, 0.9 s with 1, load average 11)."""

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
