"""Chapter 3 (SwitOKD): the shipped evidence grid, its replay, the precondition gate, the official re-init."""

import json

import pytest
import torch
from torch import nn

from reprobook import switokd
from reprobook.engine import evidence
from reprobook.engine.results import Record
from reprobook.switokd import claims, experiment, shipped
from reprobook.switokd.architectures import official_reinit


def test_shipped_record_is_current():
    """The record the notebook loads: its first SwitOKD run's first steps replay within tolerance."""
    ev = evidence.load("switokd")
    assert ev is not None, "the switokd chapter ships no evidence record"
    assert ev.n >= 8 and set(ev.data["arms"]) == set(shipped.GRID.arms)
    replay = evidence.replay(ev, steps=5, progress=False).check()
    assert replay.partial and len(replay.rows) > 0


def test_shipped_record_gives_every_claim_on_paired_seeds():
    ev = evidence.load("switokd")
    res = shipped.result_from_record(ev, shipped.record_config(ev))
    assert all([r.seed for r in rs] == ev.seeds for rs in res.runs.values())
    assert res.acc("main/switokd") == ev.values("switokd", "main/switokd/student")
    rec = Record("switokd", parameters={})
    claims.pair_claims(rec, res)
    assert [c.id for c in rec.claims][:2] == ["distillation-precondition", "student-beats-dml-and-vanilla"]
    assert all(c.n == ev.n for c in rec.claims if c.id != "expert-mode-occurs" and c.n is not None)


def test_grid_runs_in_smoke_and_reads_back(tmp_path):
    path = evidence.run_grid("switokd", seeds=2, smoke=True, out=tmp_path / "r.json", work=tmp_path / "w",
                             progress=False)
    data = json.loads(path.read_text())
    assert data["seeds"] == [0, 1] and len(data["cells"]) == 2 * len(shipped.GRID.arms)
    van = data["cells"]["vanilla/seed0"]
    assert set(van["curves"]) == {"main-vanilla-seed0", "main-kd-seed0"}
    assert set(data["cells"]["fixed0.1/seed1"]["curves"]["fixed0.1-switokd-seed1"]) == {"expert", "paused", "acc_t",
                                                                                           "acc_s"}
    ev = evidence.EvidenceRecord(data, path, shipped.GRID)
    cfg = shipped.record_config(ev)
    res = shipped.result_from_record(ev, cfg)
    assert {"main/kd", "main/dml", "no_t<s/switokd", "width64/switokd"} <= set(res.runs)
    assert res.runs["main/switokd"][1].seed == 1 and len(res.runs["main/switokd"][0].per_epoch("G")) == cfg.epochs
    assert evidence.replay(ev, steps=3, progress=False).check().match
    with pytest.raises(ValueError, match="unknown SwitOKD evidence arm"):
        shipped.evidence_cell(cfg, "nope", 0, fit=None)


def _fake_result(kd_gain: float, ratio: float):
    """Eight seeds of main runs: offline KD ``kd_gain`` above vanilla; DML's last-epoch t = ratio · s."""
    cfg = switokd.from_params(smoke=True)
    res = experiment.SwitOKDResult(cfg)
    for m, acc in (("vanilla", 0.80), ("kd", 0.80 + kd_gain), ("dml", 0.82), ("switokd", 0.83)):
        for seed in range(8):
            a = acc + 0.003 * ((seed * 7) % 5)
            series = {"s": [0.4], "t": [0.4 * ratio + 0.001 * seed], "expert": [1.0], "paused": [float(m == "switokd")]}
            res.runs.setdefault(f"main/{m}", []).append(experiment.PairRun(
                key=f"main/{m}", method=m, seed=seed, teacher_width=8, steps_per_epoch=1, steps=[1], series=series,
                eval_steps=[1], acc_t=[0.9], acc_s=[a], wall_s=0.0))
    return res


def test_precondition_gates_the_student_claims():
    rec = Record("switokd", parameters={})
    claims.pair_claims(rec, _fake_result(0.02, 0.2))
    by = {c.id: c for c in rec.claims}
    assert by["distillation-precondition"].verdict == "holds" and by["distillation-precondition"].kind == "check"
    assert by["student-beats-dml-and-vanilla"].verdict == "holds"
    for kd_gain, ratio in ((0.0, 0.2), (0.02, 0.9)):  # KD does not help / the teacher does not run away
        rec = Record("switokd", parameters={})
        claims.pair_claims(rec, _fake_result(kd_gain, ratio))
        by = {c.id: c for c in rec.claims}
        assert by["distillation-precondition"].verdict != "holds"
        assert by["student-beats-dml-and-vanilla"].measured.startswith("not tested: the distillation precondition")
        assert "not shown" in claims.finding(rec)


def test_official_reinit_draws_one_over_fan_in_and_resets_bn_gamma():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(16, 64, 3), nn.BatchNorm2d(64), nn.Flatten(), nn.Linear(400, 300))
    with torch.no_grad():
        net[1].weight.fill_(0.3)
    official_reinit(net)
    assert net[0].weight.std().item() == pytest.approx(1 / (16 * 9), rel=0.05)
    assert net[3].weight.std().item() == pytest.approx(1 / 400, rel=0.05)
    assert torch.all(net[1].weight == 1.0)
    p = switokd.PRESETS
    assert p["paper_tiny"].reinit == ("teacher", "student") and p["paper_2t1s"].reinit == ("student",)
    assert p["paper_1t2s"].reinit == ("third",) and p["paper"].reinit == () and p["book"].reinit == ()
    cfg = switokd.from_params(preset="paper_2t1s")
    torch.manual_seed(0)
    s = experiment.build_net(cfg, "student")
    conv = next(m for m in s.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.std().item() == pytest.approx(1 / conv.weight[0].nelement(), rel=0.1)
    with pytest.raises(ValueError, match="reinit takes roles"):
        switokd.from_params(reinit=("teacher", "third"))


def test_describe_takes_every_number_from_the_config():
    cfg = switokd.from_params(student_width=24, epochs=7, data_noise=0.25)
    text = experiment.describe(cfg)
    assert "64-24-10" in text and "7 epochs" in text and "noise std 0.25" in text
