"""Chapter 1 (TAC): the paper presets build the official-size networks."""

import pytest
import torch

from reprobook import tac
from reprobook.engine.data import DataRootError
from reprobook.tac.experiment import build_net, load_data

# XNOR-Net-PyTorch, ImageNet/networks/model_list/alexnet.py (HEAD ebccb50): conv1 11×11 3→96 + BN(96);
# BinConv2d = BN(c_in) + conv/linear; conv2 5×5 96→256; conv3 3×3 256→384; conv4 3×3 384→384;
# conv5 3×3 384→256; fc6 BN(9216) + 9216→4096; fc7 BN(4096) + 4096→4096; BN(4096) + fc8 4096→1000.
ALEXNET_PARAMS = (
    (3 * 96 * 11 * 11 + 96) + 2 * 96  # conv1 + its BN
    + 2 * 96 + (96 * 256 * 5 * 5 + 256)  # conv2
    + 2 * 256 + (256 * 384 * 3 * 3 + 384)  # conv3
    + 2 * 384 + (384 * 384 * 3 * 3 + 384)  # conv4
    + 2 * 384 + (384 * 256 * 3 * 3 + 256)  # conv5
    + 2 * 9216 + (9216 * 4096 + 4096)  # fc6
    + 2 * 4096 + (4096 * 4096 + 4096)  # fc7
    + 2 * 4096 + (4096 * 1000 + 1000)  # classifier
)
# BNN CIFAR-10 network (Hubara et al. 2016, Table/§ CIFAR-10): (2×128C3)–MP2–(2×256C3)–MP2–(2×512C3)–MP2–
# (2×1024FC)–10, laid out as XNOR-Net blocks: conv1 + BN(128), then BN(c_in) + layer for every later layer.
CIFAR_BNN_PARAMS = (
    (3 * 128 * 9 + 128) + 2 * 128
    + 2 * 128 + (128 * 128 * 9 + 128)
    + 2 * 128 + (128 * 256 * 9 + 256)
    + 2 * 256 + (256 * 256 * 9 + 256)
    + 2 * 256 + (256 * 512 * 9 + 512)
    + 2 * 512 + (512 * 512 * 9 + 512)
    + 2 * 8192 + (8192 * 1024 + 1024)
    + 2 * 1024 + (1024 * 1024 + 1024)
    + 2 * 1024 + (1024 * 10 + 10)
)


def _n(net):
    return sum(p.numel() for p in net.parameters())


def test_alexnet_paper_preset_parameter_count_and_forward():
    cfg = tac.from_params(preset="paper")
    assert (cfg.batch_size, cfg.lr, cfg.weight_decay) == (256, 1e-3, 1e-5)
    net = build_net(cfg, "tac")
    assert ALEXNET_PARAMS == 62_415_592  # the sum above, by hand: 3,749,632 conv + 58,665,960 FC
    assert _n(net) == ALEXNET_PARAMS
    c = tac.account(net.set_variant("fp"))
    # MACs per image from the layer shapes: conv1 55²·96·363, conv2 27²·256·96·25, conv3 13²·384·256·9,
    # conv4 13²·384·384·9, conv5 13²·256·384·9, fc6 9216·4096, fc7 4096², fc8 4096·1000
    assert c.fp_macs == 105_415_200 + 447_897_600 + 149_520_384 + 224_280_576 + 149_520_384 + 58_621_952
    share = c.share("eff_macs")
    assert share["fc"] + share["classifier"] == pytest.approx(0.0516, abs=1e-3)  # FC: ~5% of the MACs
    assert c.share("bits")["fc"] + c.share("bits")["classifier"] > 0.93  # ... and ~94% of the parameters
    assert tac.account(net.set_variant("xnor_all")).speedup == pytest.approx(9.0, abs=0.1)
    assert tac.account(net.set_variant("xnor_conv")).speedup == pytest.approx(6.3, abs=0.1)
    with torch.no_grad():
        out = net.set_variant("xnor_all").eval()(torch.randn(1, 3, 227, 227))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


def test_cifar_paper_preset_parameter_count_and_forward():
    net = build_net(tac.from_params(preset="paper_cifar"), "xnor_all")
    assert _n(net) == CIFAR_BNN_PARAMS
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_paper_presets_need_data_root(tmp_path):
    with pytest.raises(DataRootError, match="needs data_root"):
        load_data(tac.from_params(preset="paper_cifar"))
    with pytest.raises(DataRootError, match="ImageNet-style folders"):
        load_data(tac.from_params(preset="paper", data_root=str(tmp_path)))
