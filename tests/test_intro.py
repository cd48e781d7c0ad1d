import pytest
import torch

from reprobook import intro
from reprobook.intro.experiment import accuracy, noisy_accuracy


def test_classifier_shapes_and_kinds():
    x = torch.rand(5, 1, 8, 8)
    assert intro.Classifier(hidden=0)(x).shape == (5, 10)
    assert intro.Classifier(hidden=32)(x).shape == (5, 10)
    assert sum(p.numel() for p in intro.Classifier(hidden=0).parameters()) == 64 * 10 + 10
    assert sum(p.numel() for p in intro.Classifier(hidden=32).parameters()) == 64 * 32 + 32 + 32 * 10 + 10


def test_noise_zero_is_plain_accuracy():
    torch.manual_seed(0)
    m = intro.Classifier(hidden=8)
    x, y = torch.rand(20, 1, 8, 8), torch.randint(0, 10, (20,))
    assert noisy_accuracy(m, x, y, 0.0) == accuracy(m, x, y)


def test_config_presets_and_errors():
    assert intro.from_params().steps == 400
    assert intro.from_params(smoke=True).steps == 30
    assert intro.from_params(hidden=None).hidden == 64
    with pytest.raises(ValueError, match="choose one of: book, long"):
        intro.from_params(preset="paper")
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        intro.from_params(hidden=0)
