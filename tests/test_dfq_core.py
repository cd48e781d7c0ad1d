"""Chapters 4-5 shared core: quantizer, adaptability, losses, generator against hand-computed values."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from reprobook.dfq import adaptability as A
from reprobook.dfq import losses as L
from reprobook.dfq.generator import Generator
from reprobook.dfq.models import build_model
from reprobook.dfq.quant import (QuantAct, QuantConv2d, QuantLinear, fake_quantize, frozen_ranges, quant_acts,
                                 quantize_model, quantize_weight, set_running_stat)


# ---- quantizer ------------------------------------------------------------------------------

def test_weight_quantization_hand_values_per_channel():
    # row 0: range [0, 3], 2 bits: s = 1, z = 2, q = clamp(round(w - 2), -2, 1), w_hat = q + 2
    # row 1: range [0, 6], 2 bits: s = 0.5, z = 2, w_hat = (clamp(round(w/2 - 2), -2, 1) + 2) * 2
    w = torch.tensor([[0.0, 0.4, 0.6, 3.0], [0.0, 1.2, 3.2, 6.0]])
    expected = torch.tensor([[0.0, 0.0, 1.0, 3.0], [0.0, 2.0, 4.0, 6.0]])
    assert torch.allclose(quantize_weight(w, 2), expected)


def test_weight_quantization_levels_and_zero():
    torch.manual_seed(0)
    w = torch.randn(3, 5, 3, 3)
    for bits in (2, 3, 4):
        w_hat = quantize_weight(w, bits)
        for row in w_hat.view(3, -1):
            assert len(torch.unique(row.round(decimals=5))) <= 2**bits
    assert torch.equal(quantize_weight(torch.zeros(2, 4), 3), torch.zeros(2, 4))  # constant rows: no NaN


def test_straight_through_gradients():
    w = torch.randn(4, 6, requires_grad=True)
    (quantize_weight(w, 3) * torch.arange(6.0)).sum().backward()
    assert torch.equal(w.grad, torch.arange(6.0).expand(4, 6))  # identity STE, no clipping mask
    act = QuantAct(bits=2)
    x = (torch.rand(8, 3) * 5).requires_grad_()
    act(x).sum().backward()
    assert torch.equal(x.grad, torch.ones(8, 3))
    assert act.x_min.grad is None and not act.x_min.requires_grad  # no gradient to the ranges


def test_activation_ema_plain_and_official():
    act = QuantAct(bits=4)
    act(torch.tensor([0.0, 2.0]))
    assert act.x_max.item() == pytest.approx(2.0)  # plain EMA starts at the first batch
    act(torch.tensor([0.0, 4.0]))
    assert act.x_max.item() == pytest.approx(0.9 * 2 + 0.1 * 4)
    off = QuantAct(bits=4, ema="bias_corrected")
    off(torch.tensor([0.0, 1.0]))
    assert off.x_max.item() == pytest.approx(1.0)  # (0.9·0 + 0.1·1)/(1 − 0.9)
    off(torch.tensor([0.0, 1.0]))
    assert off.x_max.item() == pytest.approx(1.0 / 0.19, rel=1e-5)  # recursive: (0.9·1 + 0.1·1)/(1 − 0.81) = 5.26
    set_running_stat(off, False)
    before = off.x_max.clone()
    off(torch.tensor([0.0, 100.0]))
    assert torch.equal(off.x_max, before)


def test_activation_quantization_hand_values():
    act = QuantAct(bits=2)
    set_running_stat(act, False)
    act.x_min.fill_(0.0), act.x_max.fill_(3.0)
    out = act(torch.tensor([0.2, 0.6, 1.4, 2.6, 5.0]))  # 4 levels 0,1,2,3, clipped at 3
    assert torch.allclose(out, torch.tensor([0.0, 1.0, 1.0, 3.0, 3.0]))
    assert torch.allclose(fake_quantize(torch.tensor([1.6]), torch.tensor(0.0), torch.tensor(3.0), 2), torch.tensor([2.0]))


def test_quantize_model_structure_and_copy():
    P = build_model("digits_resnet", classes=10, in_channels=1, units=1, widths=(4, 8, 8))
    n_relu = sum(isinstance(m, nn.ReLU) for m in P.modules())
    n_conv = sum(type(m) is nn.Conv2d for m in P.modules())
    Q = quantize_model(P, w_bits=3, a_bits=3)
    assert len(quant_acts(Q)) == n_relu == 1 + 3 * 2  # stem + 2 per unit (block activation + after the sum)
    assert sum(isinstance(m, QuantConv2d) for m in Q.modules()) == n_conv
    assert isinstance(Q.output, QuantLinear)
    assert all(type(m) is not nn.Conv2d for m in Q.modules())
    assert sum(isinstance(m, nn.Conv2d) and not isinstance(m, QuantConv2d) for m in P.modules()) == n_conv  # P untouched
    assert sum(isinstance(m, nn.BatchNorm2d) for m in Q.modules()) == sum(isinstance(m, nn.BatchNorm2d) for m in P.modules())
    with frozen_ranges(Q):
        assert not any(a.running_stat for a in quant_acts(Q))
    assert all(a.running_stat for a in quant_acts(Q))


@pytest.mark.parametrize("bits", [1, 9, 3.0, True])
def test_bad_bits_raise_one_clear_error(bits):
    P = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with pytest.raises(ValueError, match="from 2 to 8"):
        quantize_model(P, w_bits=bits, a_bits=3)


# ---- adaptability and losses ----------------------------------------------------------------

def test_entropy_and_normalized_entropy_hand_values():
    C = 4
    z_q = torch.zeros(3, C)
    z_p = torch.tensor([[0.0, 0, 0, 0], [10.0, 0, 0, 0], [math.log(3.0), 0, 0, 0]])
    H = A.entropy(z_p - z_q)
    p = torch.tensor([0.5, 1 / 6, 1 / 6, 1 / 6])
    assert H[0].item() == pytest.approx(math.log(C))
    assert H[2].item() == pytest.approx(-(p * p.log()).sum().item(), rel=1e-6)
    h = A.normalized_entropy(z_p, z_q)
    assert h[1].item() == 0.0 and h[0].item() == pytest.approx(1.0)  # batch argmin at 0, uniform at 1
    assert h[2].item() == pytest.approx(((H[2] - H[1]) / (math.log(C) - H[1])).item())
    assert torch.allclose(A.adaptability(z_p, z_q), 1 - h)
    assert torch.allclose(A.entropy_ratio(z_p, z_q), H / math.log(C))


def test_normalization_min_is_not_detached():
    z_p = torch.tensor([[2.0, 0, 0], [1.0, 0, 0]], requires_grad=True)
    h = A.normalized_entropy(z_p, torch.zeros(2, 3))
    h[1].backward()
    # row 0 is the batch argmin; its logits reach h[1] only through min(H), which must not be detached
    assert z_p.grad[0].abs().sum() > 0


def test_margin_and_balance_losses():
    h = torch.tensor([0.0, 0.5, 0.9])
    assert A.margin_loss(h, lambda_l=0.1, lambda_u=0.8).item() == pytest.approx(0.1 / 3 + 0.1 / 3)
    assert A.margin_loss(h, lambda_l=0.0, lambda_u=1.0).item() == 0.0
    torch.manual_seed(0)
    z_p, z_q, y = torch.randn(5, 10), torch.randn(5, 10), torch.randint(0, 10, (5,))
    expected = 0.2 * F.cross_entropy(z_p - z_q, y) + 0.1 * F.cross_entropy(z_p + z_q, y)
    assert A.balance_loss(z_p, z_q, y, alpha_ds=0.2, alpha_as=0.1).item() == pytest.approx(expected.item())
    with pytest.raises(ValueError, match="lambda_l <= lambda_u"):
        A.check_band(0.9, 0.2)


def test_q_loss_adaptive_formula_detach_and_large_T():
    torch.manual_seed(0)
    z_p = torch.randn(6, 10, requires_grad=True)
    z_q = torch.randn(6, 10, requires_grad=True)
    T = 20.0
    d = (z_p - z_q) / T
    expected = -(T**2) * (-(F.softmax(d, 1) * F.log_softmax(d, 1)).sum(1)).mean()
    loss = L.q_loss_adaptive(z_p, z_q, T=T)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert z_p.grad is None and z_q.grad is not None  # only Q learns
    # large T: −T² log C + ½ Var_c(z_p − z_q) (population variance), to leading order
    approx = -(T**2) * math.log(10) + 0.5 * (z_p - z_q).detach().var(1, unbiased=False).mean().item()
    assert loss.item() == pytest.approx(approx, abs=0.05)
    shifted = L.q_loss_adaptive(z_p, z_q + 3.0, T=T)
    assert shifted.item() == pytest.approx(loss.item(), rel=1e-5)  # shift invariant


def test_gdfq_losses():
    torch.manual_seed(1)
    z_p, z_q, y = torch.randn(4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
    kl = F.kl_div(F.log_softmax(z_q / 20, 1), F.softmax(z_p / 20, 1), reduction="sum") / (4 * 10)
    assert L.q_loss_gdfq(z_p, z_q, y).item() == pytest.approx((400 * kl + F.cross_entropy(z_q, y)).item(), rel=1e-5)
    assert L.g_loss_gdfq(z_p, y, torch.tensor(2.0)).item() == pytest.approx(F.cross_entropy(z_p, y).item() + 0.2)


def test_bns_loss_hand_value_and_hook_count():
    bn = nn.BatchNorm2d(2).eval()
    bn.running_mean.copy_(torch.tensor([1.0, -1.0])), bn.running_var.copy_(torch.tensor([2.0, 0.5]))
    P = nn.Sequential(bn)
    bns = L.BNSLoss(P)
    x = torch.tensor([[[[0.0, 2.0]], [[1.0, 1.0]]]])  # [1, 2, 1, 2]: means (1, 1), biased vars (1, 0)
    P(x)
    expected = ((1 - 1) ** 2 + (1 + 1) ** 2) / 2 + ((1 - 2) ** 2 + (0 - 0.5) ** 2) / 2
    assert bns.loss().item() == pytest.approx(expected)
    bns.remove()
    assert not bn._forward_hooks
    r20 = build_model("resnet20", classes=10)
    assert len(L.BNSLoss(r20).bns) == 21  # 19 conv BNs + 2 shortcut BNs (pytorchcv ResNet-20)


def test_generator_quirks_and_output():
    torch.manual_seed(0)
    G = Generator(classes=10, img_size=8, channels=1)
    bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [b.eps for b in bns] == [1e-5, 0.8, 0.8, 1e-5]
    assert bns[-1].affine is False
    x = G(torch.randn(16, 100), torch.randint(0, 10, (16,)))
    assert x.shape == (16, 1, 8, 8)
    assert x.mean().abs().item() < 1e-5 and x.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="multiple of 4"):
        Generator(classes=10, img_size=10)
