"""Chapter 1 (TAC): unit tests of binarization, FC compression, the accountant and the variants."""

import pytest
import torch

from reprobook import tac
from reprobook.tac.accounting import account, output_sizes
from reprobook.tac.binarize import alpha, bin_active, center_and_clamp_, xnor_weight, xnor_weight_grad
from reprobook.tac.compress import (assign, enforce_masks, kmeans_1d, linear_codebook, magnitude_mask,
                                    sparse_entries, weight_sharing)
from reprobook.tac.model import BINARY_GROUPS, TACNet


# --- binarization ----------------------------------------------------------------------------
def test_bin_active_sign_and_clipped_ste():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    y = bin_active(x)
    assert y.tolist() == [-1, -1, -1, 0, 1, 1, 1]
    y.backward(torch.full_like(x, 3.0))
    assert x.grad.tolist() == [0, 0, 3, 3, 3, 0, 0]  # passes only where |x| < 1


def test_alpha_is_mean_abs_per_output_filter():
    W = torch.tensor([[1.0, -2.0], [0.5, 0.5]])
    assert alpha(W).flatten().tolist() == [1.5, 0.5]
    Wc = torch.arange(24.0).view(2, 3, 2, 2) - 12
    assert torch.allclose(alpha(Wc).flatten(), Wc.abs().flatten(1).mean(1))
    assert torch.equal(xnor_weight(Wc), alpha(Wc) * Wc.sign())


def test_xnor_weight_gradient_hand_computed():
    # one filter, c_in = n = 4: α = 0.625, Σ g·sign(W) = 1 − 2 − 1 − 0.5 = −2.5
    W = torch.tensor([[0.5, -0.25, 0.75, -1.0]], requires_grad=True)
    g = torch.tensor([[1.0, 2.0, -1.0, 0.5]])
    xnor_weight(W, rescale=False).backward(g)
    # α·g + sign(W)·(−2.5)/4
    assert torch.allclose(W.grad, torch.tensor([[0.0, 1.875, -1.25, 0.9375]]))
    W.grad = None
    xnor_weight(W, rescale=True).backward(g)
    assert torch.allclose(W.grad, 3.0 * torch.tensor([[0.0, 1.875, -1.25, 0.9375]]))  # (1 − 1/4)·4 = 3


def test_xnor_gradient_is_autograd_of_alpha_sign_with_clipped_ste():
    torch.manual_seed(0)
    W = (torch.rand(3, 4, 3, 3) * 2.4 - 1.2)  # some |W| > 1: the STE is clipped there
    g = torch.randn(3, 4, 3, 3)
    Wr = W.clone().requires_grad_(True)
    ste = torch.where(Wr.abs() <= 1, Wr, Wr.detach())  # identity gradient only where |W| ≤ 1
    ref = alpha(Wr) * (ste + (Wr.sign() - ste).detach())
    ref.backward(g)
    assert torch.allclose(xnor_weight_grad(W, g, rescale=False), Wr.grad, atol=1e-6)


def test_center_and_clamp():
    W = torch.tensor([[[[3.0]], [[-1.0]], [[0.0]]], [[[0.2]], [[0.4]], [[0.6]]]])  # [2, 3, 1, 1]
    center_and_clamp_(W)
    assert W.flatten().tolist() == pytest.approx([1.0, -1.0, -0.6666667, -0.2, 0.0, 0.2])


def test_binary_layer_keeps_latent_weights_and_optimizer_updates_them():
    torch.manual_seed(0)
    net = TACNet(variant="xnor_all")
    lay = net.layer("fc7")
    before = lay.op.weight.detach().clone()
    net.train()
    net.prepare_binary_()
    after_prep = lay.op.weight.detach().clone()
    assert torch.allclose(after_prep, center_and_clamp_(before.clone()))
    out = net(torch.rand(4, 1, 8, 8))
    assert torch.equal(lay.op.weight.detach(), after_prep)  # the forward pass never overwrites W
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    out.sum().backward()
    assert lay.op.weight.grad is not None and lay.op.weight.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(lay.op.weight.detach(), after_prep)  # latent (real) weights are updated


def test_binary_block_sees_only_signs():
    torch.manual_seed(0)
    net = TACNet(variant="xnor_all").eval()
    lay = net.layer("fc6")
    x = torch.randn(5, lay.spec.c_in)
    h = lay.bn(x)
    W = lay.effective_weight()
    assert set(W.sign().unique().tolist()) <= {-1.0, 1.0}
    assert torch.allclose(W.abs(), alpha(lay.op.weight).expand_as(W))
    ref = torch.relu(torch.nn.functional.linear(h.sign(), W, lay.op.bias))
    assert torch.allclose(lay(x), ref)


@pytest.mark.parametrize("variant", tac.VARIANTS)
def test_first_conv_and_classifier_stay_full_precision(variant):
    net = TACNet(variant=variant)
    for lay in net.layers():
        assert lay.binary == (lay.spec.group in BINARY_GROUPS[variant])
        if lay.spec.group in ("first", "classifier"):
            assert not lay.binary
    assert net(torch.rand(3, 1, 8, 8)).shape == (3, 10)


# --- FC compression --------------------------------------------------------------------------
def test_magnitude_mask_hand_example_and_ties():
    W = torch.tensor([3.0, -1.0, 0.5, -4.0, 2.0])
    assert magnitude_mask(W, 0.4).tolist() == [True, False, False, True, True]
    tied = torch.tensor([1.0, -1.0, 1.0, 0.1])
    assert magnitude_mask(tied, 0.5, tiebreak=torch.tensor([0.9, 1.1, 1.0, 5.0])).tolist() == [False, True, True, False]
    with pytest.raises(ValueError, match="pruning rate"):
        magnitude_mask(W, 1.0)


def test_kmeans_and_uniform_codebooks():
    v = torch.tensor([0.0, 0.1, 0.9, 1.0])
    c, idx = kmeans_1d(v, 1)
    assert c.tolist() == pytest.approx([0.05, 0.95]) and idx.tolist() == [0, 0, 1, 1]
    assert linear_codebook(torch.tensor([-1.0, 2.0]), 2).tolist() == pytest.approx([-1, 0, 1, 2])
    assert assign(torch.tensor([-0.6, 0.49, 0.5, 1.7]), torch.tensor([1.0, -1.0, 0.0, 2.0])).tolist() == [1, 2, 2, 3]
    W = torch.tensor([[-1.0, 0.2, 0.0, 3.0]])
    mask = torch.tensor([[True, True, False, True]])
    cu, iu = weight_sharing(W, mask, 2, method="uniform")
    assert cu.tolist() == pytest.approx([-1.0, 1 / 3, 5 / 3, 3.0])  # grid over the kept weights only
    assert iu.tolist() == [[0, 1, 1, 3]]
    with pytest.raises(ValueError, match="quantizer must be one of kmeans, uniform"):
        weight_sharing(W, None, 2, method="lloyd")


def test_codebook_gradient_is_sum_of_member_gradients():
    torch.manual_seed(0)
    net = TACNet(variant="tac")
    lay = net.layer("fc7")
    lay.prune_(0.75)
    lay.quantize_(3)
    x = torch.randn(6, lay.spec.c_in)
    lay.train()
    lay(x).pow(2).sum().backward()
    # reference: the same computation with an explicit weight tensor
    W = (lay.codebook.detach()[lay.index] * lay.mask).requires_grad_(True)
    h = lay.bn(x)
    torch.relu(torch.nn.functional.linear(h, W, lay.op.bias)).pow(2).sum().backward()
    gW = W.grad * lay.mask
    ref = torch.zeros(8).index_add_(0, lay.index.flatten(), gW.flatten())
    assert torch.allclose(lay.codebook.grad, ref, atol=1e-5)
    assert lay.op.weight.grad is None  # the latent weights are no longer trained


def test_pruned_weights_never_regrow():
    torch.manual_seed(0)
    net = TACNet(variant="tac")
    lay = net.layer("fc6")
    lay.prune_(0.9)
    assert lay.mask.float().mean().item() == pytest.approx(0.1, abs=1e-4)
    opt = torch.optim.Adam(net.head.parameters(), lr=1e-2, weight_decay=1e-3)
    feats = torch.randn(8, net.layer("fc6").spec.c_in)
    for _ in range(3):
        loss = net.head(feats).logsumexp(1).sum()
        opt.zero_grad()
        loss.backward()
        enforce_masks(list(net.head), opt)
        assert lay.op.weight.grad[~lay.mask].abs().sum() == 0
        opt.step()
        enforce_masks(list(net.head), opt, grads=False)
    W = lay.op.weight.detach()
    assert W[~lay.mask].abs().sum() == 0 and W[lay.mask].abs().min() > 0
    st = opt.state[lay.op.weight]
    assert st["exp_avg"][~lay.mask].abs().sum() == 0 and st["exp_avg_sq"][~lay.mask].abs().sum() == 0


def test_sparse_entries_relative_index_fillers():
    mask = torch.zeros(40, dtype=torch.bool)
    mask[[0, 20, 21, 39]] = True
    # distances 1, 20, 1, 18 with 3-bit gaps (≤ 8): fillers 0 + 2 + 0 + 2
    assert sparse_entries(mask, 3) == 8
    assert sparse_entries(mask, 5) == 4
    assert sparse_entries(torch.zeros(5, dtype=torch.bool), 4) == 0


# --- the accountant --------------------------------------------------------------------------
DIGITS_MACS = {"conv1": 8 * 8 * 32 * 49, "conv2": 8 * 8 * 32 * 32 * 9, "conv3": 4 * 4 * 32 * 32 * 9,
               "fc6": 128 * 192, "fc7": 192 * 192, "fc8": 192 * 10}


def test_accounting_fp_and_binary_hand_computed():
    net = TACNet(variant="fp")
    assert output_sizes(net) == {"conv1": 8, "conv2": 8, "conv3": 4}
    c = account(net)
    assert c.bits == 32 * sum(p.numel() for p in net.parameters())
    assert c.fp_macs == sum(DIGITS_MACS.values()) == 900_992
    assert c.compression == 1.0 and c.speedup == 1.0
    m = DIGITS_MACS
    xa = account(net.set_variant("xnor_all"))
    assert xa.eff_macs == pytest.approx(m["conv1"] + (m["conv2"] + m["conv3"] + m["fc6"] + m["fc7"]) / 64 + m["fc8"])
    assert xa.speedup == pytest.approx(900_992 / 114_752)
    fc6 = [r for r in xa.rows if r.name == "fc6"][0]
    assert fc6.bits == 128 * 192 + 32 * (192 + 192)  # 1-bit weights + α and bias per output
    xc = account(net.set_variant("xnor_conv"))
    assert xc.speedup == pytest.approx(900_992 / 175_232)


def test_book_network_has_alexnet_like_shares():
    """Once conv2-3 are binary, the full-precision conv1 and the FC layers share the remaining MACs
    about as in XNOR-Net's AlexNet (so binarizing FC buys about as little); FC layers hold most weights."""
    from reprobook.tac.figures import type_shares

    book, alex = type_shares("digits"), type_shares("alexnet")
    for t in ("first", "fc"):
        assert abs(book[t]["conv_only_macs"] - alex[t]["conv_only_macs"]) < 0.06, t
    assert book["fc"]["fp_macs"] < 0.1 and book["fc"]["params"] > 0.7 and book["first"]["params"] < 0.03
    # what binarizing FC multiplies XNOR conv-only's speed-up by: within 10 % of AlexNet's factor
    gain = {a: account(TACNet(arch=a, variant="xnor_all")).speedup / account(TACNet(arch=a, variant="xnor_conv")).speedup
            for a in ("digits", "alexnet")}
    assert gain["digits"] == pytest.approx(gain["alexnet"], rel=0.1)


def test_accounting_pruned_and_shared():
    torch.manual_seed(0)
    net = TACNet(variant="tac")
    lay = net.layer("fc7")
    lay.prune_(0.9)
    r = [x for x in account(net, index_bits=4).rows if x.name == "fc7"][0]
    nnz = int(lay.mask.sum())
    assert r.treatment == "pruned" and r.eff_macs == pytest.approx(nnz)  # one MAC per kept weight
    assert r.bits == sparse_entries(lay.mask, 4) * (32 + 4) + 32 * 192
    lay.quantize_(5)
    r = [x for x in account(net, index_bits=4).rows if x.name == "fc7"][0]
    assert r.treatment == "pruned+shared"
    assert r.bits == sparse_entries(lay.mask, 4) * (5 + 4) + 32 * 32 + 32 * 192


# --- configs and data ------------------------------------------------------------------------
def test_config_presets_and_errors():
    assert tac.from_params().arch == "digits"
    assert tac.from_params(smoke=True).fp_steps == 20
    assert tac.from_params(bits=None).bits == 5
    assert tac.from_params(sweep_rates=[0.5]).sweep_rates == (0.5,)
    with pytest.raises(ValueError, match="choose one of: book, paper, paper_cifar"):
        tac.from_params(preset="large")
    with pytest.raises(ValueError, match="quantizer must be one of kmeans, uniform"):
        tac.from_params(quantizer="lloyd")
    with pytest.raises(ValueError, match="bits must be integers between 1 and 16"):
        tac.from_params(bits=0)
    with pytest.raises(ValueError, match=r"pruning rates must be in \[0, 1\)"):
        tac.from_params(prune_rate=1.0)
    with pytest.raises(ValueError, match="order must be one of prune_quantize, quantize_prune"):
        tac.from_params(order="both")
    with pytest.raises(ValueError, match="unknown parameter 'epochs'"):
        tac.from_params(epochs=3)
    with pytest.raises(ValueError, match="unknown variant 'bnn'"):
        TACNet(variant="bnn")


def test_digits_hard_is_fixed_and_harder():
    from reprobook.engine.data import digits, get_dataset
    from reprobook.tac.data import digits_hard

    a, b = digits_hard(split="test"), get_dataset("digits_hard", split="test")
    assert torch.equal(a.tensors[0], b.tensors[0]) and a.tensors[0].shape == (450, 1, 8, 8)
    x = a.tensors[0]
    assert x.min() >= 0 and x.max() <= 1
    assert torch.equal(a.tensors[1], digits(split="test").tensors[1])
    assert (x - digits(split="test").tensors[0]).abs().mean() > 0.05
