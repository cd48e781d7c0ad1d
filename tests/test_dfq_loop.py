"""Chapters 4-5: the training loop's update order, schedules, methods, configs, reproducibility."""

import dataclasses

import pytest
import torch

from reprobook import dfq
from reprobook.dfq import adadfq, adasg
from reprobook.dfq.methods import GDFQ, Method
from reprobook.dfq.models import build_model
from reprobook.dfq.quant import quant_acts
from reprobook.dfq.train import DFQTrainer, Schedule


def _trainer(method=None, **sched):
    torch.manual_seed(0)
    P = build_model("digits_resnet", classes=10, in_channels=1, units=1, widths=(4, 8, 8)).eval()
    s = Schedule(**{"epochs": 2, "iters_per_epoch": 2, "warmup_epochs": 1, "calib_epochs": 1, "lr_steps": (1,), **sched})
    return DFQTrainer(P, method=method or adasg.adasg_method(), bits=3, classes=10, img_size=8, channels=1,
                      schedule=s, gen_width=16)


def test_update_order_same_detached_batch_and_warmup():
    tr = _trainer()
    calls = []
    tr.Q.register_forward_hook(lambda m, inp, out: calls.append((inp[0].requires_grad, inp[0].detach().clone(),
                                                                tr.G.l1.weight.detach().clone())))
    q0 = [p.detach().clone() for p in tr.Q.parameters()]
    g0 = tr.G.l1.weight.detach().clone()
    tr.step(None, 1)  # epoch 0: warm-up
    (rg1, x1, g_at1), (rg2, x2, g_at2) = calls
    assert rg1 and not rg2  # first forward carries G's graph, the Q step uses x.detach()
    assert torch.equal(x1, x2)  # the same batch
    assert torch.equal(g_at1, g0) and not torch.equal(g_at2, g0)  # G stepped before Q's second forward
    assert all(torch.equal(a, b) for a, b in zip(q0, tr.Q.parameters()))  # warm-up: Q does not learn
    tr.step(None, 3)  # epoch 1: Q learns
    assert any(not torch.equal(a, b) for a, b in zip(q0, tr.Q.parameters()))
    assert not any(p.requires_grad for p in tr.P.parameters())
    assert not tr.Q.training and not tr.P.training and tr.G.training


def test_range_calibration_only_in_calib_epochs():
    tr = _trainer()
    tr.step(None, 1)
    assert all(a.updates.item() == 2 for a in quant_acts(tr.Q))  # two Q forwards per iteration
    tr.step(None, 3)  # epoch 1 >= calib_epochs: frozen
    assert all(a.updates.item() == 2 for a in quant_acts(tr.Q))


def test_multistep_schedule():
    s = Schedule(lr_steps=(100, 200, 300))
    assert [s.lr_factor(e) for e in (0, 99, 100, 199, 200, 399)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.001])
    tr = _trainer(lr_steps=(1,))
    tr.step(None, 3)  # epoch 1: 1 + 1 > 1
    assert tr.opt_Q.param_groups[0]["lr"] == pytest.approx(1e-5) and tr.opt_G.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_method_losses():
    torch.manual_seed(0)
    z_p, z_q, y = torch.randn(16, 10), torch.randn(16, 10), torch.randint(0, 10, (16,))
    h = dfq.methods.h_prime(z_p, z_q)
    bns = torch.tensor(0.5)
    m = adasg.adasg_method()
    parts = m.g_loss(z_p, z_q, y, bns, h)
    assert parts["loss_G"].item() == pytest.approx((parts["margin"] + parts["bal"] + bns).item())
    assert (m.lambda_l, m.lambda_u, m.alpha_ds, m.alpha_as) == (0.3, 0.8, 0.1, 0.1)
    no_band = dataclasses.replace(m, hinge=False).g_loss(z_p, z_q, y, bns, h)
    assert "margin" not in no_band
    assert set(GDFQ.g_loss(z_p, z_q, y, bns, h)) == {"loss_G"}
    with pytest.raises(ValueError, match="kind must be one of"):
        Method("x", kind="other")


def test_adadfq_tables_and_ablations():
    assert adadfq.hyperparameters("resnet20", 3) == (0.2, 0.1, 0.1, 0.8)
    assert adadfq.hyperparameters("resnet50", 3) == (0.2, 0.1, 0.4, 0.8)
    assert adadfq.hyperparameters("resnet18", 5) == (0.3, 0.1, 0.3, 0.8)
    ab = adadfq.ablations("resnet20", 3)
    assert ab["w/o L_ds"].alpha_ds == 0 and ab["w/o L_as"].alpha_as == 0 and ab["AdaDFQ"].alpha_ds == 0.2


def test_balance_gap_helpers():
    trace = {"step": [5, 10, 15, 20], "R_max": [0.5, 0.6, 0.4, 0.45], "R_min": [0.5, 0.3, 0.45, 0.44]}
    g = adasg.balance_gap(trace)
    assert g["gap"] == pytest.approx([0.0, 0.3, 0.05, 0.01])
    assert adasg.gap_early_late(trace, iters_per_epoch=10, warmup_epochs=0) == pytest.approx((0.15, 0.03))


def test_config_presets_and_errors():
    cfg = dfq.adasg_from_params()
    assert (cfg.bits, cfg.extension_bits, cfg.batch_size, cfg.temperature) == (3, 2, 16, 20.0)
    paper = dfq.adadfq_from_params(preset="paper")
    assert (paper.model, paper.epochs, paper.iters_per_epoch, paper.lr_q, paper.lr_steps) == \
        ("resnet20", 400, 200, 1e-4, (100, 200, 300))
    for presets in (dfq.ADASG_PRESETS, dfq.ADADFQ_PRESETS):  # the official ResNet-50 configs, per bit width
        r50, r50_5 = presets["paper_imagenet_r50"], presets["paper_imagenet_r50_w5"]
        assert (r50.bits, r50.warmup_epochs, r50.lr_steps, r50.temperature) == (4, 50, (200, 300, 400), 5.0)
        assert (r50_5.bits, r50_5.warmup_epochs, r50_5.lr_steps) == (5, 50, (350, 400))
        # every paper preset trains with the official (bias-corrected) range EMA; the book keeps the plain fix
        assert {p.ema for k, p in presets.items() if k.startswith("paper")} == {"bias_corrected"}
        assert presets["book"].ema == "plain"
    with pytest.raises(ValueError, match="from 2 to 8"):
        dfq.adasg_from_params(bits=9)
    with pytest.raises(ValueError, match="choose one of: book, evidence, paper"):
        dfq.adasg_from_params(preset="huge")
    with pytest.raises(ValueError, match="lambda_l <= lambda_u"):
        dfq.adadfq_from_params(lambda_l=0.9, lambda_u=0.2)
    with pytest.raises(ValueError, match="does not fit dataset"):
        dfq.adasg_from_params(model="resnet20")
    with pytest.raises(ValueError, match="unknown parameter"):
        dfq.adasg_from_params(lr=0.1)


def test_run_is_reproducible_and_resumes(tmp_path, monkeypatch):
    from reprobook.dfq import experiment

    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    cfg = dfq.adasg_from_params(smoke=True, device="cpu", fp_epochs=1)
    prep = experiment.prepare(cfg, progress=False)
    a = experiment.dfq_run(prep, adasg.adasg_method(), bits=3, seed=0, trace=True, progress=False)
    for p in (tmp_path / "checkpoints").glob("adasg-AdaSG*"):
        p.unlink()
    b = experiment.dfq_run(prep, adasg.adasg_method(), bits=3, seed=0, trace=True, progress=False)
    assert a.test_acc == b.test_acc and a.trace == b.trace and len(a.trace["step"]) == cfg.epochs * cfg.iters_per_epoch
    c = experiment.dfq_run(prep, adasg.adasg_method(), bits=3, seed=0, trace=True, progress=False)  # from checkpoint
    assert c.test_acc == a.test_acc and c.history.series("H") == a.history.series("H")
