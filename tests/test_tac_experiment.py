"""Chapter 1 (TAC): the experiment end to end at toy size: order of stages, masks, determinism, claims."""

import pytest
import torch

from reprobook import tac
from reprobook.tac import claims
from reprobook.tac.experiment import TACResult

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
    assert set(r.runs[0].acc) == set(tac.experiment.MAIN_VARIANTS)
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
    assert r.costs["tac"].compression > 10 and r.costs["xnor_all"].speedup > r.costs["tac"].speedup


def test_same_seed_same_numbers(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    again = tac.run(tac.from_params(**TINY), progress=False)
    for v in tac.experiment.MAIN_VARIANTS:
        assert again.acc(v) == tiny_run.acc(v)
    assert [row["acc"] for row in again.sweep] == [row["acc"] for row in tiny_run.sweep]


def test_claims_verdicts_are_computed(tiny_run):
    v1, v2 = claims.claim_fc_binarization(tiny_run), claims.claim_tac_beats_xnor(tiny_run)
    assert v1.verdict in ("holds", "does not hold", "inconclusive") and "per doubling" in v1.measured
    assert v2.verdict in ("holds", "does not hold", "inconclusive") and "compression" in v2.measured
    fake = TACResult(tiny_run.config, tiny_run.runs, tiny_run.costs)
    for run, (t, x) in zip(fake.runs, [(0.9, 0.8), (0.91, 0.79)]):
        run.acc = {**run.acc, "tac": t, "xnor_all": x}
    assert claims.claim_tac_beats_xnor(fake).verdict == "holds"
    for run, (t, x) in zip(fake.runs, [(0.7, 0.8), (0.71, 0.79)]):
        run.acc = {**run.acc, "tac": t, "xnor_all": x}
    assert claims.claim_tac_beats_xnor(fake).verdict == "does not hold"


def test_live_compression_without_retraining(tiny_run):
    p0 = tac.live_compression(tiny_run, 0.0, 32)
    base = tiny_run.runs[0]
    assert p0["acc"] == pytest.approx(base.acc["xnor_conv"])  # nothing changed: the xnor_conv network
    p = tac.live_compression(tiny_run, 0.9, 4)
    assert p["compression"] > p0["compression"] and p["speedup"] > p0["speedup"]


def test_figures_draw(tiny_run):
    import matplotlib.pyplot as plt

    for f in (tac.figures.fc_treatments, tac.figures.speedup_vs_drop, tac.figures.live_panel):
        plt.close(f(tiny_run))
    assert tac.figures.variant_table(tiny_run).count("\n") == 6
    assert "quantize → prune" in tac.figures.ablation_table(tiny_run)
