"""Chapter 6: the earlier weights file loads into the current code and reproduces its stored metrics."""

import pytest

from reprobook import ffgan
from reprobook.ffgan import claims
from reprobook.ffgan.experiment import WEIGHTS
from reprobook.ffgan.shipped import cell_metrics, check_metrics


def test_shipped_weights_reproduce_their_metrics():
    assert WEIGHTS.is_file(), "the earlier weights file weights/ffgan_book.pt is missing"
    assert WEIGHTS.stat().st_size < 15e6
    models = ffgan.load_weights(ffgan.from_params())
    assert set(models.generators) == set(ffgan.from_params().variants)
    saved = models.meta["check"]
    measured = check_metrics(models)
    assert measured.keys() == saved.keys()
    for k, v in saved.items():
        assert measured[k] == pytest.approx(v, abs=1e-6), k
    assert models.meta["seed"] == 0 and models.meta["command"]


def test_earlier_weights_attention_is_uniform_so_the_gate_fails():
    """800 GAN steps: the word attention has not left uniform, and the gate says so (the ablations are then not
    compared)."""
    cfg = ffgan.from_params(**ffgan.SMOKE)
    models = ffgan.load_weights(cfg)
    models.generators = {"full": models.generators["full"]}
    m = cell_metrics(models, cfg, "full", 0)
    assert m["attn_entropy_stage2"] > 0.99 and m["attn_max_stage2"] < 1.5 * m["attn_uniform_stage2"]
    assert claims.attention_localises([m["attn_entropy_stage2"]] * 3).verdict != "holds"
