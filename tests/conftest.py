import os

import torch


def pytest_configure(config):
    # The test command runs two pytest workers on a 2-core machine: one thread each (and for the
    # notebook kernels they start) avoids oversubscription, and tests that compare numbers bit
    # for bit see one reduction order. Set here, before any fixture of any scope runs.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
