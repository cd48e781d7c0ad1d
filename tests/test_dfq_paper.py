"""Chapters 4-5 `paper` presets: official-size networks and generators, parameter counts, forward passes.

Reference counts: pytorchcv's model table (the official code loads pytorchcv's pre-trained models):
resnet20_cifar10 272,474; resnet20_cifar100 278,324; resnet18 11,689,512; resnet50 25,557,032;
mobilenetv2_w1 3,504,960. The generator counts are computed below from the official layer shapes
(AdaDFQ/AdaSG ``main.py``, ``Generator`` and the ImageNet generator with conditional BN).
"""

import pytest
import torch

from reprobook import dfq
from reprobook.dfq.experiment import prepare
from reprobook.dfq.generator import Generator, ImageNetGenerator
from reprobook.dfq.models import build_model
from reprobook.dfq.quant import quantize_model
from reprobook.engine.data import DataRootError


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name, classes, expected", [
    ("resnet20", 10, 272_474), ("resnet20", 100, 278_324), ("resnet18", 1000, 11_689_512),
    ("resnet50", 1000, 25_557_032), ("mobilenetv2", 1000, 3_504_960)])
def test_official_parameter_counts(name, classes, expected):
    assert n_params(build_model(name, classes=classes)) == expected


def test_generator_parameter_counts():
    # CIFAR-10: Embedding(10,100) + Linear(100, 128·8·8) + BN(128) + Conv(128,128,3) + BN(128)
    #           + Conv(128,64,3) + BN(64) + Conv(64,3,3) + affine-free BN(3)
    cifar = 10 * 100 + (100 * 8192 + 8192) + 256 + (128 * 128 * 9 + 128) + 256 + (128 * 64 * 9 + 64) + 128 \
        + (64 * 3 * 9 + 3)
    assert n_params(Generator(classes=10, img_size=32)) == cifar
    # ImageNet: Linear(100, 128·56·56) + CCBN(1000,128)·2 + CCBN(1000,64) + the three convs
    imagenet = (100 * 401_408 + 401_408) + 2 * 1000 * 128 * 2 + 1000 * 64 * 2 + (128 * 128 * 9 + 128) \
        + (128 * 64 * 9 + 64) + (64 * 3 * 9 + 3)
    assert n_params(ImageNetGenerator(classes=1000)) == imagenet


def test_paper_networks_forward_quantized():
    torch.manual_seed(0)
    P = build_model("resnet20", classes=10).eval()
    G = Generator(classes=10, img_size=32)
    x = G(torch.randn(2, 100), torch.tensor([0, 1]))
    assert x.shape == (2, 3, 32, 32)
    Q = quantize_model(P, w_bits=3, a_bits=3).eval()
    assert Q(x).shape == (2, 10)
    mv2 = build_model("mobilenetv2", classes=1000).eval()
    with torch.no_grad():
        assert quantize_model(mv2, w_bits=4, a_bits=4)(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
        for name in ("resnet18", "resnet50"):
            assert build_model(name, classes=1000).eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_paper_preset_needs_data_root():
    for presets in (dfq.ADASG_PRESETS, dfq.ADADFQ_PRESETS):
        cfg = presets["paper"]
        assert (cfg.model, cfg.dataset, cfg.img_size, cfg.batch_size, cfg.warmup_epochs, cfg.calib_epochs) == \
            ("resnet20", "cifar10", 32, 16, 4, 4)
        with pytest.raises(DataRootError, match="needs data_root"):
            prepare(cfg)
    assert dfq.ADADFQ_PRESETS["paper_imagenet_mv2"].model == "mobilenetv2"


def test_resnet50_strides_in_the_first_1x1_conv_of_a_bottleneck():
    """pytorchcv's resnet50 (the official P) downsamples in a bottleneck's first 1×1 conv, not its 3×3 conv."""
    net = build_model("resnet50", classes=1000)
    for stage in ("stage2", "stage3", "stage4"):
        body = getattr(net.features, stage).unit1.body
        assert [b.conv.stride for b in body] == [(2, 2), (1, 1), (1, 1)], stage


def test_resnet50_forward_equals_pytorchcv():
    """Same weights (pytorchcv's layout, in order) → same logits as pytorchcv's own resnet50 (test extra)."""
    pytest.importorskip("pytorchcv")
    from pytorchcv.model_provider import get_model

    torch.manual_seed(0)
    ref = get_model("resnet50", pretrained=False).eval()
    ours = build_model("resnet50", classes=1000).eval()
    for bn in (b for b in ref.modules() if isinstance(b, torch.nn.BatchNorm2d)):  # non-trivial statistics
        bn.running_mean.uniform_(-0.1, 0.1, generator=torch.Generator().manual_seed(bn.num_features))
    theirs, mine = list(ref.state_dict().values()), ours.state_dict()
    assert [tuple(v.shape) for v in theirs] == [tuple(v.shape) for v in mine.values()]
    ours.load_state_dict(dict(zip(mine, theirs)))
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), rtol=1e-4, atol=1e-5)
