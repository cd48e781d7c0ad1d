"""Chapter 2's shipped evidence: the grid runs (smoke), its record feeds the claims and figures, a
replay catches a stale record, and the shipped record is current; the path-information metric."""

import json
import math

import numpy as np
import pytest
import torch

from reprobook.engine import evidence
from reprobook.engine.results import Record
from reprobook.m2net import claims, experiment as E, figures, method as M


def test_path_information_measures_dependence_not_spread():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(8).repeat_interleave(50)  # 8 classes × 50 photos
    random_paths = (torch.rand(400, 9, generator=g) < 0.5).float()  # many distinct paths, none tied to the class
    assert M.mean_pairwise_hamming(random_paths) > 0.45  # the Hamming distance saturates regardless
    assert abs(M.path_information(random_paths, y)) < 0.3
    assert M.plugin_mutual_information(random_paths, y) > 1.0  # the uncorrected plug-in estimate is biased
    codes = torch.tensor([[int(b) for b in f"{c:09b}"] for c in range(8)], dtype=torch.float)
    class_paths = codes[y]  # the path fixes the class: I = H(class) = 3 bits
    assert M.path_information(class_paths, y) == pytest.approx(3.0, abs=0.15)
    assert M.plugin_mutual_information(class_paths, y) == pytest.approx(3.0)
    same = torch.ones(400, 9)  # one path for everything: no information
    assert M.plugin_mutual_information(same, y) == pytest.approx(0.0, abs=1e-12)


@pytest.fixture(scope="module")
def smoke_record(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("m2net-evidence")
    path = evidence.run_grid("m2net", seeds=2, smoke=True, out=tmp / "m2net.json", work=tmp / "w", progress=False)
    from reprobook import chapters

    return evidence.EvidenceRecord(json.loads(path.read_text()), path, chapters.CHAPTERS["m2net"].grid())


def test_grid_runs_in_smoke_and_feeds_claims_and_figures(smoke_record):
    ev = smoke_record
    assert ev.data["arms"] == list(E.EVIDENCE_ARMS) and ev.seeds == [0, 1]
    cell = ev.cell("m2net", 0)["metrics"]
    assert {"info_class", "info_city", "acc_lookalike", "location_shuffled_acc_lookalike", "vision_acc",
            "fusion_acc", "fusion_city_acc", "full_acc"} <= set(cell)
    assert "fusion_acc" not in ev.cell("blockdrop", 0)["metrics"]  # calibration classifiers: once per seed
    assert set(ev.cell("m2net", 0)["curves"]) == {"rnet-seed0", "m2net-seed0-p1", "m2net-seed0-p2", "vision-seed0",
                                                  "locnet-seed0"}
    w = ev.weights()
    assert {"m2net/seed0/rnet", "m2net/seed0/policy", "blockdrop/seed1/policy"} <= set(w)
    assert w["m2net/seed0/rnet"]["stem.0.weight"].dtype == torch.float16
    m = E.evidence_metrics(ev)
    assert m["m2net_acc"] == ev.values("m2net", "acc") and m["fusion_acc"] == ev.values("m2net", "fusion_acc")
    assert m["no_location_location_true_acc_lookalike"] == ev.values("no_location", "location_true_acc_lookalike")
    rec = Record("m2net", {})
    claims.record_claims(rec, m, num_classes=20, vision_ceiling=0.5)
    assert {c.id for c in rec.claims} == {"diverse-paths", "location-lookalike", "comparable-complexity",
                                          "rnet-above-chance", "beyond-vision", "location-used"}
    assert all(c.n == 2 for c in rec.claims if c.verdict != "untested")
    assert {"vision only", "late fusion", "vision ceiling, look-alikes", "vision + location ceiling"} <= set(rec.baselines)
    assert "right for" in rec.baselines["late fusion"].description
    shown = figures.Shipped(ev)
    assert shown.usage("blockdrop").shape == (20, 9)
    assert shown.values("full", "acc") == ev.values("m2net", "full_acc")
    assert all(0 <= x <= 1 for x in shown.location_values("m2net", "partner"))
    assert isinstance(figures.undecided_cities(shown), list)
    table = figures.calibration_markdown(shown)
    assert "| late fusion" in table and "| vision only" in table and "| M²Net |" in table


def test_replay_matches_and_stops_on_a_stale_record(smoke_record):
    ev = smoke_record
    r = evidence.replay(ev, progress=False, steps=3).check()
    assert r.partial and r.match and sum(q.startswith("curve rnet-seed0/") for q, *_ in r.rows) >= 3
    stale = evidence.EvidenceRecord(json.loads(json.dumps(ev.data)), ev.path, ev.grid)
    curve = stale.data["cells"]["m2net/seed0"]["curves"]["rnet-seed0"]["loss"]
    curve["value"][0] *= 1.1  # a record the code no longer reproduces
    with pytest.raises(evidence.StaleEvidence, match="regenerate it with: reprobook evidence m2net"):
        evidence.replay(stale, progress=False, steps=3).check()


def test_shipped_m2net_record_is_current():
    ev = evidence.load("m2net")
    assert ev is not None and ev.n >= 3 and not ev.data["smoke"]
    assert ev.data["config"]["pretrain_epochs"] > E.M2NetConfig().pretrain_epochs  # the longer schedule
    evidence.replay(ev, progress=False, steps=4).check()
    assert all(math.isfinite(v) for v in ev.values("m2net", "info_class"))
    # the late-fusion baseline is sound: its location classifier names the right city almost always
    assert min(ev.values("m2net", "fusion_city_acc")) > 0.95
    size = ev.path.stat().st_size + ev.path.with_name(ev.data["weights"]).stat().st_size
    assert size < 15e6
