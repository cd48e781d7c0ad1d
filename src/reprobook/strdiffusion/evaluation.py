"""The shipped evaluation of the chapter's weights: many images, several sampling seeds, one record.

The notebook's live run inpaints ``n_test`` images per hole bin with one sampling seed, which is what
its 240 s budget pays for. The claims need more (≥ 32 images per bin, ≥ 3 sampling seeds), so the
evaluation of a set of weights is computed once, offline, by ::

    python -m reprobook.strdiffusion.evaluation --preset evidence

(``--source grid`` or ``--source folder``; default: the weights the chapter loads) and shipped as
``evidence/strdiffusion-eval-<source>.json`` beside the weights' record, where ``<source>`` is ``grid`` (the weights of the evidence grid, ``reprobook evidence strdiffusion``) or
``folder`` (the package's ``weights/`` folder). The record holds the per-image numbers the claims
are judged on (:func:`~reprobook.strdiffusion.experiment.claim_numbers`: each image's scores are
means over the sampling seeds), the per-(seed, image) scores of every variant and reference fill,
the summary metrics, a SHA-256 of the weights it evaluated, and the provenance: command, commit,
code hash, device, torch version, threads and wall time. The notebook uses a record only when its
weights hash equals that of the weights the notebook loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import torch

from reprobook.strdiffusion.fitting import NETS, WEIGHTS_DIR

EVIDENCE_DIR = Path(__file__).parent / "evidence"
SOURCES = ("grid", "folder")


def record_path(source: str) -> Path:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}; got {source!r}")
    return EVIDENCE_DIR / f"strdiffusion-eval-{source}.json"


def weights_files(source: str) -> list[Path]:
    """The files holding the weights of ``source`` (grid: the evidence record's fp16 weights)."""
    if source == "grid":
        return [EVIDENCE_DIR / "strdiffusion.weights.pt"]
    return [WEIGHTS_DIR / f"{n}.pt" for n in NETS]


def weights_hash(source: str) -> str | None:
    """SHA-256 (first 16 hex digits) of the weight files of ``source``; ``None`` when one is missing."""
    h = hashlib.sha256()
    for p in weights_files(source):
        if not p.is_file():
            return None
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def current_source() -> str:
    """Which weights the chapter loads by default: the evidence grid's when shipped, else the folder's."""
    return "grid" if weights_hash("grid") is not None else "folder"


def load(source: str) -> dict | None:
    """The shipped evaluation of ``source``'s weights, or ``None`` when absent or made for other weights."""
    path = record_path(source)
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    return rec if rec.get("weights_hash") == weights_hash(source) else None


# settings that only size the evaluation or the training schedule: a record made with other values still
# describes a run with these networks and this sampler
_SIZE_ONLY = {"n_test", "eval_seeds", "sweep_splits", "sweep_bins", "retrain", "device", "steps_structure",
              "steps_texture", "steps_irsde", "steps_disc", "lr_milestones"}


def shipped_for(cfg) -> tuple[dict | None, str]:
    """``(record, why)``: the shipped evaluation of the weights ``cfg`` loads, when it describes this
    configuration's sampler and networks; else ``None`` and the reason, in words."""
    from reprobook.engine.config import as_dict

    if cfg.retrain:
        return None, "the networks were retrained in this run"
    source = current_source()
    rec = load(source)
    if rec is None:
        return None, f"no evaluation record of the {describe(source)} is shipped yet"
    mine, theirs = as_dict(cfg), rec["config"]
    diff = sorted(k for k in mine if k not in _SIZE_ONLY and mine[k] != theirs.get(k))
    if diff:
        return None, f"the shipped evaluation used other settings ({', '.join(diff)})"
    return rec, ""


def describe(source: str) -> str:
    return {"grid": "evidence-grid weights (reprobook evidence strdiffusion)",
            "folder": "weights of the package's weights/ folder"}[source]


def before_after(live=None) -> str:
    """Markdown table: methods and reference fills × PSNR / hole PSNR / SSIM, for the ``weights/`` folder
    ("before") and the evidence grid ("after"), each from its shipped evaluation record; where a
    record is missing, the live run ``live`` (a :class:`~reprobook.strdiffusion.experiment.StrResult`)
    fills the column of the weights it used, and otherwise the column says it is not shipped."""
    cols = []
    for source, label in (("folder", "before"), ("grid", "after")):
        rec = load(source)
        if rec is not None:
            m = rec["metrics"]
            n = f"{m['n_images']} images × {m['sampling_seeds']} seeds, shipped record"
            cols.append((label, n, {**m["mean"], **{f"{f} (reference)": v for f, v in m["fills"].items()}}))
        elif live is not None and not live.config.retrain and current_source() == source:
            mean = {v: {k: x.mean().item() for k, x in d.items()} for v, d in live.scores.items()}
            mean |= {f"{f} (reference)": {k: x.mean().item() for k, x in d.items()} for f, d in live.fills.items()}
            cols.append((label, f"{len(live.test.img)} images × {live.config.eval_seeds} seed, live run", mean))
        else:
            cols.append((label, "not shipped yet", {}))
    rows_names = list(dict.fromkeys(k for _, _, d in cols for k in d))
    head = "| method | " + " | ".join(f"{lab}: PSNR (dB) | {lab}: hole PSNR (dB) | {lab}: SSIM" for lab, _, _ in cols) + " |"
    lines = [head, "|---|" + "---|" * (3 * len(cols))]
    for r in rows_names:
        cells = []
        for _, _, d in cols:
            v = d.get(r)
            cells += [f"{v['psnr']:.2f}", f"{v['psnr_hole']:.2f}", f"{v['ssim']:.3f}"] if v else ["–"] * 3
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    notes = "; ".join(f"{lab}: {what}" for lab, what, _ in cols)
    return "\n".join(lines) + f"\n\nColumns — {notes}. Before: the {describe('folder')}; after: the {describe('grid')}."


def _tolist(d):
    if isinstance(d, torch.Tensor):
        return d.tolist()
    if isinstance(d, dict):
        return {str(k): _tolist(v) for k, v in d.items()}
    return d


def networks(cfg, source: str) -> tuple[dict, dict]:
    """The four networks of ``source`` (``grid`` or ``folder``) and their provenance."""
    from reprobook.strdiffusion.fitting import load_grid_weights, load_weights, shipped_meta

    if source == "grid":
        got = load_grid_weights(cfg)
        if got is None:
            raise FileNotFoundError("no evidence-grid weights are shipped; run reprobook evidence strdiffusion "
                                    "--seeds 1 --preset evidence")
        return got
    meta = shipped_meta()
    keys = ("steps", "seed", "wall_time_s", "command", "commit")
    return load_weights(cfg), {n: {"source": "shipped weights", **{k: meta[n].get(k) for k in keys}} for n in NETS}


def evaluate(*, preset: str = "evidence", source: str | None = None, smoke: bool = False,
             out: str | Path | None = None, progress: bool = True, argv: list[str] | None = None) -> Path:
    """Evaluate the weights of ``source`` (default: those the chapter loads) at ``preset``'s evaluation
    size and write the record."""
    from reprobook.engine.checkpoint import write_json_atomic
    from reprobook.engine.evidence import code_hash, device_name
    from reprobook.engine.results import git_commit
    from reprobook.strdiffusion import config, experiment

    cfg = config.from_params(preset=preset, smoke=smoke, retrain=False)
    if cfg.data != "book":
        raise ValueError(f"the shipped evaluation uses the book data; preset {preset!r} reads {cfg.data!r}")
    source = current_source() if source is None else source
    if source not in SOURCES:
        raise ValueError(f"--source must be one of {', '.join(SOURCES)}; got {source!r}")
    digest = weights_hash(source)
    if digest is None:
        raise FileNotFoundError(f"no weights to evaluate: {', '.join(map(str, weights_files(source)))} missing")
    commit, code = git_commit(), code_hash("reprobook.strdiffusion")  # the code that runs, taken before it runs
    t0 = time.perf_counter()
    nets, info = networks(cfg, source)
    res = experiment.evaluate(cfg, nets, info, progress=progress)
    wall = time.perf_counter() - t0
    from reprobook.engine.config import as_dict

    record = {
        "format": 1, "chapter": "strdiffusion", "source": source, "weights_hash": digest, "preset": preset,
        "smoke": smoke, "config": as_dict(cfg),
        "command": "python -m reprobook.strdiffusion.evaluation " + " ".join(argv if argv is not None else
                                                                          ["--preset", preset] + (["--smoke"] if smoke else [])),
        "commit": commit, "code_hash": code, "device": device_name(cfg.device),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "wall_time_s": round(wall, 1),
        "training": {n: {k: v for k, v in i.items() if k != "loss"} for n, i in info.items()},
        "numbers": experiment.claim_numbers(res), "metrics": experiment.summary_metrics(res),
        "seed_scores": _tolist(res.seed_scores),
    }
    path = Path(out) if out is not None else record_path(source)
    write_json_atomic(record, path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reprobook.strdiffusion.evaluation",
                                description="evaluate the chapter's current weights and write the shipped record")
    p.add_argument("--preset", default="evidence", help="evaluation size (default: evidence: 32 images per bin, "
                                                        "3 sampling seeds)")
    p.add_argument("--source", default=None, help="weights to evaluate: grid (the evidence grid's) or folder (the "
                                                   "package's weights/); default: those the chapter loads")
    p.add_argument("--smoke", action="store_true", help="a tiny run, for testing")
    p.add_argument("--out", default=None, help="record path (default: evidence/strdiffusion-eval-<source>.json)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    try:
        shown = [x for x in (argv if argv is not None else sys.argv[1:]) if x != "--quiet"]
        path = evaluate(preset=a.preset, source=a.source, smoke=a.smoke, out=a.out, progress=not a.quiet,
                        argv=[x for i, x in enumerate(shown) if x != "--out" and (i == 0 or shown[i - 1] != "--out")])
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"strdiffusion: evaluation record → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
