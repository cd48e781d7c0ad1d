"""Chapter 1 (TAC): the experiment end to end at toy size: order of stages, masks, determinism, claims."""

import dataclasses
import json

import pytest
import torch

from reprobook import tac
from reprobook.engine import results, stats
from reprobook.tac import claims
from reprobook.tac.experiment import TRUNK_FC_BINARY, Measured, TACResult

TINY = dict(fp_steps=4, bin_steps=3, prune_steps=2, quant_steps=2, n_seeds=2, sweep_seeds=1,
            sweep_rates=(0.5,), sweep_bits=(2,), kmeans_iters=3, device="cpu")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    # module-scoped fixtures run before conftest's one-thread fixture: fix the thread count here too,
    # since float reductions (and so the numbers) depend on it
    mp, n = pytest.MonkeyPatch(), torch.get_num_threads()
    mp.setenv("REPROBOOK_RUN_DIR", str(tmp_path_factory.mktemp("run")))
    torch.set_num_threads(1)
    res = tac.run(tac.from_params(**TINY), progress=False)
    torch.set_num_threads(n)
    mp.undo()
    return res


def test_run_structure_and_tac_network(tiny_run: TACResult):
    r = tiny_run
    assert set(r.runs[0].acc) == {*tac.experiment.MAIN_VARIANTS, TRUNK_FC_BINARY}
    # XNOR-all trains as many steps as TAC (trunk + FC stages); the other binary variants bin_steps
    cfg = r.config
    hist = r.runs[0].histories
    assert cfg.xnor_all_train_steps == cfg.bin_steps + cfg.prune_steps + cfg.quant_steps
    assert hist["xnor_all"].series("loss")[0][-1] == cfg.xnor_all_train_steps
    assert hist["xnor_conv"].series("loss")[0][-1] == hist["fc_binary"].series("loss")[0][-1] == cfg.bin_steps
    # the marginal trade's binary-FC arm: XNOR conv-only's frozen trunk with binary FC layers
    fcb = r.runs[0].nets[TRUNK_FC_BINARY]
    assert [lay.binary for lay in fcb.layers()] == [lay.binary for lay in r.runs[0].nets["xnor_all"].layers()]
    for a, b in zip(fcb.features.parameters(), r.runs[0].nets["xnor_conv"].features.parameters()):
        assert torch.equal(a, b)
    net = r.runs[0].nets["tac"]
    for lay in net.layers():
        if lay.spec.group == "conv":
            assert lay.binary
        elif lay.spec.group == "fc":
            assert not lay.binary and lay.mask is not None and lay.codebook.numel() == 2**5
            assert lay.mask.float().mean().item() == pytest.approx(0.1, abs=1e-3)
        else:
            assert not lay.binary and lay.mask is None and lay.codebook is None
    # conv layers were frozen in the FC stages: identical to the xnor_conv network's
    base = r.runs[0].nets["xnor_conv"]
    for a, b in zip(net.features.parameters(), base.features.parameters()):
        assert torch.equal(a, b)
    treatments = {row["treatment"] for row in r.sweep}
    assert treatments == {"FC full precision", "FC binary", "FC pruned", "FC pruned + kmeans", "FC pruned + uniform"}
    assert {row["order"] for row in r.sweep if "order" in row} == {"prune_quantize", "quantize_prune"}
    # the sweep's rows follow sweep_keys; its binary-FC row is the marginal trade's arm
    keys = tac.experiment.sweep_keys(r.config)
    assert [{k: row[k] for k in key} for row, key in zip(r.sweep, keys)] == keys and len(r.sweep) == len(keys)
    assert r.sweep[1]["acc"] == r.runs[0].acc[TRUNK_FC_BINARY]
    assert r.costs["tac"].compression > 10 and r.costs["xnor_all"].speedup > r.costs["tac"].speedup


def test_same_seed_same_numbers(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    again = tac.run(tac.from_params(**TINY), progress=False)
    for v in tac.experiment.MAIN_VARIANTS:
        assert again.acc(v) == tiny_run.acc(v)
    assert [row["acc"] for row in again.sweep] == [row["acc"] for row in tiny_run.sweep]


def test_claims_verdicts_are_computed(tiny_run):
    record = results.Record("tac", parameters={})
    m = Measured.from_result(tiny_run)
    claims.record_claims(record, m)
    ids = [c.id for c in record.claims]
    assert ids == ["xnor-all-above-chance", "fc-binarization-poor-trade", "tac-cost-comparable", "tac-beats-xnor-all",
                   "tac-gain-6-points"]
    assert set(ids) <= set(claims.RULES)
    by_id = {c.id: c for c in record.claims}
    assert {c.kind for c in record.claims} == {"paper", "check"} and by_id["xnor-all-above-chance"].kind == "check"
    for c in record.claims:
        assert c.verdict in ("holds", "does not hold", "inconclusive") and c.n == len(tiny_run.runs)
    trade = by_id["fc-binarization-poor-trade"]
    assert trade.unit == "points" and trade.test.startswith("paired t")
    binary_loss, tac_loss = claims.marginal_losses(m)
    assert trade.estimate == pytest.approx(100 * (sum(binary_loss) - sum(tac_loss)) / len(tac_loss))
    assert binary_loss[0] == pytest.approx(tiny_run.runs[0].acc["xnor_conv"] - tiny_run.runs[0].acc[TRUNK_FC_BINARY])
    assert "speed-up by" in trade.claim and "compression by" in trade.claim
    assert len(by_id["tac-cost-comparable"].parts) == 2 and by_id["tac-cost-comparable"].by_construction
    assert by_id["tac-cost-comparable"].verdict == "holds"  # the ratios are the same at every seed, up to fillers
    assert by_id["tac-gain-6-points"].margin == claims.GAIN_POINTS
    assert set(record.baselines) == {"chance", "full precision"}
    # the comparability parts: one ratio per seed's networks (sparse-index fillers vary a little)
    comp, speed = claims.cost_ratios(m)
    assert comp[0] == pytest.approx(tiny_run.costs["tac"].compression / tiny_run.costs["xnor_all"].compression)
    assert len(comp) == len(speed) == len(tiny_run.runs) and min(comp + speed) > claims.COMPARABLE
    # paired over seeds: a per-seed gain that a two-sample rule would miss still holds
    tac_acc, xnor_acc = [0.80, 0.90, 0.85], [0.79, 0.89, 0.84]
    assert claims.tac_beats_xnor(tac_acc, xnor_acc).verdict == "holds"
    assert claims.tac_beats_xnor(xnor_acc, tac_acc).verdict == "does not hold"
    assert claims.tac_gain(tac_acc, xnor_acc).verdict == "does not hold"  # 1 point, not more than 6


def test_claim_rules_can_fail():
    assert stats.falsification_problems(claims.RULES) == []


def test_paper_preset_records_the_published_baseline_checks(tiny_run):
    cfg = tac.from_params(preset="paper")
    fake = dataclasses.replace(Measured.from_result(tiny_run), config=cfg)
    record = results.Record("tac", parameters={})
    claims.record_claims(record, fake)
    checks = {c.id: c for c in record.claims if c.kind == "check"}
    assert set(checks) == {"xnor-all-above-chance", "tac-cost-comparable", "xnor-baseline-as-published",
                           "fp-baseline-as-published"}
    assert {c.id for c in record.claims} <= set(claims.RULES)
    assert record.baselines["chance"].value == pytest.approx(0.1)


def test_live_compression_without_retraining(tiny_run):
    p0 = tac.live_compression(tiny_run, 0.0, 32)
    base = tiny_run.runs[0]
    assert p0["acc"] == pytest.approx(base.acc["xnor_conv"])  # nothing changed: the xnor_conv network
    p = tac.live_compression(tiny_run, 0.9, 4)
    assert p["compression"] > p0["compression"] and p["speedup"] > p0["speedup"]


def test_figures_draw(tiny_run):
    import matplotlib.pyplot as plt

    m = Measured.from_result(tiny_run)
    for fig in (tac.figures.fc_treatments(m), tac.figures.speedup_vs_drop(m), tac.figures.live_panel(tiny_run),
                tac.figures.live_panel(tiny_run, 0.99, 1)):
        plt.close(fig)
    assert tac.figures.variant_table(m, tiny_run.costs).count("\n") == 6
    assert "quantize → prune" in tac.figures.ablation_table(m)
    assert tac.figures.shares_table(tiny_run.config).count("\n") == 5


def test_live_panel_keeps_its_axis_when_the_live_point_is_far_below(monkeypatch):
    """A live point far below the trained variants does not squash the accuracy axis."""
    import matplotlib.pyplot as plt

    accs = [0.9, 0.8, 0.85, 0.88, 0.86]
    fake = TACResult(tac.from_params(), [], {})
    fake.acc = lambda v: [accs[tac.experiment.MAIN_VARIANTS.index(v)]]
    from reprobook.tac.accounting import account

    fake.costs = {v: account(tac.TACNet(variant=v)) for v in tac.experiment.MAIN_VARIANTS}
    monkeypatch.setattr(tac.figures, "live_compression",
                        lambda *a, **k: {"acc": 0.1, "size_mb": 0.01, "compression": 20.0, "speedup": 8.0})
    fig = tac.figures.live_panel(fake, 0.99, 1)
    lo, hi = fig.axes[0].get_ylim()
    assert lo > 70 and hi < 95
    plt.close(fig)


# --- shipped evidence ----------------------------------------------------------------------------
def test_grid_runs_in_smoke_and_its_record_feeds_claims_and_replay(tmp_path):
    from reprobook import chapters
    from reprobook.engine import evidence

    path = evidence.run_grid("tac", seeds=2, smoke=True, out=tmp_path / "tac.json", work=tmp_path / "w",
                             progress=False)
    ev = evidence.EvidenceRecord(json.loads(path.read_text()), path, chapters.CHAPTERS["tac"].grid())
    cfg = tac.experiment.record_config(ev)
    m = Measured.from_evidence(ev, cfg)
    assert m.n == 2 and len(m.sweep) == 2 * len(tac.experiment.sweep_keys(cfg))
    assert m.acc["tac"] == ev.values(tac.ARM, "acc_tac")
    record = results.Record("tac", parameters={})
    claims.record_claims(record, m)
    assert all(c.n == 2 for c in record.claims)
    evidence.replay(ev, steps=3, progress=False).check()
    ev.data["cells"][f"{tac.ARM}/seed0"]["curves"]["fp-seed0"]["loss"]["value"][1] += 0.1
    with pytest.raises(evidence.StaleEvidence, match="reprobook evidence tac"):
        evidence.replay(ev, steps=3, progress=False).check()


def test_shipped_record_is_current_and_has_enough_seeds():
    from reprobook.engine import evidence

    ev = evidence.load("tac")
    assert ev is not None and ev.n >= 8
    assert tac.experiment.evidence_matches(ev, tac.from_params())
    evidence.replay(ev, steps=5, progress=False).check()  # the first steps of seed 0, against the record
