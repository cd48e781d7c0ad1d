"""``reprobook train tac``: the record, its phases and claims; a bad setting fails with one line."""

import json

from reprobook.cli import main
from reprobook.tac import claims

TINY = ["train", "tac", "--preset", "book", "--smoke", "--quiet", "--set", "n_seeds=1", "--set", "sweep_seeds=0",
        "--set", "fp_steps=3", "--set", "bin_steps=2", "--set", "prune_steps=2", "--set", "quant_steps=2"]


def test_train_tac_writes_record_phases_and_claims(tmp_path):
    out = tmp_path / "r"
    assert main([*TINY, "--out", str(out)]) == 0
    rec = json.loads((out / "results.json").read_text())
    variants = {"fp", "xnor_all", "xnor_conv", "fc_binary", "tac"}
    assert set(rec["metrics"]["test_acc"]) == variants and set(rec["metrics"]["speedup"]) == variants
    assert rec["metrics"]["compression"]["fp"] == 1.0 and rec["metrics"]["compression"]["tac"] > 5
    ids = [c["id"] for c in rec["claims"]]
    assert ids == ["xnor-all-above-chance", "fc-binarization-poor-trade", "tac-cost-comparable", "tac-beats-xnor-all",
                   "tac-gain-6-points"]
    assert set(ids) <= set(claims.RULES)
    # one seed: no interval, so no comparison can hold or fail
    assert all(c["verdict"] == "inconclusive" and c["n"] == 1 for c in rec["claims"])
    assert set(rec["baselines"]) == {"chance", "full precision"}
    phases = ["fp-seed0", "xnor_conv-seed0", "xnor_all-seed0", "fc_binary-seed0", "tac-prune0.9-seed0",
              "tac-prune0.9-kmeans5-seed0", "trunk-binaryfc-seed0"]
    assert list(json.loads((out / "history.json").read_text())) == phases
    assert sorted(p.stem for p in (out / "checkpoints").glob("*.pt")) == sorted(phases)
    # resuming a finished run retrains nothing and gives the same record
    (out / "results.json").unlink()
    assert main([*TINY, "--out", str(out), "--resume"]) == 0
    assert json.loads((out / "results.json").read_text())["metrics"] == rec["metrics"]


def test_train_tac_bad_setting_is_one_line(tmp_path, capsys):
    assert main([*TINY, "--set", "quantizer=nope", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "quantizer must be one of kmeans, uniform" in err and "\n" not in err
