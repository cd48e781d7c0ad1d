"""``reprobook train strdiffusion``: global-batch draws, D's one-forward scores, the record at the paper preset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reprobook import strdiffusion
from reprobook.cli import main
from reprobook.engine import distributed
from reprobook.strdiffusion import losses
from reprobook.strdiffusion.discriminator import Discriminator, ThreeScores
from reprobook.strdiffusion.sde import IRSDE


def test_share_slices_the_global_draws(monkeypatch):
    """Two processes' draws, put together, are the one-process draws (also for a transposed batch)."""
    sde = IRSDE(T=10)
    like = torch.zeros(4, 5, 6, 6).transpose(-1, -2)[:, :3]  # the layout after the training flips
    torch.manual_seed(0)
    whole = losses.Share(4).t(sde), losses.Share(4).randn(like)
    parts = []
    for rank in range(2):
        monkeypatch.setattr(distributed, "_CTX", distributed.Context(rank=rank, world_size=2))
        torch.manual_seed(0)
        share = losses.Share(4, distributed.local_slice(4))
        parts.append((share.t(sde), share.randn(like[2 * rank:2 * rank + 2])))
    monkeypatch.setattr(distributed, "_CTX", distributed.Context())
    assert torch.equal(torch.cat([parts[0][0], parts[1][0]]), whole[0])
    assert torch.equal(torch.cat([parts[0][1], parts[1][1]]), whole[1])
    torch.manual_seed(0)  # one process: the draw is randn_like of the batch itself, as before the refactor
    losses.Share(4).t(sde)
    assert torch.equal(whole[1], torch.randn_like(like))


def test_three_scores_is_three_discriminator_calls():
    torch.manual_seed(0)
    D = Discriminator(nc=4, ngf=4, t_emb_dim=16)
    t, S = torch.tensor([3, 4, 5, 6]), torch.rand(4, 1, 16, 16)
    y = [torch.rand(4, 3, 16, 16) for _ in range(3)]
    got = ThreeScores(D)(t, *y, S)
    for g, yi in zip(got, y):
        assert torch.equal(g, D(t, yi, S))


def _write_images(folder, n, rng):
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):  # non-square, so the centre crop and resize are exercised
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")


TINY = ["size=32", "nf=8", "depth=2", "dim_head=8", "d_ngf=8", "canny_sigma=1.0", "T=5", "batch_size=4",
        "n_test=1", "u_max=1", "u_min=1", "sweep_splits=(0.4,)", "steps_structure=2", "steps_texture=2",
        "steps_irsde=2", "steps_disc=2"]


def test_paper_preset_on_an_image_folder_writes_the_record(tmp_path):
    rng = np.random.default_rng(0)
    _write_images(tmp_path / "data" / "train", 8, rng)
    _write_images(tmp_path / "data" / "test", 4, rng)
    out = tmp_path / "run"
    sets = [a for s in TINY for a in ("--set", s)]
    assert main(["train", "strdiffusion", "--preset", "paper", "--data-root", str(tmp_path / "data"), "--quiet",
                 "--out", str(out), *sets]) == 0
    rec = json.loads((out / "results.json").read_text())
    assert rec["parameters"]["preset"] == "paper" and rec["parameters"]["data"] == "folder"
    assert set(rec["metrics"]) == {"per_bin", "mean", "split_sweep_psnr", "resampling", "d_separation", "training",
                                     "fills", "d_separation_counts", "d_separation_full_inputs", "sampling_seeds",
                                     "n_images"}
    assert set(rec["metrics"]["mean"]) == {"IR-SDE", "+ structure", "+ resampling", "paper rule", "masked edges",
                                         "ideal structure"}
    assert rec["metrics"]["training"]["disc"]["source"] == "trained in this run"
    ids = [c["id"] for c in rec["claims"]]
    assert ids[:8] == ["check-guided-beats-mean-fill", "check-d-separates", "goal-beats-harmonic-in-hole",
                       "1a-structure-sparse-early", "1b-guidance-matters-early", "2a-structure-beats-irsde",
                       "2b-gain-grows-with-hole", "3-resampling-helps"]
    assert ids[8:] == ["4-psnr-beats-irsde", "4-ssim-beats-irsde", "5-psnr-reaches-paper", "5-ssim-reaches-paper"]
    assert all(c["verdict"] in ("holds", "does not hold", "inconclusive", "not tested") for c in rec["claims"])
    assert "33.17" in rec["claims"][10]["paper"]
    assert [c["kind"] for c in rec["claims"]] == ["check"] * 4 + ["paper"] * 8 and rec["claims"][3]["by_construction"]
    assert set(rec["baselines"]) == {"harmonic fill PSNR", "harmonic fill SSIM", "mean-colour fill PSNR",
                                     "mean-colour fill SSIM"}
    hist = json.loads((out / "history.json").read_text())
    assert list(hist) == ["structure", "texture", "irsde", "disc"]
    assert set(hist["disc"]["metrics"]) == {"loss", "d_real", "d_fake"}
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == \
        ["disc.pt", "irsde.pt", "structure.pt", "texture.pt"]


@pytest.mark.parametrize("argv, message", [
    (["--preset", "book", "--set", "T=2"], "T must be >= 5"),
    (["--preset", "paper"], "the paper preset needs data_root"),
])
def test_bad_settings_fail_with_one_line(tmp_path, capsys, argv, message):
    assert main(["train", "strdiffusion", *argv, "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_weights_grid_trains_every_network_and_ships_loadable_fp16_weights(tmp_path, monkeypatch):
    from reprobook import strdiffusion
    from reprobook.engine import evidence
    from reprobook.strdiffusion.fitting import GRID, NETS, net_from_state

    assert GRID.seeds == 1 and GRID.arms == NETS
    monkeypatch.setenv(evidence.EVIDENCE_DIR_ENV, str(tmp_path / "work"))
    out = tmp_path / "rec" / "strdiffusion.json"
    evidence.run_grid("strdiffusion", seeds=1, smoke=True, out=out, progress=False)
    rec = evidence.EvidenceRecord(json.loads(out.read_text()), out, GRID)
    assert rec.data["command"].startswith("reprobook evidence strdiffusion --seeds 1")
    cfg = strdiffusion.from_params(smoke=True)
    states = rec.weights()
    for i, n in enumerate(NETS):
        m = rec.cell(n, 0)["metrics"]
        assert m["steps"] == getattr(cfg, f"steps_{n}") and m["seed"] == i and np.isfinite(m["final_loss"])
        assert list(rec.cell(n, 0)["curves"]) == [n]
        net = net_from_state(cfg, n, states[f"{n}/seed0/{n}"], n)
        assert all(p.dtype == torch.float32 for p in net.parameters())
        assert {"heldout_loss"} <= set(m) if n != "disc" else {"heldout_real_above_fake"} <= set(m)
    # the replay: the first steps of the structure net against its curve, and its shipped weights' held-out loss
    rep = evidence.replay(rec, progress=False, steps=2).check()
    assert rep.match and [r[0] for r in rep.rows][0] == "heldout_loss"


def test_shipped_evaluation_record_and_before_after_table(tmp_path, monkeypatch):
    from reprobook.strdiffusion import evaluation

    out = tmp_path / "eval.json"
    assert evaluation.main(["--smoke", "--source", "folder", "--quiet", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["command"] == "python -m reprobook.strdiffusion.evaluation --smoke --source folder"
    assert rec["source"] == "folder"
    assert rec["weights_hash"] == evaluation.weights_hash("folder") and rec["config"]["eval_seeds"] == 3
    n = len(rec["numbers"]["bin"])
    assert rec["metrics"]["n_images"] == n and len(rec["seed_scores"]["IR-SDE"]["psnr"]) == 3
    assert {"psnr_hole", "ssim_hole", "d_separation"} <= set(rec["numbers"])
    # the chapter uses it only for its own weights and sampler settings
    monkeypatch.setattr(evaluation, "record_path", lambda source: out if source == "folder" else tmp_path / "none")
    monkeypatch.setattr(evaluation, "current_source", lambda: "folder")  # as before the grid shipped
    cfg = strdiffusion.from_params(preset="evidence", smoke=True)
    got, why = evaluation.shipped_for(cfg)
    assert got is not None and why == ""
    got, why = evaluation.shipped_for(strdiffusion.from_params(preset="evidence", smoke=True, split=0.6))
    assert got is None and "split" in why
    table = evaluation.before_after()
    assert "| harmonic fill (reference) |" in table and "after: not shipped yet" in table
    assert f"before: {n} images × 3 seeds, shipped record" in table
    assert evaluation.main(["--preset", "nope", "--quiet", "--out", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()


def _reference_texture_net(net):
    """The same texture U-Net with ``torch.nn.utils.spectral_norm`` convolutions and plain
    ``positional_norm`` (the step before the speed-up), holding ``net``'s weights."""
    import copy

    from torch import nn

    from reprobook.strdiffusion import unet

    ref = copy.deepcopy(net)
    for block in ref.guides:
        for name in ("conv_0", "conv_1"):
            fast = getattr(block, name)
            conv = nn.utils.spectral_norm(nn.Conv2d(fast.in_channels, fast.out_channels, 3, padding=1))
            conv.load_state_dict(fast.state_dict())
            setattr(block, name, conv)

    def slow_norm(h, S, self):  # (x - mean) / sqrt(var + eps), as before
        a = self.shared(torch.nn.functional.interpolate(S, size=h.shape[2:], mode="nearest"))
        pn = (h - h.mean(dim=1, keepdim=True)) / (h.var(dim=1, keepdim=True) + 1e-5).sqrt()
        return pn * (1 + self.gamma(a)) + self.beta(a)

    for mod in ref.modules():
        if isinstance(mod, unet.SPADE):
            mod.forward = lambda h, S, self=mod: slow_norm(h, S, self)
    return ref


def test_fast_texture_step_equals_the_reference_step():
    """The faster training step (spectral norm applied to the conv output, one-pass positional norm,
    fused Adam) computes the old step's loss, gradients, power iteration and update to float rounding."""
    from reprobook.strdiffusion.unet import ConditionalUNet

    torch.manual_seed(0)
    net = ConditionalUNet(in_nc=3, spade=True, nf=8, depth=2, dim_head=8)
    ref = _reference_texture_net(net)
    sde = IRSDE(T=10)
    g = torch.Generator().manual_seed(1)
    img, G = torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 1, 16, 16, generator=g)
    E, m = (G > 0.7).float(), (torch.rand(2, 1, 16, 16, generator=g) > 0.3).float()
    opts = [torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.99), fused=True),
            torch.optim.Adam(ref.parameters(), lr=1e-3, betas=(0.9, 0.99))]
    for step in range(3):
        out = []
        for model, opt in zip((net, ref), opts):
            loss = losses.texture_loss(model, sde, img, G, E, m, guided=True,
                                       generator=torch.Generator().manual_seed(step))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            out.append((loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}))
            opt.step()
        assert torch.allclose(out[0][0], out[1][0], rtol=1e-5, atol=1e-7)
        for k, grad in out[0][1].items():
            assert torch.allclose(grad, out[1][1][k], rtol=1e-3, atol=1e-5 * grad.abs().max().item()), k
        fast, slow = net.state_dict(), ref.state_dict()
        assert fast.keys() == slow.keys()  # the shipped state dicts load into either
        for k in fast:
            assert torch.allclose(fast[k], slow[k], rtol=1e-4, atol=1e-5), k
    net.eval(), ref.eval()
    with torch.no_grad():
        t = torch.tensor([5, 7])
        assert torch.allclose(net(img, img * m, t, G), ref(img, img * m, t, G), atol=1e-5)


def test_shipped_grid_weights_and_both_evaluations_are_current():
    """The chapter's default weights are the evidence grid's; both shipped evaluations (before: the folder's
    weights, after: the grid's) evaluated exactly the weights shipped now; the grid replays its first steps."""
    from reprobook.engine import evidence
    from reprobook.strdiffusion import evaluation

    ev = evidence.load("strdiffusion")
    assert ev is not None and ev.complete and ev.data["preset"] == "evidence"
    assert evaluation.current_source() == "grid"
    for source in ("grid", "folder"):
        rec = json.loads(evaluation.record_path(source).read_text())
        assert rec["source"] == source and rec["weights_hash"] == evaluation.weights_hash(source)
        assert rec["config"]["n_test"] >= 32 and rec["config"]["eval_seeds"] >= 3
    evidence.replay(ev, progress=False, steps=3).check()
