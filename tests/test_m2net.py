"""Chapter 2 (M²Net): sampling, reward, losses, networks, data, config and a tiny end-to-end run."""

import math

import numpy as np
import pytest
import torch

from reprobook import m2net
from reprobook.engine.data import DataRootError
from reprobook.m2net import claims, experiment as E, method as M
from reprobook.m2net.data import CITIES, dms_code, geo_landmarks, hard_cities
from reprobook.m2net.model import FlatResNet, PolicyNet, block_flops, load_resnet18, num_params


# --- sampling and reward ----------------------------------------------------------------------

def test_bound_probs_and_greedy():
    s = torch.tensor([0.0, 0.3, 0.5, 1.0])
    assert torch.allclose(M.bound_probs(s, 0.8), torch.tensor([0.2, 0.38, 0.5, 0.8]))
    assert M.greedy_path(s).tolist() == [0.0, 0.0, 1.0, 1.0]  # threshold s >= 0.5


def test_sample_path_is_bernoulli_and_detached():
    s = torch.full((4000, 3), 0.8, requires_grad=True)
    u = M.sample_path(s, torch.Generator().manual_seed(0))
    assert not u.requires_grad and set(u.unique().tolist()) <= {0.0, 1.0}
    assert abs(u.mean().item() - 0.8) < 0.02


def test_hamming_diversity_by_hand_and_scipy():
    u = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    # row 0: distances (0, 1/2, 1/2); row 1: (1/2, 0, 1); row 2: (1/2, 1, 0); self-distance included
    assert torch.allclose(M.hamming_diversity(u), torch.tensor([1 / 3, 1 / 2, 1 / 2]))
    from scipy.spatial.distance import cdist

    r = torch.randint(0, 2, (17, 9)).float()
    ref = cdist(r.numpy(), r.numpy(), "hamming").mean(1)
    assert np.allclose(M.hamming_diversity(r).numpy(), ref, atol=1e-6)
    assert torch.allclose(M.diversity_reward(u), 1 - (1 - M.hamming_diversity(u)) ** 2)


def test_sparsity_and_reward():
    u = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    assert torch.allclose(M.sparsity_reward(u), torch.tensor([0.75, 0.0]))
    d = 1 - (1 - torch.tensor([0.25, 0.25])) ** 2  # each path differs from the other in 2 of 4 blocks
    r = M.reward(torch.tensor([True, False]), u, penalty=-5.0)
    assert torch.allclose(r, torch.stack([0.6 * d[0] + 0.4 * 0.75, torch.tensor(-5.0)]))
    # BlockDrop: sparsity only
    assert torch.allclose(M.reward(torch.tensor([True, True]), u, penalty=-1, w_div=0, w_sp=1), torch.tensor([0.75, 0.0]))


def test_log_prob_matches_bernoulli():
    s = torch.rand(5, 7) * 0.6 + 0.2
    u = torch.bernoulli(s)
    ref = torch.distributions.Bernoulli(s).log_prob(u)
    assert torch.allclose(M.log_prob(s, u), ref, atol=1e-6)


def test_phase1_loss_by_hand_and_gradient_paths():
    s = torch.tensor([[0.8, 0.2]], requires_grad=True)
    u = torch.tensor([[1.0, 1.0]])
    A = torch.tensor([2.0], requires_grad=True)
    loss = M.phase1_loss(s, u, A, beta=0.1)
    pg = -(math.log(0.8) + math.log(0.2)) * 2.0
    ent = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
    assert abs(loss.item() - (pg - 0.1 * ent)) < 1e-5
    loss.backward()
    assert A.grad is None  # the advantage is a constant
    assert s.grad is not None
    # curriculum mask removes the policy-gradient term of forced blocks
    lm = M.phase1_loss(s.detach(), u, A.detach(), beta=0.0, mask=torch.tensor([0.0, 1.0]))
    assert abs(lm.item() - (-math.log(0.2) * 2.0)) < 1e-5
    # divided by the batch size
    s2, u2, A2 = s.detach().repeat(3, 1), u.repeat(3, 1), A.detach().repeat(3)
    assert abs(M.phase1_loss(s2, u2, A2, beta=0.1).item() - loss.item()) < 1e-5


def test_phase2_policy_loss_sums_over_batch():
    s = torch.tensor([[0.8, 0.2], [0.5, 0.5]])
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    A = torch.tensor([1.0, -2.0])
    lp = torch.log(torch.tensor([0.8 * 0.8, 0.5 * 0.5]))
    assert abs(M.phase2_policy_loss(s, u, A).item() - (-(lp * A).sum()).item()) < 1e-5


def test_curriculum():
    u = torch.zeros(2, 5)
    assert M.curriculum_path(u, 2).tolist() == [[1, 1, 1, 0, 0]] * 2
    assert M.curriculum_path(u, 5).sum() == 0
    assert M.curriculum_mask(5, 2).tolist() == [0, 0, 0, 1, 1]


def test_path_statistics():
    u = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    assert M.unique_paths(u) == 2
    brute = np.mean([(u[i] - u[j]).abs().mean().item() for i in range(3) for j in range(3) if i != j])
    assert abs(M.mean_pairwise_hamming(u) - brute) < 1e-6
    assert M.path_ids(u).tolist() == [5, 5, 0]


# --- networks ---------------------------------------------------------------------------------

def _tiny_rnet():
    torch.manual_seed(0)
    return FlatResNet(block="basic", layers=(2, 2), planes=(4, 8), strides=(2, 2), num_classes=3).eval()


def test_block_rule_and_dropped_first_block_downsamples():
    net = _tiny_rnet()
    x = torch.rand(3, 1, 16, 16)
    assert torch.allclose(net(x, torch.ones(3, 4)), net(x))
    # all blocks dropped: only the stem, the projection shortcuts (which downsample) and the head run
    h = net.stem(x)
    h = net.ds[1](net.ds[0](h))
    assert h.shape[-1] == 4
    assert torch.allclose(net(x, torch.zeros(3, 4)), net.fc(net.pool(h).flatten(1)), atol=1e-6)
    # x <- a ReLU(r + F(x)) + (1 - a) r, per sample
    u = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
    per_sample = torch.cat([net(x[i:i + 1], u[i:i + 1]) for i in range(3)])
    assert torch.allclose(net(x, u), per_sample, atol=1e-6)


def test_policy_fusion():
    torch.manual_seed(0)
    feats = FlatResNet(block="basic", layers=(1, 1), planes=(4, 8), strides=(1, 2), num_classes=0)
    pol = PolicyNet(features=feats, num_blocks=5, loc_widths=(8, 8, 8, 8), w_img=0.3, w_loc=0.7).eval()
    x, loc = torch.rand(4, 1, 16, 16), torch.rand(4, 8)
    a_img, a_loc = pol.logits(x, loc)
    assert a_img.shape == a_loc.shape == (4, 5)
    assert torch.allclose(pol(x, loc), torch.sigmoid(0.3 * a_img + 0.7 * a_loc))
    pol_img = PolicyNet(features=feats, num_blocks=5, use_location=False).eval()
    a_img2, none = pol_img.logits(x, loc)
    assert none is None and torch.allclose(pol_img(x, loc), torch.sigmoid(a_img2))


def test_block_flops_by_hand():
    net = _tiny_rnet()
    always, per_block = block_flops(net, (1, 16, 16))
    stem = 16 * 16 * 4 * 9  # 3x3 conv 1->4 at 16x16
    b0 = 8 * 8 * 4 * 4 * 9 * 2  # stride 2: two 3x3 convs 4->4 at 8x8
    assert per_block[0] == b0 and per_block[1] == b0
    ds = 8 * 8 * 4 * 4 + 4 * 4 * 8 * 4  # 1x1 projections 4->4 at 8x8 and 4->8 at 4x4
    assert always == stem + ds + 8 * 3


# --- paper preset -------------------------------------------------------------------------------

def _bottleneck(c_in, p):
    return c_in * p + 9 * p * p + p * 4 * p + 2 * (p + p + 4 * p)  # 3 convs + 3 BNs (weight, bias)


def _basic(c_in, p):
    return 9 * c_in * p + 9 * p * p + 4 * p


def test_paper_preset_parameter_counts_and_forward():
    cfg = m2net.from_params(preset="paper")
    rnet = E.build_rnet(cfg)
    policy = E.build_policy(cfg, E.variants(cfg)["m2net"])
    # Official code, Landmark-732/pre-training phase/models/resnet.py: FlatResNet224(Bottleneck,
    # [7, 7, 7], num_classes=732) = stem conv7x7(3->64)+BN, stages of 7 bottlenecks (planes 64/128/256,
    # out 256/512/1024, projection 1x1 conv+BN on the first block), fc Linear(512*4*2, 732).
    stem = 3 * 64 * 49 + 2 * 64
    stages, c = 0, 64
    for p in (64, 128, 256):
        stages += c * 4 * p + 2 * 4 * p  # projection shortcut
        stages += _bottleneck(c, p) + 6 * _bottleneck(4 * p, p)
        c = 4 * p
    rnet_count = stem + stages + 4096 * 732 + 732
    assert rnet_count == 13_781_276
    assert num_params(rnet) == rnet_count
    # Policy224_loc([1,1,1,1], num_blocks=21): ResNet-18 stem + first BasicBlock of each stage (+
    # projections), logit Linear(512, 21), vnet Linear(512, 1), bn_log, location MLP 8-128-256-256-128-21
    # with BN(128), BN(256), BN(256), BN(128), BN(21).
    img = stem + _basic(64, 64)
    c = 64
    for p in (128, 256, 512):
        img += _basic(c, p) + c * p + 2 * p
        c = p
    heads = 512 * 21 + 21 + 513 + 2 * 21
    loc = (8 * 128 + 128) + (128 * 256 + 256) + (256 * 256 + 256) + (256 * 128 + 128) + (128 * 21 + 21)
    loc += 2 * (128 + 256 + 256 + 128 + 21)
    assert img + heads + loc == 5_054_271
    assert num_params(policy) == 5_054_271
    rnet.eval()
    policy.eval()
    with torch.no_grad():
        x, l = torch.randn(2, 3, 224, 224), torch.randn(2, 8)
        s = policy(x, l)
        assert s.shape == (2, 21) and ((s >= 0) & (s <= 1)).all()
        assert rnet(x, M.greedy_path(s)).shape == (2, 732)
    assert cfg.num_blocks == 21 and cfg.phase1_lr == 1e-3 and cfg.phase2_lr == 1e-4
    assert (cfg.phase1_epochs, cfg.phase2_epochs, cfg.batch_size) == (101, 201, 128)


def test_paper_preset_needs_data_root(tmp_path):
    with pytest.raises(DataRootError, match="Landmark-732"):
        E.load_data(m2net.from_params(preset="paper"))
    with pytest.raises(DataRootError, match="missing"):
        E.load_data(m2net.from_params(preset="paper", data_root=str(tmp_path)))
    (tmp_path / "Landmark-732_train.txt").write_text("a.jpg\t[1, 2, 3]\t4\n")
    with pytest.raises(DataRootError, match="8 numbers"):
        E.load_data(m2net.from_params(preset="paper", data_root=str(tmp_path)))


def test_paper_policy_loads_imagenet_resnet18_first_blocks(tmp_path):
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.resnet18()  # random weights stand in for the ImageNet file: nothing is downloaded
    for m in tv.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, so a wrong mapping shows
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    f = tmp_path / "resnet18.pth"
    torch.save(tv.state_dict(), f)
    cfg = m2net.from_params(preset="paper", policy_init=str(f))
    E.check_inputs(cfg)
    policy = E.build_policy(cfg, E.variants(cfg)["m2net"])
    load_resnet18(policy.features, cfg.policy_init)
    tv.eval()
    policy.eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():  # official Policy224: ResNet-18's stem, then the first block of each stage, AvgPool2d(4)
        h = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
        for layer in (tv.layer1, tv.layer2, tv.layer3, tv.layer4):
            h = layer[0](h)
        want = torch.nn.functional.avg_pool2d(h, 4).flatten(1)
        assert torch.allclose(policy.features(x), want, atol=1e-5)


def test_paper_policy_init_absent_or_misused_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(FileNotFoundError, match="resnet18-f37072fd.pth"):
        E.check_inputs(m2net.from_params(preset="paper"))  # the preset asks for the ImageNet file; absent
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        E.check_inputs(m2net.from_params(preset="paper", policy_init=str(tmp_path / "nothere.pth")))
    E.check_inputs(m2net.from_params(preset="paper", policy_init="scratch"))
    with pytest.raises(ValueError, match="policy_init needs arch='paper'"):
        m2net.from_params(preset="book", policy_init="imagenet")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "other.pth")
    cfg = m2net.from_params(preset="paper", policy_init=str(tmp_path / "other.pth"))
    with pytest.raises(ValueError, match="does not fit"):
        load_resnet18(E.build_policy(cfg, E.variants(cfg)["m2net"]).features, cfg.policy_init)


# --- data -------------------------------------------------------------------------------------

def test_dms_code_matches_the_official_examples():
    # Dataset figure of the official repository: St Sophia, Kyiv "50 27 10.41 +1 / 30 30 51.58 +1",
    # CN Tower "43 38 14.73 +1 / 79 23 18.53 -1", Uluru "25 18 33.37 -1 / 131 00 03.51 +1".
    def deg(d, m, s, sign):
        return sign * (d + m / 60 + s / 3600)

    ll = torch.tensor([[deg(50, 27, 10.41, 1), deg(30, 30, 51.58, 1)],
                       [deg(43, 38, 14.73, 1), deg(79, 23, 18.53, -1)],
                       [deg(25, 18, 33.37, -1), deg(131, 0, 3.51, 1)]], dtype=torch.float64)
    ref = torch.tensor([[50, 27, 10.41, 1, 30, 30, 51.58, 1], [43, 38, 14.73, 1, 79, 23, 18.53, -1],
                        [25, 18, 33.37, -1, 131, 0, 3.51, 1]])
    assert torch.allclose(dms_code(ll), ref, atol=1e-3)


def test_geo_landmarks():
    d = geo_landmarks(split="train", per_class=6)
    x, loc, y = d.tensors
    assert x.shape == (120, 1, 16, 16) and loc.shape == (120, 8) and x.dtype == torch.float32
    assert torch.bincount(y).tolist() == [6] * 20
    assert d.hard.float().mean() == 0.5  # two of four cities per kind are look-alikes
    for t, (_, lat, lon) in enumerate(CITIES):
        assert (d.latlon[d.city == t] - torch.tensor([lat, lon])).abs().max() < 0.3
    # look-alike classes are exactly the hard cities of their kind
    for s in range(5):
        for t in range(4):
            assert bool(d.hard[y == s * 4 + t].all()) == (t in hard_cities(s))
    assert torch.equal(geo_landmarks(split="train", per_class=6).tensors[0], x)  # deterministic
    assert not torch.equal(geo_landmarks(split="test", per_class=6).tensors[0], x)


def test_partner_classes():
    d = geo_landmarks(split="test", per_class=1)
    part = E.partner_classes(d)
    y = d.tensors[2]
    for i in range(len(y)):
        s, t, ps, pt = int(y[i]) // 4, int(y[i]) % 4, int(part[i]) // 4, int(part[i]) % 4
        assert ps == s and pt != t
        assert (t in hard_cities(s)) == (pt in hard_cities(s))  # a look-alike's partner is its twin


# --- config -------------------------------------------------------------------------------------

def test_config_presets_and_errors():
    assert m2net.from_params().alpha == 0.8
    assert m2net.from_params(w_loc=None).w_loc == 0.7
    assert m2net.from_params(smoke=True).per_class == 8
    with pytest.raises(ValueError, match="choose one of: book, paper"):
        m2net.from_params(preset="large")
    with pytest.raises(ValueError, match=r"alpha must be in \(0.5, 1\]"):
        m2net.from_params(alpha=0.4)
    with pytest.raises(ValueError, match="variants must start with 'm2net'"):
        m2net.from_params(variants=("blockdrop",))
    with pytest.raises(ValueError, match="unknown parameter 'gamma'"):
        m2net.from_params(gamma=1.0)
    with pytest.raises(ValueError, match="n_seeds must be int"):
        m2net.from_params(n_seeds="two")


# --- training: update order, what is frozen, a tiny end-to-end run --------------------------------

TINY = dict(per_class=2, test_per_class=2, batch_size=8, pretrain_epochs=1, phase1_epochs=1, phase2_epochs=1,
            n_seeds=1, device="cpu", variants=("m2net", "blockdrop", "no_location", "no_diversity"))


def test_phase1_freezes_the_recognition_network(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    cfg = m2net.from_params(**{**TINY, "phase2_epochs": 0})
    train, _ = E.load_data(cfg)
    rnet0, _ = E.pretrain(cfg, train, seed=0, device="cpu", progress=False)
    v = E.variants(cfg)["m2net"]
    policy0 = E.build_policy(cfg, v)
    rnet, policy, h1, h2 = E.train_variant(cfg, v, rnet0, train, seed=0, device="cpu", progress=False)
    for (k, a), b in zip(rnet0.state_dict().items(), rnet.state_dict().values()):
        assert torch.equal(a, b), f"phase 1 changed the recognition network ({k})"
    assert any(not torch.equal(a, b) for a, b in zip(policy0.state_dict().values(), policy.state_dict().values()))
    assert len(h1.series("reward")[1]) == 5 and not h2.metrics
    # phase 2 trains the recognition network too
    cfg2 = m2net.from_params(**{**TINY, "phase1_epochs": 0})
    rnet2, *_ = E.train_variant(cfg2, v, rnet0, train, seed=0, device="cpu", progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(rnet0.parameters(), rnet2.parameters()))


def test_tiny_run_is_reproducible_and_gives_verdicts(tmp_path, monkeypatch):
    cfg = m2net.from_params(**TINY)
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path / "a"))
    r1 = m2net.run(cfg, progress=False)
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path / "b"))
    r2 = m2net.run(cfg, progress=False)
    for n in cfg.variants:
        assert r1.runs[n][0].metrics == r2.runs[n][0].metrics
        assert torch.equal(r1.runs[n][0].u, r2.runs[n][0].u)
    m = r1.runs["m2net"][0].metrics
    assert 0 <= m["acc"] <= 1 and 0 <= m["blocks"] <= cfg.num_blocks
    # policies without location ignore it: shuffling locations changes nothing
    assert r1.runs["no_location"][0].location["shuffled"]["path_change"] == 0.0
    from reprobook.engine.results import Record

    rec = Record("m2net", {})
    claims.record_claims(rec, E.flat_metrics(r1), num_classes=cfg.num_classes, vision_ceiling=E.vision_ceiling(r1.test))
    assert {c.id for c in rec.claims} <= set(claims.RULES)
    assert all(c.verdict == "inconclusive" for c in rec.claims)  # one seed: no interval, never "holds"
    from reprobook.m2net import figures

    table = figures.calibration_markdown(r1)  # a live run: no vision-only or late-fusion rows
    assert "| M²Net |" in table and "late fusion" not in table


def test_claim_rules_can_fail():
    from reprobook.engine import stats

    assert stats.falsification_problems(claims.RULES) == []


def _fake_metrics(n=8, *, effect=0.1):
    """Per-seed metrics of every run, M²Net ahead of the others by ``effect`` in accuracy."""
    rng = np.random.default_rng(0)
    base = 0.7 + 0.02 * rng.standard_normal(n)
    m = {"full_acc": (base + 0.05).tolist(), "full_acc_lookalike": [0.5] * n}
    for v, gain in (("m2net", effect), ("blockdrop", 0.0), ("no_location", 0.0), ("no_diversity", 0.0),
                    ("fusion_55", 0.0), ("fusion_73", 0.0)):
        m[f"{v}_acc"] = (base + gain + 0.005 * rng.standard_normal(n)).tolist()
        m[f"{v}_acc_lookalike"] = (base - 0.2 + 2 * gain + 0.005 * rng.standard_normal(n)).tolist()
        m[f"{v}_hamming"] = (0.45 + 0.001 * rng.standard_normal(n)).tolist()  # saturated: not the claim's metric
        m[f"{v}_info_class"] = (0.5 + 10 * gain + 0.02 * rng.standard_normal(n)).tolist()
        m[f"{v}_mflops"] = (0.2 * (1 + gain) + 0.001 * rng.standard_normal(n)).tolist()
    m["m2net_location_true_acc_lookalike"] = m["m2net_acc_lookalike"]
    m["m2net_location_shuffled_acc_lookalike"] = (0.5 + 0.01 * rng.standard_normal(n)).tolist()
    return m


def test_record_claims_kinds_baselines_and_rules():
    from reprobook.engine.results import Record

    rec = Record("m2net", {})
    claims.record_claims(rec, _fake_metrics(), num_classes=20, vision_ceiling=0.5)
    ids = {c.id for c in rec.claims}
    assert ids <= set(claims.RULES)
    got = {c.id: (c.kind, c.verdict) for c in rec.claims}
    assert got == {"diverse-paths": ("paper", "holds"), "location-lookalike": ("paper", "holds"),
                   "comparable-complexity": ("paper", "holds"), "rnet-above-chance": ("check", "holds"),
                   "beyond-vision": ("check", "holds"), "location-used": ("check", "holds")}
    assert set(rec.baselines) == {"chance", "full network", "full network, look-alikes", "vision ceiling, look-alikes",
                                  "vision + location ceiling"}
    assert ids == {"diverse-paths", "location-lookalike", "comparable-complexity", "rnet-above-chance",
                   "beyond-vision", "location-used"}
    assert rec.baselines["chance"].value == pytest.approx(5.0)
    by = {c.id: c for c in rec.claims}
    assert "paired t" in by["location-lookalike"].test and by["location-lookalike"].n == 8
    assert [p["test"] for p in by["comparable-complexity"].parts] == ["paired t", "one-sample t"]
    assert not any(c.beaten_by for c in rec.claims)
    # an M²Net that loses to the vision-only ceiling on look-alikes is not a reproduction
    m = _fake_metrics(effect=0.05)
    m["m2net_acc_lookalike"] = [0.42 + 0.01 * i for i in range(8)]
    m["no_location_acc_lookalike"] = [0.30 + 0.01 * i for i in range(8)]
    rec = Record("m2net", {})
    claims.record_claims(rec, m, num_classes=20, vision_ceiling=0.5)
    look = next(c for c in rec.claims if c.id == "location-lookalike")
    assert look.verdict == "holds" and look.beaten_by == ["full network, look-alikes", "vision ceiling, look-alikes"]
    assert next(c for c in rec.claims if c.id == "beyond-vision").verdict == "does not hold"
    # the Hamming distance no longer decides claim 1: equal information about the class, no "holds"
    m = _fake_metrics()
    m["no_diversity_info_class"] = m["m2net_info_class"]
    rec = Record("m2net", {})
    claims.record_claims(rec, m, num_classes=20, vision_ceiling=0.5)
    assert next(c for c in rec.claims if c.id == "diverse-paths").verdict != "holds"
    # the calibration classifiers of the shipped evidence become baselines
    m = _fake_metrics()
    m.update(vision_acc=[0.6] * 8, vision_acc_lookalike=[0.5] * 8, fusion_acc=[0.95] * 8,
             fusion_acc_lookalike=[0.9] * 8)
    rec = Record("m2net", {})
    claims.record_claims(rec, m, num_classes=20, vision_ceiling=0.5)
    assert {"vision only", "vision only, look-alikes", "late fusion", "late fusion, look-alikes"} <= set(rec.baselines)
    assert rec.baselines["late fusion, look-alikes"].value == pytest.approx(90.0)


def test_comparable_complexity_fails_on_flops_and_pairs_by_seed():
    acc_bd = [0.70, 0.60, 0.80, 0.65]
    acc_m = [a + 0.01 for a in acc_bd]  # a small, consistent per-seed gain: paired, it shows
    fl = [0.20, 0.21, 0.19, 0.20]
    assert claims.comparable_complexity(acc_m, acc_bd, fl, fl).verdict == "holds"
    assert claims.comparable_complexity(acc_m, acc_bd, [2 * f for f in fl], fl).verdict == "does not hold"
    assert claims.flops_ratio([2.0, 3.0], [1.0, 2.0]) == [2.0, 1.5]
    # two seeds: the interval has one degree of freedom, wide
    v = claims.location_lookalike([0.8, 0.9], [0.5, 0.5])
    assert v.n == 2 and v.verdict in ("holds", "inconclusive") and v.detectable > 0


def test_seeds_note_and_ablation_table():
    from reprobook.engine.results import Record

    m = {k: v[:2] for k, v in _fake_metrics(effect=0.01).items()}
    rec = Record("m2net", {})
    claims.record_claims(rec, m, num_classes=20)
    note = claims.seeds_note(rec, 2)
    assert "n = 2 seeds" in note and "1 degree of freedom" in note
    table = claims.ablation_markdown(m, {"no_diversity": "diversity off", "missing": "not run"})
    assert "diversity off" in table and "paired t" in table and "not measured" in table


def test_file_list_evaluation_and_missing_runs():
    torch.manual_seed(0)
    cfg = m2net.from_params(**TINY)
    rnet = E.build_rnet(cfg).eval()
    policy = E.build_policy(cfg, E.variants(cfg)["m2net"]).eval()
    items = [(torch.rand(1, 16, 16), torch.rand(8), i % 20) for i in range(10)]
    flops = block_flops(rnet, (1, 16, 16))
    metrics, u, pred, loc = E.evaluate_list(rnet, policy, items, flops, cfg)
    assert u.shape == (10, 9) and pred.shape == (10,) and math.isnan(metrics["acc_lookalike"])
    assert set(loc) == {"true", "shuffled"}
    res = E.M2NetResult(cfg, E.variants(cfg), items, flops, [metrics], {"m2net": []})
    from reprobook.engine.results import Record

    rec = Record("m2net", {})
    claims.record_claims(rec, E.flat_metrics(res), num_classes=cfg.num_classes, vision_ceiling=E.vision_ceiling(items))
    assert {c.id: c.verdict for c in rec.claims}["location-lookalike"] == "not tested"
    assert "not tested" in next(c.measured for c in rec.claims if c.id == "location-lookalike")
    assert "full network, look-alikes" not in rec.baselines


def test_explained_share():
    g = torch.tensor([0, 0, 1, 1])
    assert M.explained_share(torch.tensor([[1.0, 0], [1, 0], [0, 1], [0, 1]]), g) == pytest.approx(1.0)
    assert M.explained_share(torch.tensor([[1.0, 0], [0, 1], [1, 0], [0, 1]]), g) == pytest.approx(0.0)
    assert M.explained_share(torch.ones(4, 2), g) == 0.0
    # one block fixed by the group, one independent of it: half the variance
    assert M.explained_share(torch.tensor([[1.0, 1], [1, 0], [0, 1], [0, 0]]), g) == pytest.approx(0.5)
