"""``reprobook train m2net``: the record and its phases; the paper preset on a Landmark-732-format
fixture (the official list files, shrunk networks); a bad setting fails with one line."""

import json

import numpy as np
import pytest

from reprobook.cli import main
from reprobook.m2net import claims


def test_train_m2net_book_writes_record(tmp_path):
    out = tmp_path / "r"
    argv = ["train", "m2net", "--preset", "book", "--smoke", "--quiet", "--set", "per_class=4", "--set",
            "test_per_class=3", "--set", "batch_size=16", "--set", "variants=('m2net','no_diversity')"]
    assert main([*argv, "--out", str(out)]) == 0
    rec = json.loads((out / "results.json").read_text())
    for n in ("full", "m2net", "no_diversity"):
        assert {f"{n}_acc", f"{n}_mflops", f"{n}_blocks", f"{n}_unique_paths", f"{n}_hamming"} <= set(rec["metrics"])
    assert rec["metrics"]["full_blocks"] == [9.0]
    verdicts = {c["id"]: c["verdict"] for c in rec["claims"]}
    assert set(verdicts) == {"diverse-paths", "location-lookalike", "comparable-complexity", "rnet-above-chance",
                             "beyond-vision", "location-used"}
    assert set(verdicts) <= set(claims.RULES)
    # one seed: no interval; location-lookalike: not run
    assert set(verdicts.values()) == {"inconclusive", "not tested"} and verdicts["location-lookalike"] == "not tested"
    assert {c["id"]: c["kind"] for c in rec["claims"]}["rnet-above-chance"] == "check"
    assert "chance" in rec["baselines"]
    hist = json.loads((out / "history.json").read_text())
    assert list(hist) == ["rnet-seed0", "m2net-seed0-p1", "m2net-seed0-p2", "no_diversity-seed0-p1",
                          "no_diversity-seed0-p2"]
    assert {"reward", "acc", "blocks", "greedy_unique"} == set(hist["m2net-seed0-p1"]["metrics"])


def _landmark_fixture(root, *, n_train=4, n_val=2, classes=3):
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    for split, n in (("train", n_train), ("val", n_val)):
        lines = []
        for i in range(n):
            name = f"img/{split}{i}.png"
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(root / name)
            loc = [50, 27, 10.41, 1, 30, 30, 51.58, 1] if i % 2 else [43, 38, 14.73, 1, 79, 23, 18.53, -1]
            lines.append(f"{name}\t{loc}\t{i % classes}")
        (root / f"Landmark-732_{split}.txt").write_text("\n".join(lines) + "\n")


def test_train_m2net_paper_preset_on_landmark_lists(tmp_path):
    _landmark_fixture(tmp_path / "data")
    shrink = ["layers=(1,1,1)", "planes=(4,4,4)", "policy_planes=(4,4,4,4)", "loc_widths=(8,8,8,8)",
              "num_classes=3", "batch_size=2", "pretrain_epochs=1", "phase1_epochs=1", "phase2_epochs=1",
              "num_workers=0", "policy_init=scratch"]
    out = tmp_path / "r"
    argv = ["train", "m2net", "--preset", "paper", "--data-root", str(tmp_path / "data"), "--quiet",
            "--out", str(out)]
    for s in shrink:
        argv += ["--set", s]
    assert main(argv) == 0
    rec = json.loads((out / "results.json").read_text())
    assert rec["parameters"]["dataset"] == "landmark732" and rec["parameters"]["arch"] == "paper"
    assert {"m2net_acc", "blockdrop_acc", "m2net_mflops", "blockdrop_unique_paths", "m2net_info_class",
            "m2net_location_shuffled_acc"} <= set(rec["metrics"])
    assert "m2net_acc_lookalike" not in rec["metrics"]  # not annotated in the lists
    assert list(json.loads((out / "history.json").read_text())) == [
        "rnet-seed0", "m2net-seed0-p1", "m2net-seed0-p2", "blockdrop-seed0-p1", "blockdrop-seed0-p2"]


@pytest.mark.parametrize("setting, message", [
    ("variants=('blockdrop',)", "variants must start with 'm2net'"),
    ("alpha=0.3", "alpha must be in (0.5, 1]"),
])
def test_train_m2net_bad_setting_is_one_line(tmp_path, capsys, setting, message):
    assert main(["train", "m2net", "--preset", "book", "--smoke", "--set", setting, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
