import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread_torch():
    # Tests compare numbers bit for bit; fixing the thread count keeps reductions in one order.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
