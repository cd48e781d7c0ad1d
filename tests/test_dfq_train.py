"""``reprobook train adasg|adadfq``: the record, bad settings, and the paper preset on a tiny CIFAR-10 fixture."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from reprobook.cli import main
from reprobook.dfq import claims
from reprobook.dfq.config import DFQConfig
from reprobook.dfq.experiment import DFQResult, fp_state
from reprobook.dfq.models import build_model
from reprobook.dfq.train import DFQOutcome
from reprobook.engine import stats
from reprobook.engine.results import Record

TINY = ["--preset", "book", "--smoke", "--quiet", "--set", "n_seeds=1", "--set", "extension_bits=0",
        "--set", "ablations=False"]


def _read(out):
    return (json.loads((out / "results.json").read_text()), json.loads((out / "history.json").read_text()))


def test_adasg_train_writes_record_with_claims(tmp_path):
    out = tmp_path / "r"
    assert main(["train", "adasg", *TINY, "--out", str(out)]) == 0
    rec, hist = _read(out)
    assert rec["chapter"] == "adasg" and rec["parameters"]["preset"] == "book"
    assert set(hist) == {"dfq-fp", "adasg_GDFQ_w3_s0_plain", "adasg_AdaSG_w3_s0_plain"}
    assert len(hist["adasg_AdaSG_w3_s0_plain"]["metrics"]["loss_G"]["value"]) == 4  # 2 epochs × 2 iterations
    for key in ("fp_top1", "W3A3 PTQ (real data)", "W3A3 AdaSG best", "W3A3 AdaSG final", "W3A3 GDFQ best"):
        assert key in rec["metrics"]
    ids = [c["id"] for c in rec["claims"]]
    assert ids == ["adasg-beats-ptq-w3a3", "gdfq-beats-ptq-w3a3", "adasg-beats-gdfq-w3a3"]
    for i in ids:
        claims.rule_for(i)  # every recorded id has a falsifiable rule
    by_id = {c["id"]: c for c in rec["claims"]}
    assert by_id["adasg-beats-gdfq-w3a3"]["kind"] == "paper" and by_id["gdfq-beats-ptq-w3a3"]["kind"] == "check"
    assert by_id["adasg-beats-gdfq-w3a3"]["n"] == 1 and by_id["adasg-beats-gdfq-w3a3"]["verdict"] == "inconclusive"
    assert "paired" in by_id["adasg-beats-gdfq-w3a3"]["test"]
    assert set(rec["baselines"]) == {"chance", "full precision", "PTQ (real data), W3A3", "PTQ (Gaussian noise), W3A3"}
    # the full-precision phase's checkpoint serves as fp_weights of a later run
    P = build_model("digits_resnet", classes=10, in_channels=1)
    P.load_state_dict(fp_state(str(out / "checkpoints" / "dfq-fp.pt")))


@pytest.mark.parametrize("sets, message", [
    (["--set", "bits=9"], "bits must be an integer from 2 to 8"),
    (["--set", "dtype=float16"], "dtype"),
    (["--set", "fp_weights=nothing.pt"], "checkpoint not found"),
])
def test_bad_settings_fail_with_one_line(tmp_path, capsys, sets, message):
    assert main(["train", "adadfq", *TINY, *sets, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_paper_preset_refuses_float64_and_foreign_weights(tmp_path, capsys):
    assert main(["train", "adasg", "--preset", "paper", "--set", "dtype=float64", "--out", str(tmp_path / "a")]) == 2
    assert "only available for the digits dataset" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"weight": torch.zeros(3)}, bad)
    assert main(["train", "adasg", *TINY, "--set", f"fp_weights={str(bad)!r}", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not fit" in err and "\n" not in err


def _write_cifar10(root, n=8):
    """torchvision's CIFAR-10 python-pickle batches, ``n`` random images each."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / f, "wb") as fh:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"labels": [int(v) for v in rng.integers(0, 10, n)]}, fh)


def test_adadfq_paper_preset_on_cifar10_fixture_with_pretrained_weights(tmp_path):
    _write_cifar10(tmp_path / "data")
    torch.manual_seed(0)
    weights = tmp_path / "resnet20_cifar10.pt"
    torch.save(build_model("resnet20", classes=10).state_dict(), weights)
    out = tmp_path / "r"
    sets = {"epochs": 2, "iters_per_epoch": 1, "warmup_epochs": 1, "calib_epochs": 1, "lr_steps": (1,),
            "ptq_batches": 1, "baselines": False, "fp_weights": str(weights)}
    argv = [a for k, v in sets.items() for a in ("--set", f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}")]
    assert main(["train", "adadfq", "--preset", "paper", "--data-root", str(tmp_path / "data"), "--quiet",
                 *argv, "--out", str(out)]) == 0
    rec, hist = _read(out)
    assert set(hist) == {"adadfq_AdaDFQ_w3_s0_bias_corrected"}  # P loaded, not trained; the official range EMA
    assert rec["parameters"]["dataset"] == "cifar10" and rec["parameters"]["model"] == "resnet20"
    got = {c["id"]: c for c in rec["claims"]}
    assert set(got) == {"fp-matches-pretrained", "adadfq-matches-paper-w3a3", "adadfq-beats-ptq-w3a3"}
    assert "84.89" in got["adadfq-matches-paper-w3a3"]["paper"]
    assert got["fp-matches-pretrained"]["verdict"] == "does not hold"  # an untrained P on random images
    assert got["fp-matches-pretrained"]["test"] == "Clopper–Pearson" and got["fp-matches-pretrained"]["n"] == 8


# --- the claim rules (evidence standard: paired intervals, kinds, baselines, rules that can fail) ---------


def test_every_claim_rule_can_fail():
    assert stats.falsification_problems(claims.RULES) == []


def _outcome(method, bits, seed, final, best=None):
    return DFQOutcome(method, bits, seed, None, [best if best is not None else final, final])


def _fake_adadfq(n_seeds=3, gdfq=0.70, adasg=0.82, adadfq=0.84, ptq_real=0.75):
    """A Chapter 5 result at the paper preset's setting (CIFAR-10 ResNet-20), W3A3 plus a W2A2 extension."""
    cfg = DFQConfig(chapter="adadfq", dataset="cifar10", model="resnet20", img_size=32, bits=3, extension_bits=2,
                    n_seeds=n_seeds, ext_seeds=2)
    runs, ptq = {}, {}
    for bits, n in ((3, n_seeds), (2, 2)):
        ptq[bits] = {"PTQ (real data)": ptq_real, "PTQ (Gaussian noise)": 0.3, "PTQ (real data, official EMA)": 0.2}
        for m, acc in (("GDFQ", gdfq), ("AdaSG", adasg), ("AdaDFQ", adadfq)):
            runs[(m, bits)] = [_outcome(m, bits, s, acc + 0.01 * s, best=acc + 0.1) for s in range(n)]
    abl = {"AdaDFQ": runs[("AdaDFQ", 3)][0], "w/o L_ds": _outcome("w/o L_ds", 3, 0, 0.8),
           "w/o L_as": _outcome("w/o L_as", 3, 0, 0.78), "band [0, 0.5]": _outcome("band", 3, 0, 0.8),
           "band [0.3, 1]": _outcome("band", 3, 0, 0.81)}
    return DFQResult(cfg, 0.93, ptq, runs, ablations=abl)


def test_recorded_ids_are_covered_kinds_and_final_epoch():
    res = _fake_adadfq()
    rec = Record("adadfq", parameters={})
    claims.record_claims(rec, res, n_test=10000)
    ids = [c.id for c in rec.claims]
    for i in ids:
        claims.rule_for(i)
    assert {"fp-matches-pretrained", "adadfq-matches-paper-w3a3", "adadfq-beats-adasg-w3a3", "adasg-beats-gdfq-w3a3",
            "adadfq-beats-gdfq-w2a2", "gdfq-beats-ptq-w3a3", "largest-adaptability-not-best",
            "mid-band-best"} <= set(ids)
    by = {c.id: c for c in rec.claims}
    assert by["adadfq-beats-adasg-w3a3"].kind == "paper" and by["adadfq-beats-adasg-w2a2"].kind == "extension"
    assert by["gdfq-beats-ptq-w3a3"].kind == "check" and by["fp-matches-pretrained"].kind == "check"
    # final epoch, not the test-selected best: AdaDFQ's three seeds end at 84, 85, 86 %
    assert by["adadfq-matches-paper-w3a3"].estimate == pytest.approx(85.0)
    # paired over seeds: every seed differs by the same 2 points, so the interval is a point
    assert by["adadfq-beats-adasg-w3a3"].verdict == "holds" and by["adadfq-beats-adasg-w3a3"].n == 3
    # the ablations are one seed: n = 1 is never a verdict
    for cid in ("largest-adaptability-not-best", "mid-band-best"):
        assert by[cid].verdict == "inconclusive"
    assert len(by["mid-band-best"].parts) == 2  # one paired part per extreme margin


def test_comparison_below_ptq_is_flagged():
    res = _fake_adadfq(gdfq=0.5, adasg=0.6, adadfq=0.62, ptq_real=0.7)
    rec = Record("adadfq", parameters={})
    claims.record_claims(rec, res, n_test=10000)
    by = {c.id: c for c in rec.claims}
    assert by["adasg-beats-gdfq-w3a3"].beaten_by == ["PTQ (real data), W3A3"]
    assert by["gdfq-beats-ptq-w3a3"].verdict == "does not hold"
    assert "broken baseline" in by["adadfq-beats-gdfq-w3a3"].claim  # AdaDFQ itself is above PTQ's noise arm
    assert "broken baseline" not in by["adadfq-beats-adasg-w3a3"].claim
    assert "not a reproduction" in rec.claims_markdown()
