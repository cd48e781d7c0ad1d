"""``reprobook train adasg|adadfq``: the record, bad settings, and the paper preset on a tiny CIFAR-10 fixture."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from reprobook.cli import main
from reprobook.dfq.experiment import fp_state
from reprobook.dfq.models import build_model

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
    assert ids == ["adasg-beats-ptq-w3a3", "adasg-geq-gdfq-w3a3", "game-settles"]
    assert all(c["verdict"] in ("holds", "does not hold", "inconclusive") for c in rec["claims"])
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
    assert set(hist) == {"adadfq_AdaDFQ_w3_s0_plain"}  # P loaded, not trained
    assert rec["parameters"]["dataset"] == "cifar10" and rec["parameters"]["model"] == "resnet20"
    claims = {c["id"]: c for c in rec["claims"]}
    assert set(claims) == {"fp-matches-pretrained", "adadfq-matches-paper-w3a3", "adadfq-beats-ptq-w3a3"}
    assert "84.89" in claims["adadfq-matches-paper-w3a3"]["paper"]
    assert claims["fp-matches-pretrained"]["verdict"] == "does not hold"  # an untrained P on random images
