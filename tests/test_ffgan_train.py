"""``reprobook train ffgan``: the record, a bad setting, the paper preset on a tiny CUB fixture, caption draws."""

import json
import pickle

import numpy as np
import pytest
import torch

from reprobook import ffgan
from reprobook.cli import main
from reprobook.ffgan.claims import RULES
from reprobook.ffgan.data import choose_captions

TINY = ["--set", "ngf=4", "--set", "ndf=4", "--set", "nef=8", "--set", "emb_dim=4", "--set", "acm_hidden=8",
        "--set", "r_num=1", "--set", "batch_size=8", "--set", "damsm_batch=8", "--set", "gan_steps=2",
        "--set", "damsm_steps=2", "--set", "img_enc_width=4", "--set", "variants=('full',)"]


def test_trainer_writes_record_history_and_checkpoints(tmp_path):
    out = tmp_path / "r"
    argv = ["train", "ffgan", "--preset", "book", "--smoke", "--quiet", "--out", str(out), *TINY,
            "--set", "n_train=32", "--set", "n_test=120", "--set", "n_eval=20", "--set", "n_folds=2",
            "--set", "r_candidates=10", "--set", "clf_steps=2", "--set", "eval_enc_width=4"]
    assert main(argv) == 0
    rec = json.loads((out / "results.json").read_text())
    assert rec["chapter"] == "ffgan" and rec["parameters"]["gan_steps"] == 2
    assert [c["id"] for c in rec["claims"]] == ["attention-localises", "attributes-above-chance",
                                                "attention-on-object", "attention-sharper-later"]
    assert all(c["verdict"] in ("holds", "does not hold", "inconclusive", "not tested") for c in rec["claims"])
    assert all(c["n"] == 2 for c in rec["claims"] if c["test"])
    assert {c["id"] for c in rec["claims"]} <= set(RULES) and "chance R-precision" in rec["baselines"]
    assert {"attr_acc", "r_precision", "attn_lift_stage2"} <= set(rec["metrics"]["per_variant"]["full"])
    hist = json.loads((out / "history.json").read_text())
    assert set(hist) == {"damsm", "damsm-eval", "clf", "gan-full"}
    assert set(hist["gan-full"]["metrics"]) == {"D0", "D1", "D2", "G", "damsm", "kl"}
    assert sorted(p.stem for p in (out / "checkpoints").iterdir()) == ["clf", "damsm", "damsm-eval", "gan-full"]


def test_bad_setting_fails_with_one_line(tmp_path, capsys):
    assert main(["train", "ffgan", "--preset", "book", "--set", "ema=1.0", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "ema must be in [0, 1)" in err and "\n" not in err


def _cub_fixture(root, *, n_train=8, n_test=4, per_image=2, size=24):
    """AttnGAN's birds layout with a few random images, two classes, ``per_image`` captions each."""
    from PIL import Image

    birds = root / "birds"
    rng = np.random.default_rng(0)
    names = {"train": [f"00{1 + i % 2}.Bird_{1 + i % 2}/img_{i}" for i in range(n_train)],
             "test": [f"00{1 + i % 2}.Bird_{1 + i % 2}/test_{i}" for i in range(n_test)]}
    caps = {k: [list(rng.integers(1, 20, size=int(rng.integers(3, 9)))) for _ in range(len(v) * per_image)]
            for k, v in names.items()}
    (birds / "CUB_200_2011" / "images").mkdir(parents=True)
    lines, boxes = [], []
    for k, split in enumerate(names.values()):
        for name in split:
            path = birds / "CUB_200_2011" / "images" / f"{name}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (size, size + 6, 3), dtype=np.uint8)).save(path)
            lines.append(f"{len(lines) + 1} {name}.jpg")
            boxes.append(f"{len(boxes) + 1} 2.0 3.0 18.0 15.0")
    (birds / "CUB_200_2011" / "images.txt").write_text("\n".join(lines) + "\n")
    (birds / "CUB_200_2011" / "bounding_boxes.txt").write_text("\n".join(boxes) + "\n")
    with open(birds / "captions.pickle", "wb") as f:
        pickle.dump([caps["train"], caps["test"], {i: f"w{i}" for i in range(20)}, {f"w{i}": i for i in range(20)}], f)
    for split, files in names.items():
        (birds / split).mkdir()
        with open(birds / split / "filenames.pickle", "wb") as f:
            pickle.dump(files, f)
    return root


def test_paper_preset_on_a_tiny_cub_fixture(tmp_path):
    root = _cub_fixture(tmp_path / "data")
    out = tmp_path / "r"
    argv = ["train", "ffgan", "--preset", "paper", "--data-root", str(root), "--quiet", "--out", str(out), *TINY,
            "--set", "batch_size=4", "--set", "damsm_batch=4", "--set", "base_size=8", "--set", "branch_num=2",
            "--set", "n_words=20", "--set", "words_num=5", "--set", "n_eval=8", "--set", "n_folds=2",
            "--set", "r_candidates=3", "--set", "image_encoder='cnn'"]  # the Inception file is the user's
    assert main(argv) == 0
    rec = json.loads((out / "results.json").read_text())
    assert [c["id"] for c in rec["claims"]] == ["cub-r-precision-vs-dm-gan", "cub-r-precision-vs-attngan"]
    assert {c["id"] for c in rec["claims"]} <= set(RULES) and rec["claims"][0]["test"] == "one-sample t"
    assert "72.31" in rec["claims"][0]["paper"] and len(rec["metrics"]["folds"]["full"]) == 2
    assert set(json.loads((out / "history.json").read_text())) == {"damsm", "gan-full"}


def test_paper_preset_without_inception_weights_fails_in_one_line_before_any_work(tmp_path, capsys):
    root = _cub_fixture(tmp_path / "data")
    out = tmp_path / "r"
    assert main(["train", "ffgan", "--preset", "paper", "--data-root", str(root), "--quiet", "--out", str(out),
                 *TINY, "--set", "inception_weights='missing.pth'"]) != 0
    err = capsys.readouterr().err.strip()
    assert "Inception-v3 ImageNet weights" in err and "inception_weights=PATH" in err and "\n" not in err
    assert not (out / "results.json").exists()


def test_caption_draws_are_those_of_the_global_batch():
    caps = torch.arange(1, 4 * 3 * 9 + 1).view(4, 3, 9)  # 4 images, 3 captions of up to 9 words
    lens = torch.tensor([[9, 2, 5]] * 4)

    def draw(rows):
        g = torch.Generator().manual_seed(5)
        return choose_captions(caps[rows], lens[rows], words_num=4, generator=g, n_global=4, rows=rows)

    whole, halves = draw(slice(0, 4)), [draw(slice(0, 2)), draw(slice(2, 4))]
    assert torch.equal(whole[0], torch.cat([h[0] for h in halves]))
    assert torch.equal(whole[1], torch.cat([h[1] for h in halves]))
    cap, n = whole
    for b in range(4):
        words = cap[b, : n[b]]
        assert (words > 0).all() and (words.diff() > 0).all() and (cap[b, n[b]:] == 0).all()  # order kept


def test_evidence_grid_ships_weights_that_reproduce_their_metrics(tmp_path, monkeypatch):
    """``reprobook evidence ffgan``: variant × seed cells; each trains the seed's encoders and its generator;
    the encoders ship once per seed (with ``full``) and are identical in every arm of the seed; the shipped
    fp16 weights re-evaluate to the record's metrics, and a partial replay of the first phase matches its curve."""
    from reprobook.engine import evidence
    from reprobook.ffgan import shipped

    monkeypatch.setenv(evidence.EVIDENCE_DIR_ENV, str(tmp_path / "work"))
    sets = dict(ngf=4, ndf=4, nef=8, emb_dim=4, acm_hidden=8, r_num=1, batch_size=8, damsm_batch=8, gan_steps=2,
                damsm_steps=3, img_enc_width=4, eval_enc_width=4, clf_steps=2, n_train=32)
    out = evidence.run_grid("ffgan", seeds=2, smoke=True, sets=sets, out=tmp_path / "ffgan.json", progress=False)
    rec = evidence.EvidenceRecord(json.loads(out.read_text()), out, shipped.GRID)
    assert rec.data["arms"] == ["full", "no_ff", "no_gsr"] and rec.seeds == [0, 1]
    cell = rec.cell("no_ff", 1)
    assert set(cell["curves"]) == {"damsm", "damsm-eval", "clf", "gan-no_ff"}
    m = cell["metrics"]
    for k in ("attr_acc", "exact_acc", "attr_acc_stage0", "r_precision", "fd", "fd_real", "attn_entropy_stage2",
              "attn_max_stage2", "attn_uniform_stage2", "edit_edit_ok", "n_params", "encoders"):
        assert k in m, k
    assert 0 < m["attn_entropy_stage2"] <= 1 + 1e-6 and m["attn_max_stage2"] >= m["attn_uniform_stage2"] - 1e-6
    per = shipped.per_seed(rec)
    assert per["full"]["encoders"] == per["no_ff"]["encoders"] == per["no_gsr"]["encoders"]  # paired by seed
    assert per["full"]["n_params"] == per["no_ff"]["n_params"]  # parameter-matched ablation
    w = rec.weights()
    assert {k.split("/", 2)[2] for k in w if k.startswith("full/seed0/")} == {*shipped.NETWORKS, "G_full"}
    assert {k.split("/", 2)[2] for k in w if k.startswith("no_gsr/seed1/")} == {"G_no_gsr"}
    assert w["full/seed0/G_full"][next(iter(w["full/seed0/G_full"]))].dtype == torch.float16
    models = shipped.load_shipped(ffgan.from_params(smoke=True, **sets), seed=1, rec=rec)
    assert set(models.generators) == {"full", "no_ff", "no_gsr"} and models.meta["seed"] == 1
    again = evidence.replay(rec, progress=False, steps=2).check()
    assert again.partial and any(q == "attr_acc" for q, *_ in again.rows)
    # a partial record (the full model and − FF-Block of seed 0 only): the figures load what it holds, the claims
    # use its paired seeds, and the missing variant's comparison is recorded as not tested
    from reprobook.engine import results

    work = tmp_path / "part"
    (work / "cells").mkdir(parents=True)
    for key in ("full-seed0", "no_ff-seed0"):
        for suffix in (".json", ".weights.pt"):
            src = tmp_path / "work" / "ffgan" / "cells" / f"{key}{suffix}"
            (work / "cells" / src.name).write_bytes(src.read_bytes())
    (work / "evidence.json").write_bytes((tmp_path / "work" / "ffgan" / "evidence.json").read_bytes())
    part = evidence.run_grid("ffgan", seeds=2, smoke=True, sets=sets, out=tmp_path / "part.json", work=work,
                             partial=True, progress=False)
    rec = evidence.EvidenceRecord(json.loads(part.read_text()), part, shipped.GRID)
    assert not rec.complete and rec.seeds == [] and shipped.paired(rec) == (["full", "no_ff"], [0])
    models = shipped.load_shipped(ffgan.from_params(smoke=True, **sets), rec=rec)
    assert set(models.generators) == {"full", "no_ff"} and models.meta["seed"] == 0
    record = results.Record("ffgan", parameters={})
    shipped.record_seed_claims(record, rec, ffgan.from_params(smoke=True, **sets))
    got = {c.id: c for c in record.claims}
    assert "record is partial" in got["gsr-global"].measured and got["gsr-global"].verdict == "not tested"
    assert got["attention-localises"].n in (1, None) and "record is partial" not in got["ffblock-consistency"].measured
    # variants that share no seed: those at the full model's first seed are kept, so the claims stay paired
    class Cells:
        data = {"arms": ["full", "no_ff", "no_gsr"], "planned_seeds": [0, 1]}
        have = {("full", 0), ("full", 1), ("no_ff", 0), ("no_gsr", 1)}

        def has(self, arm, seed):
            return (arm, seed) in self.have

        def seeds_of(self, arm):
            return [s for s in (0, 1) if self.has(arm, s)]

    assert shipped.paired(Cells()) == (["full", "no_ff"], [0])
    values = shipped.per_seed(rec)
    values["no_ff"]["encoders"] = [values["no_ff"]["encoders"][0] * 1.01]  # a cell trained on other encoders
    with pytest.raises(ValueError, match="seed 0: no_ff trained on other encoders"):
        shipped.check_pairing(values, [0])


def test_shipped_record_pairs_its_cells_and_replays():
    """The shipped record is complete: the full model is among its cells, every seed's cells share the
    seed's encoders, its weights fit the 15 MB budget, and its first steps replay."""
    from reprobook.engine import evidence
    from reprobook.ffgan import shipped

    rec = evidence.load("ffgan")
    assert rec is not None, "the FF-GAN evidence record is not shipped"
    assert rec.complete and rec.seeds_of("full") and rec.data["command"] == shipped.COMMAND
    arms, seeds = shipped.paired(rec)
    shipped.check_pairing(shipped.per_seed(rec), seeds)
    weights = rec.path.with_name(rec.data["weights"])
    assert (rec.path.stat().st_size + weights.stat().st_size) / 1e6 <= 15
    evidence.replay(rec, progress=False, steps=3).check()
