"""Train the chapter's shipped weights: ``python -m reprobook.ffgan.train``.

Parts (each resumable: every stage runs through ``engine.loop.fit`` with checkpoints in
``--run-dir``):

- ``--part encoders``: the DAMSM pair, the evaluation pair and the attribute classifier (or one
  of them: ``damsm``, ``evalenc``, ``clf``, which may run in parallel processes).
- ``--part gan --variant V``: one generator variant (needs the encoders part; variants may run
  in parallel processes).
- ``--part merge``: evaluates nothing, packs every network into ``--out`` (fp16).
- ``--part all`` (default): all of the above in one process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from reprobook.engine.checkpoint import load_checkpoint, save_checkpoint
from reprobook.engine.loop import History
from reprobook.ffgan.config import from_params
from reprobook.ffgan.evaluate import evaluate
from reprobook.ffgan.experiment import (WEIGHTS, Models, build_encoders, build_generator, datasets, load_weights,
                                        save_weights, test_set, train_classifier, train_damsm, train_gan)
from reprobook.ffgan.metrics import AttrClassifier


def _sd(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def check_metrics(models: Models, seed: int = 0) -> dict[str, float]:
    """Metrics of the smoke-sized evaluation, stored with the weights; a test reproduces them."""
    cfg = from_params(smoke=True, seed=seed)
    ev = evaluate(models, cfg, test_set(cfg), seed=seed)
    return {f"{k}_{v}": ev.mean(v, k) for v in ev.folds for k in ("attr_acc", "r_precision")}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m reprobook.ffgan.train", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="book")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--part", choices=("all", "encoders", "damsm", "evalenc", "clf", "gan", "merge"), default="all")
    p.add_argument("--variant", default="full")
    p.add_argument("--run-dir", default="runs/ffgan-train")
    p.add_argument("--out", default=str(WEIGHTS))
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import os

    from reprobook.engine.results import RUN_DIR_ENV

    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
    cfg = from_params(preset=args.preset, seed=args.seed)
    train, _ = datasets(cfg)
    t0 = time.time()
    parts = run_dir / "parts"
    if args.part in ("all", "encoders", "damsm"):
        te, ie, h = train_damsm(cfg, train, width=cfg.img_enc_width, seed=cfg.seed, name="damsm")
        save_checkpoint({"text_enc": _sd(te), "img_enc": _sd(ie), "hist": h.state_dict(), "wall": time.time() - t0},
                        parts / "damsm.pt")
    if args.part in ("all", "encoders", "evalenc"):
        t1 = time.time()
        et, ei, h = train_damsm(cfg, train, width=cfg.eval_enc_width, seed=cfg.seed + 1000, name="damsm-eval")
        save_checkpoint({"eval_text": _sd(et), "eval_img": _sd(ei), "hist": h.state_dict(), "wall": time.time() - t1},
                        parts / "evalenc.pt")
    if args.part in ("all", "encoders", "clf"):
        t1 = time.time()
        clf, h = train_classifier(cfg, train)
        save_checkpoint({"clf": _sd(clf), "hist": h.state_dict(), "wall": time.time() - t1}, parts / "clf.pt")
    variants = cfg.variants if args.part == "all" else (args.variant,)
    if args.part in ("all", "gan"):
        enc = load_checkpoint(parts / "damsm.pt")
        te, ie = build_encoders(cfg, cfg.img_enc_width)
        te.load_state_dict(enc["text_enc"])
        ie.load_state_dict(enc["img_enc"])
        for v in variants:
            t1 = time.time()
            G, h = train_gan(cfg, train, te, ie, variant=v)
            save_checkpoint({"G": _sd(G), "hist": h.state_dict(), "wall": time.time() - t1}, parts / f"gan-{v}.pt")
    if args.part in ("all", "merge"):
        enc = {}
        gens, hists, walls = {}, {}, {}
        for name in ("damsm", "evalenc", "clf"):
            part = load_checkpoint(parts / f"{name}.pt")
            enc.update(part)
            hists[name] = History()
            hists[name].load_state_dict(part["hist"])
            walls[name] = part["wall"]
        te, ie = build_encoders(cfg, cfg.img_enc_width)
        et, ei = build_encoders(cfg, cfg.eval_enc_width)
        clf = AttrClassifier()
        for m, k in ((te, "text_enc"), (ie, "img_enc"), (et, "eval_text"), (ei, "eval_img"), (clf, "clf")):
            m.load_state_dict(enc[k])
        for v in cfg.variants:
            g = load_checkpoint(parts / f"gan-{v}.pt")
            gens[v] = build_generator(cfg, v)
            gens[v].load_state_dict(g["G"])
            hists[f"gan_{v}"] = History()
            hists[f"gan_{v}"].load_state_dict(g["hist"])
            walls[f"gan_{v}"] = g["wall"]
        meta = {"seed": args.seed, "preset": args.preset, "wall_time_s": walls,
                "command": f"python -m reprobook.ffgan.train --preset {args.preset} --seed {args.seed}"}
        models = Models(te, ie, et, ei, clf, gens, hists)
        out = save_weights(models, cfg, args.out, meta=meta)
        meta["check"] = check_metrics(load_weights(cfg, out))  # measured on the stored fp16 weights
        out = save_weights(models, cfg, args.out, meta=meta)
        print(f"check metrics: {meta['check']}")
        print(f"weights: {out} ({out.stat().st_size / 1e6:.2f} MB); wall times {walls}")


if __name__ == "__main__":
    main()
