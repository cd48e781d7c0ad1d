import random

import numpy as np
import pytest
import torch

from reprobook.engine.runtime import resolve_device, rng_state, seed_everything, set_rng_state


def test_same_seed_same_numbers():
    seed_everything(3)
    a = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(3)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_rng_state_roundtrip_survives_weights_only_load(tmp_path):
    seed_everything(0)
    state = rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(2))
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert expected[0] == got[0] and expected[1] == got[1] and torch.equal(expected[2], got[2])


def test_device_auto_and_errors():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="choose one of: auto, cpu, cuda, mps"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(-1)
