"""Chapter 6: the shipped weights load into the current code and reproduce their stored metrics."""

import pytest

from reprobook import ffgan
from reprobook.ffgan.experiment import WEIGHTS
from reprobook.ffgan.shipped import check_metrics


def test_shipped_weights_reproduce_their_metrics():
    assert WEIGHTS.is_file(), "shipped weights missing: run reprobook evidence ffgan --seeds 1"
    assert WEIGHTS.stat().st_size < 15e6
    models = ffgan.load_weights(ffgan.from_params())
    assert set(models.generators) == set(ffgan.from_params().variants)
    saved = models.meta["check"]
    measured = check_metrics(models)
    assert measured.keys() == saved.keys()
    for k, v in saved.items():
        assert measured[k] == pytest.approx(v, abs=1e-6), k
    assert models.meta["seed"] == 0 and models.meta["command"]
