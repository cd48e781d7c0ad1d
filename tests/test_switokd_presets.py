"""Chapter 3 (SwitOKD): official architectures, presets, data, experiment plumbing, figures."""

import matplotlib
import pytest
import torch

from reprobook import switokd
from reprobook.engine.data import DataRootError
from reprobook.switokd import experiment, figures
from reprobook.switokd.architectures import build
from reprobook.switokd.data import digits_hard

matplotlib.use("Agg")

# Parameter counts of the official networks, computed by instantiating the official model files of
# hfutqian/SwitOKD (HEAD a3f9623): CIFAR-10/WRN-16-1_8/models/wrnet16_{1,8}.py (Wide_ResNet(16, k, 0.3, 10)),
# CIFAR-100/WRN16-2_0.5mobilenetv2/models/{wrnet.py, mobilenetv2.py: mobile_half(100)},
# multi-net 1T2S/models/{wrnet2.py: Wide_ResNet(16, 10, 0.3, 100), mobilenet.py: MobileNet(100)},
# Tiny-ImageNet/Train/SwitOKD/models/{resnet34.py: ResNet34(), mobilenet_v2: MobileNetV2(200, width_mult=1.4)};
# ImageNet/ResNet18_34/models/resnet{18,34}.py are torchvision's ResNets (1000 classes).
OFFICIAL_PARAMS = {
    ("wrn16_1", 10): 175_626,  # CIFAR-10 student
    ("wrn16_8", 10): 10_965_866,  # CIFAR-10 teacher
    ("wrn16_2", 100): 704_420,  # CIFAR-100 teacher / multi-net
    ("mobile_half", 100): 812_836,  # CIFAR-100 student
    ("wrn16_10", 100): 17_179_940,  # multi-net teacher
    ("mobilenet_v1", 100): 3_309_476,  # multi-net student
    ("resnet34_cifar", 200): 21_379_592,  # Tiny-ImageNet teacher
    ("mobilenetv2_1.4", 200): 4_674_376,  # Tiny-ImageNet student
    ("resnet18", 1000): 11_689_512,  # ImageNet student
    ("resnet34", 1000): 21_797_672,  # ImageNet teacher
}


@pytest.mark.parametrize("arch,classes", list(OFFICIAL_PARAMS), ids=lambda v: str(v))
def test_official_architecture_parameter_counts(arch, classes):
    net = build(arch, classes=classes)
    assert sum(p.numel() for p in net.parameters()) == OFFICIAL_PARAMS[(arch, classes)]


def test_paper_preset_builds_official_pair_and_runs_forward():
    cfg = switokd.from_params(preset="paper")
    assert (cfg.dataset, cfg.teacher, cfg.student, cfg.epochs, cfg.milestones) == \
        ("cifar10", "wrn16_8", "wrn16_1", 299, (100, 150, 200))
    T, S = experiment.build_net(cfg, "teacher"), experiment.build_net(cfg, "student")
    assert sum(p.numel() for p in T.parameters()) == 10_965_866
    assert sum(p.numel() for p in S.parameters()) == 175_626
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert T.eval()(x).shape == (2, 10) and S.eval()(x).shape == (2, 10)
    m = build("mobile_half", classes=100).eval()
    with torch.no_grad():
        assert m(x).shape == (2, 100)
    assert T.bn.momentum == 0.9  # the official final BN momentum


def test_paper_presets_hyperparameters():
    p = switokd.PRESETS
    assert (p["paper_cifar100"].lr_t, p["paper_cifar100"].lr_s) == (0.1, 0.01)
    assert (p["paper_tiny"].lr_t, p["paper_tiny"].milestones) == (0.01, (100, 140, 180))
    assert (p["paper_imagenet"].weight_decay, p["paper_imagenet"].batch_size) == (1e-4, 512)
    assert (p["paper_2t1s"].opt_s, p["paper_2t1s"].lr_s, p["paper_2t1s"].third) == ("adam", 0.01, "wrn16_10")
    assert (p["paper_1t2s"].opt_third, p["paper_1t2s"].teacher) == ("adam", "wrn16_10")
    assert all(c.tau == 1.0 and c.epsilon_form == "code" and c.require_t_lt_s for c in p.values())


def test_paper_preset_without_data_root_fails_clearly():
    with pytest.raises(DataRootError, match="needs data_root"):
        experiment.datasets(switokd.from_params(preset="paper"))
    with pytest.raises(DataRootError):
        experiment.datasets(switokd.from_params(preset="paper_tiny"))


def test_bad_parameters_raise_one_clear_error():
    with pytest.raises(ValueError, match="choose one of: book, paper"):
        switokd.from_params(preset="cifar")
    with pytest.raises(ValueError, match="allowed: dataset"):
        switokd.from_params(alpha=1.0)
    with pytest.raises(ValueError, match="epsilon_form must be one of 'code', 'figure'"):
        switokd.from_params(epsilon_form="paper")
    with pytest.raises(ValueError, match="teacher must be 'mlp' or one of"):
        switokd.from_params(teacher="vgg")
    with pytest.raises(ValueError, match="subset of switokd, dml, vanilla, kd"):
        switokd.from_params(methods=("ONE",))
    with pytest.raises(ValueError, match="needs 'vanilla'"):
        switokd.from_params(methods=("kd", "dml"))
    with pytest.raises(ValueError, match="tau must be > 0"):
        switokd.from_params(tau=0.0)
    with pytest.raises(ValueError, match="fixed_delta must be in"):
        switokd.from_params(fixed_delta=3.0)
    with pytest.raises(ValueError, match="needs a third network"):
        switokd.from_params(topology="1T2S")
    assert switokd.from_params(tau=None).tau == 1.0  # None keeps the preset's value
    assert switokd.from_params(smoke=True).epochs == 1


def test_digits_hard_is_fixed_shifted_and_standardised():
    a, b = digits_hard(split="train"), digits_hard(split="train")
    assert torch.equal(a.tensors[0], b.tensors[0])
    x, y = a.tensors
    assert x.shape[1:] == (1, 8, 8) and len(x) == 2 * 1347 and len(y) == len(x)
    clean = digits_hard(split="test", shift=0, noise=0.0, test_copies=1)
    from reprobook.engine.data import digits

    ref = digits(split="train").tensors[0]
    assert torch.allclose(clean.tensors[0], (digits(split="test").tensors[0] - ref.mean()) / ref.std(), atol=1e-6)
    with pytest.raises(ValueError, match="copies >= 1"):
        digits_hard(copies=0)


def _tiny_cfg(**kw):
    return switokd.from_params(smoke=True, teacher_width=32, student_width=4, device="cpu", **kw)


def test_runs_are_reproducible_and_paired(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    cfg = _tiny_cfg()
    train, test = digits_hard(split="train"), digits_hard(split="test")
    r1, *_ = experiment.train_pair(cfg, method="switokd", seed=3, train=train, test=test, progress=False)
    (tmp_path / "checkpoints").rename(tmp_path / "old")  # force a fresh run, not a resume
    r2, *_ = experiment.train_pair(cfg, method="switokd", seed=3, train=train, test=test, progress=False)
    assert r1.series == r2.series and r1.acc_s == r2.acc_s
    assert len(r1.steps) == cfg.epochs * r1.steps_per_epoch and len(r1.per_epoch("G")) == cfg.epochs
    # DML sees the same first batch and initial networks: identical step-1 scalars
    r3, *_ = experiment.train_pair(cfg, method="dml", seed=3, train=train, test=test, progress=False)
    assert r3.series["G"][0] == r1.series["G"][0] and r3.series["paused"] == [0.0] * len(r3.steps)


def test_whole_smoke_run_and_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    res = switokd.run(_tiny_cfg(), progress=False)
    assert {"main/vanilla", "main/dml", "main/switokd", "main/kd", "fixed0.15/switokd", "no_t<s/switokd",
            "figure_eps/switokd", "width32/dml", "width32/switokd"} <= set(res.runs)
    assert len(res.acc("main/switokd")) == 2
    for name in ("gap_vs_threshold", "expert_fraction", "accuracy_curves", "teacher_softness", "ablations",
                 "gap_sweep"):
        assert getattr(figures, name)(res).axes
    assert figures.replay_panel(res, 3).axes and figures.threshold_panel(0.8, 0.3, 0.6).axes
    table = figures.sweep_table(res).data  # the sweep's paired difference with its 95 % interval, per width
    assert "| 32 | 1 |" in table and "single value, no interval" in table
    with pytest.raises(ValueError, match="run_multinet"):
        switokd.run(switokd.PRESETS["paper_1t2s"])


def test_multinet_runs_through_the_loop_on_book_networks(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    cfg = _tiny_cfg(topology="2T1S", third="mlp")
    hist, nets = switokd.run_multinet(cfg, progress=False)
    assert set(nets) == {"teacher", "student", "third"} and "acc_third" in hist.metrics and "paused2" in hist.metrics


def test_reporting_helpers_and_thread_restore(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    before = torch.get_num_threads()
    with experiment.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    cfg = _tiny_cfg(methods=("vanilla", "dml", "switokd"), ablations=False, n_seeds=1)
    res = switokd.run(cfg, progress=False)
    assert torch.get_num_threads() == before
    rows = experiment.summary_rows(res)
    assert [r["run"] for r in rows] == ["main/vanilla", "main/dml", "main/switokd"]
    m = experiment.metrics(res)
    assert m["main/dml"]["paused_fraction"] == [0.0] and len(m["main/switokd"]["final_student_acc"]) == 1
    assert "| run |" in experiment.summary_table(res).data
    from reprobook.engine import results

    rec = results.Record("switokd", parameters={})
    switokd.claims.pair_claims(rec, res)  # no offline KD, no ablations: those claims are untested
    assert {switokd.claims.rule_key(c.id) for c in rec.claims} <= set(switokd.claims.RULES)
    kinds = {c.id: c.kind for c in rec.claims}
    assert kinds == {"student-beats-dml-and-vanilla": "paper", "teacher-on-par-with-dml": "paper",
                     "adaptive-beats-fixed-threshold": "paper", "distillation-precondition": "check",
                     "expert-mode-occurs": "check"}
    untested = {c.id for c in rec.claims if c.measured.startswith("not tested")}
    assert untested == {"adaptive-beats-fixed-threshold", "distillation-precondition"}
    assert set(rec.baselines) == {"chance", "vanilla student"} and rec.baselines["chance"].value == 10.0
    with pytest.raises(ValueError, match="threads must be >= 0"):
        switokd.from_params(threads=-1)


def test_paper_preset_trains_on_real_data_layout(tmp_path, monkeypatch):
    """The paper path end to end on a tiny fake CIFAR-10 in torchvision's layout (official augmentation,
    DataLoader batches, per-epoch checkpoints); smaller networks keep it fast on CPU."""
    import pickle

    import numpy as np

    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path / "run"))
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}, f)
    cfg = switokd.from_params(preset="paper", data_root=str(tmp_path / "data"), teacher="wrn16_1", epochs=1,
                              batch_size=8, eval_batch=8, num_workers=0, device="cpu", methods=("dml", "switokd"))
    res = switokd.run(cfg, progress=False)
    r = res.runs["main/switokd"][0]
    assert len(r.steps) == 2 and len(r.acc_s) == 1 and 0.0 <= r.acc_s[0] <= 1.0
    assert list((tmp_path / "run" / "checkpoints").glob("switokd-main-switokd-seed0-*.pt"))


def test_multinet_table_reports_each_topology(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    runs = {top: switokd.run_multinet(_tiny_cfg(topology=top, third="mlp"), progress=False) for top in ("1T2S", "2T1S")}
    rows = experiment.multinet_rows(runs)
    assert [r["topology"] for r in rows] == ["1T2S", "2T1S"]
    assert "T1 paused" in rows[1] and "w0 = 0" in rows[0] and "S (MLP 4) acc %" in rows[1]
    assert "| topology |" in experiment.multinet_table(runs).data
