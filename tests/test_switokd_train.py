"""``reprobook train switokd``: the record of the pair and three-network trainers, bad settings, a paper preset
on a tiny CIFAR-10 in its real on-disk layout (the two-process match is in tests/test_train.py)."""

import json
import pickle

import numpy as np
import pytest

from reprobook.cli import main
from reprobook.switokd import claims as switokd_claims

BOOK = ["train", "switokd", "--preset", "book", "--smoke", "--quiet", "--set", "n_seeds=1", "--set", "ablations=False"]


def _read(out):
    return json.loads((out / "results.json").read_text()), json.loads((out / "history.json").read_text())


def test_pair_trainer_record_with_every_method_and_resume(tmp_path):
    out = tmp_path / "r"
    assert main([*BOOK, "--out", str(out)]) == 0
    rec, hist = _read(out)
    assert list(hist) == ["main-switokd-seed0", "main-dml-seed0", "main-vanilla-seed0", "main-kd-seed0"]
    for m in ("switokd", "dml", "vanilla", "kd"):
        assert 0 <= rec["metrics"][f"{m}_student_top1"][0] <= 1
    fr = rec["metrics"]["switokd_expert_fraction"][0] + rec["metrics"]["switokd_learning_fraction"][0]
    assert fr == pytest.approx(1.0)
    assert [c["id"] for c in rec["claims"]] == ["distillation-precondition", "student-beats-dml-and-vanilla",
                                                "teacher-on-par-with-dml", "adaptive-beats-fixed-threshold",
                                                "expert-mode-occurs"]
    assert {switokd_claims.rule_key(c["id"]) for c in rec["claims"]} <= set(switokd_claims.RULES)
    # one seed: the precondition has no interval, so it is not shown and the student claims are not tested
    by_id = {c["id"]: c for c in rec["claims"]}
    assert by_id["distillation-precondition"]["verdict"] == "inconclusive"
    assert by_id["student-beats-dml-and-vanilla"]["verdict"] == "not tested"
    assert by_id["student-beats-dml-and-vanilla"]["measured"].startswith("not tested: the distillation precondition")
    assert by_id["expert-mode-occurs"]["kind"] == "check" and by_id["expert-mode-occurs"]["test"] == "Clopper–Pearson"
    assert rec["baselines"]["chance"]["value"] == 10.0
    assert main([*BOOK, "--out", str(out), "--resume"]) == 0  # finished phases are reused, not retrained
    assert _read(out)[1] == hist


def test_comparisons_switch_off_and_three_networks(tmp_path):
    assert main([*BOOK, "--set", "methods=('switokd',)", "--out", str(tmp_path / "a")]) == 0
    rec, hist = _read(tmp_path / "a")
    assert list(hist) == ["main-switokd-seed0"] and "dml_student_top1" not in rec["metrics"]
    assert {c["id"]: c["verdict"] for c in rec["claims"]}["student-beats-dml-and-vanilla"] == "not tested"
    assert main([*BOOK, "--set", "topology=1T2S", "--set", "third=mlp", "--out", str(tmp_path / "b")]) == 0
    rec, hist = _read(tmp_path / "b")
    assert list(hist) == ["1T2S-seed0"]
    assert {"T_top1", "S1_top1", "S2_top1", "expert1_fraction", "teacher_stepped_fraction"} <= set(rec["metrics"])
    assert [c["id"] for c in rec["claims"]] == ["expert-mode-occurs"]
    assert rec["metrics"]["T_top1"] == [hist["1T2S-seed0"]["metrics"]["acc_teacher"]["value"][-1]]  # final epoch


@pytest.mark.parametrize("sets, message", [
    (["topology=3T"], "topology must be one of 'pair', '1T2S', '2T1S'"),
    (["topology=2T1S"], "needs a third network"),
    (["methods=('mutual',)"], "methods must be a non-empty subset of switokd, dml, vanilla, kd"),
])
def test_bad_setting_is_one_line(tmp_path, capsys, sets, message):
    argv = [*BOOK]
    for s in sets:
        argv += ["--set", s]
    assert main([*argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def _tiny_cifar10(root, *, per_batch=2, n_test=4):
    """torchvision's CIFAR-10 pickle layout: five training batches and a test batch of random images."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, n).tolist()}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)


def test_paper_preset_on_tiny_cifar10_reports_table4_claims(tmp_path):
    _tiny_cifar10(tmp_path / "data")
    argv = ["train", "switokd", "--preset", "paper", "--data-root", str(tmp_path / "data"), "--quiet",
            "--set", "epochs=1", "--set", "batch_size=5", "--set", "num_workers=0", "--set", "threads=1",
            "--set", "methods=('switokd',)", "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    rec, hist = _read(tmp_path / "r")
    assert rec["parameters"]["teacher"] == "wrn16_8" and rec["parameters"]["dataset"] == "cifar10"
    assert len(hist["main-switokd-seed0"]["metrics"]["G"]["value"]) == 2
    claims = {c["id"]: c for c in rec["claims"]}
    assert {"switokd-student-table4", "switokd-teacher-table4", "dml-student-table4"} <= set(claims)
    assert "92.50" in claims["switokd-student-table4"]["paper"]
    assert {switokd_claims.rule_key(c) for c in claims} <= set(switokd_claims.RULES)
    assert claims["switokd-student-table4"]["kind"] == "paper" and claims["switokd-student-table4"]["test"] \
        == "one-sample single value, no interval"
    assert claims["dml-student-table4"]["measured"].startswith("not tested")
    assert (tmp_path / "r" / "checkpoints" / "main-switokd-seed0.pt").is_file()
