"""Chapter 7 experiment: load (or train) the networks, inpaint the test set, measure.

:func:`run` does everything the notebook shows:

1. networks: the shipped weights (``retrain=False``) or fresh training through the engine's
   :func:`~reprobook.engine.loop.fit` (:mod:`reprobook.strdiffusion.fitting`);
2. test set: held-out photo patches and scenes, ``n_test`` images per mask bin
   (10–20, 20–30, 30–40, 40–50 % holes), fixed image–mask pairs;
3. inpainting with IR-SDE, StrDiffusion without resampling ("+ structure"), full StrDiffusion
   ("+ resampling", official acceptance rule), and the ablations: the paper's acceptance rule
   and edges computed from the masked image; and the texture network's diagnostic, guided at
   every step by the ideal structure it was trained with ("ideal structure");
4. the split sweep (end of the structure-guided stage at ``split·T``);
5. the forward-process phenomena: sparsity of structure vs texture over t, and the
   known/hole discrepancy over t for both processes;
6. the reference fills a reader would ask about: a harmonic (Laplace) fill and a mean-colour fill
   of the same holes, scored like the variants.

The claims are judged in :mod:`reprobook.strdiffusion.claims` from the per-image numbers of
:func:`claim_numbers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from reprobook.engine import distributed, results
from reprobook.engine.runtime import resolve_device, seed_everything
from reprobook.strdiffusion import claims
from reprobook.strdiffusion import metrics as M
from reprobook.strdiffusion.config import StrDiffusionConfig
from reprobook.strdiffusion.data import BIN_NAMES, BINS, book_images, mask_set, paper_images, structure
from reprobook.strdiffusion.sampler import Resampling, SampleStats, early_end, inpaint
from reprobook.strdiffusion.fitting import (NETS, build_sde, load_grid_weights, load_weights, shipped_meta, train_one,
                                            trained_info, training_data)

# variant -> (sampler mode, acceptance rule, edges from)
VARIANTS = {
    "IR-SDE": ("irsde", "code", "full"),
    "+ structure": ("guided", "code", "full"),
    "+ resampling": ("full", "code", "full"),
    "paper rule": ("full", "paper", "full"),
    "masked edges": ("full", "code", "masked"),
    "ideal structure": ("ideal", "code", "full"),  # diagnostic of the texture net: the structure of its training
}
MAIN = ("IR-SDE", "+ structure", "+ resampling")


@dataclass
class TestSet:
    img: torch.Tensor  # [N, 3, H, W]
    mask: torch.Tensor  # [N, 1, H, W], 1 = known
    bin: torch.Tensor  # [N] mask-bin index

    def edges(self, sigma: float, edges_from: str):
        return structure(self.img, self.mask, sigma=sigma, edges_from=edges_from)


@dataclass
class StrResult:
    config: StrDiffusionConfig
    test: TestSet
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)  # variant -> [N,3,H,W]
    scores: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # variant -> metric -> [N], seed mean
    seed_scores: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # variant -> metric -> [S, N]
    fills: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # reference fill -> metric -> [N]
    traces: dict[str, dict] = field(default_factory=dict)  # variant -> {t: (y_known, y_hole, x_known, x_hole)}
    stats: dict[str, SampleStats] = field(default_factory=dict)
    sweep: dict[float, dict[str, torch.Tensor]] = field(default_factory=dict)  # split -> metric -> [n_sweep]
    sweep_index: torch.Tensor | None = None  # test images used by the sweep
    forward: dict[str, torch.Tensor] = field(default_factory=dict)  # forward-process curves [T+1, N]
    d_separation: float = float("nan")  # on the sampling-time inputs y⊙m (what the sampler feeds D)
    d_counts: tuple[int, int] = (0, 0)  # (real above fake, pairs) on the sampling-time inputs
    d_separation_full: float = float("nan")  # on the full textures (the official training inputs)
    training: dict = field(default_factory=dict)  # per network: steps, wall time, provenance
    nets: dict = field(default_factory=dict)


def make_test_set(cfg: StrDiffusionConfig, data_root: str | None = None) -> TestSet:
    """``n_test`` held-out images per mask bin, half photo patches and half scenes, fixed by seed 0."""
    if cfg.data == "book":
        pool = book_images("test", size=cfg.size, n_scenes=256)
    else:
        pool = paper_images(cfg.data, data_root, "test", size=cfg.size, limit=4 * cfg.n_test)
    n_photo = len(pool) - 256 if cfg.data == "book" else len(pool)
    g = torch.Generator().manual_seed(0)
    imgs, masks, bins = [], [], []
    for b, (lo, hi) in enumerate(BINS):
        if cfg.data == "book":
            k = cfg.n_test // 2
            idx = torch.cat([torch.randperm(n_photo, generator=g)[:cfg.n_test - k],
                             n_photo + torch.randperm(256, generator=g)[:k]])
        else:
            idx = torch.randperm(len(pool), generator=g)[:cfg.n_test]
        imgs.append(pool[idx])
        masks.append(mask_set(cfg.masks, len(idx), size=cfg.size, lo=lo, hi=hi, seed=10_000 + b, data_root=data_root))
        bins.append(torch.full((len(idx),), b))
    return TestSet(torch.cat(imgs), torch.cat(masks), torch.cat(bins))


def get_networks(cfg: StrDiffusionConfig, data_root=None, *, progress=True):
    """Shipped weights, or (``retrain``) four fresh trainings through ``fit``."""
    if not cfg.retrain:
        grid = load_grid_weights(cfg)
        if grid is not None:
            return grid
        meta = shipped_meta()
        return load_weights(cfg), {n: {"source": "shipped weights", **{k: meta[n].get(k) for k in
                                                                    ("steps", "seed", "wall_time_s", "command", "commit")}}
                                   for n in NETS}
    from reprobook.engine.checkpoint import run_checkpoint
    from reprobook.engine.config import as_dict

    data = training_data(cfg, data_root)
    nets, info = {}, {}
    for n in NETS:
        nets[n], hist = train_one(cfg, n, data, checkpoint=run_checkpoint(f"strdiffusion-{n}", as_dict(cfg)),
                                  progress=progress)
        info[n] = trained_info(cfg, n, hist)
    return nets, info


def score(out: torch.Tensor, test: TestSet) -> dict[str, torch.Tensor]:
    """Per-image PSNR and SSIM of the whole image and of the hole only: ``metric -> [N]``."""
    hole = 1 - test.mask
    return {"psnr": M.psnr(out, test.img), "ssim": M.ssim(out, test.img),
            "psnr_hole": M.psnr(out, test.img, hole), "ssim_hole": M.ssim(out, test.img, hole).float()}


@torch.no_grad()
def forward_curves(cfg: StrDiffusionConfig, test: TestSet, G, E) -> dict[str, torch.Tensor]:
    """Sparsity (Hoyer, known region) and known/hole discrepancy of both processes over t = 0..T."""
    sde, m = build_sde(cfg), test.mask
    gen = torch.Generator().manual_seed(1)
    gray = G
    out = {k: [] for k in ("sparsity_structure_mean", "sparsity_structure", "sparsity_texture",
                           "delta_texture", "delta_structure")}
    for t in range(cfg.T + 1):
        x_mean = sde.mu_bar(G, E * m, t)  # structure mean on the known region: E + (G-E)e^{-θ̄t dt}
        x_t = sde.marginal(G, E * m, t, generator=gen)
        y_t = sde.marginal(test.img, test.img * m, t, generator=gen)
        out["sparsity_structure_mean"].append(M.hoyer(x_mean, m))
        out["sparsity_structure"].append(M.hoyer(x_t, m))
        out["sparsity_texture"].append(M.hoyer(y_t.mean(1, keepdim=True), m))
        out["delta_texture"].append(M.psnr(y_t, test.img, m) - M.psnr(y_t, test.img, 1 - m))
        out["delta_structure"].append(M.psnr(x_t, gray, m) - M.psnr(x_t, gray, 1 - m))
    return {k: torch.stack(v) for k, v in out.items()}  # [T+1, N]


@torch.no_grad()
def d_separation(cfg: StrDiffusionConfig, D, test: TestSet, G, E, *, masked: bool = True,
                 seeds: int = 1) -> tuple[int, int]:
    r"""``(k, n)``: on how many of ``n`` held-out (image, t) pairs D scores the real pair above the fake one.

    ``masked`` scores the textures times the mask, :math:`D(t, y\odot m, S)`, the inputs the sampler
    feeds D; otherwise the full textures (the official training inputs). One t per image and seed.
    """
    from reprobook.strdiffusion.losses import discriminator_inputs

    sde, k, n = build_sde(cfg), 0, 0
    for s in range(seeds):
        gen = torch.Generator().manual_seed(2 + 1000 * s)
        t = torch.randint(2, cfg.T + 1, (len(test.img),), generator=gen)
        real, fake, _, S = discriminator_inputs(sde, test.img, G, E, test.mask, t, generator=gen)
        if masked:
            real, fake = real * test.mask, fake * test.mask
        k += int((D(t, real, S, stddev_group=1) > D(t, fake, S, stddev_group=1)).sum())
        n += len(test.img)
    return k, n


def sample(cfg, nets, test: TestSet, G, E, *, mode, criterion="code", split=None, index=None, seed=0,
           trace=None, stats=None) -> torch.Tensor:
    device = distributed.device_for(resolve_device(cfg.device))  # this process's GPU
    idx = slice(None) if index is None else index
    gen = torch.Generator(device=device).manual_seed(seed)
    tex = nets["irsde"] if mode == "irsde" else nets["texture"]
    rs = Resampling(u_max=cfg.u_max, u_min=cfg.u_min, jump=cfg.jump, re=cfg.re, criterion=criterion)
    out = inpaint(sde=build_sde(cfg), img=test.img[idx].to(device), mask=test.mask[idx].to(device),
                  G=G[idx].to(device), E=E[idx].to(device), mode=mode, tex_net=tex, str_net=nets["structure"],
                  D=nets["disc"], split=cfg.split if split is None else split, resampling=rs, generator=gen,
                  trace=trace, stats=stats)
    return out.cpu()


def run(cfg: StrDiffusionConfig, *, data_root: str | None = None, progress: bool = True) -> StrResult:
    seed_everything(cfg.seed)
    nets, info = get_networks(cfg, data_root, progress=progress)
    return evaluate(cfg, nets, info, data_root=data_root, progress=progress)


def evaluate(cfg: StrDiffusionConfig, nets: dict, info: dict, *, data_root: str | None = None,
             progress: bool = True) -> StrResult:
    """Steps 2–5 of :func:`run` for the networks ``nets`` (``info``: their provenance)."""
    device = distributed.device_for(resolve_device(cfg.device))  # this process's GPU
    nets = {k: v.to(device).eval() for k, v in nets.items()}
    test = make_test_set(cfg, data_root)
    res = StrResult(cfg, test, training=info, nets=nets)
    edges = {e: test.edges(cfg.canny_sigma, e) for e in ("full", "masked")}
    jobs = [(v, None) for v in VARIANTS] + [(None, s) for s in cfg.sweep_splits if s != cfg.split]
    res.sweep_index = torch.nonzero(torch.isin(test.bin, torch.tensor(cfg.sweep_bins))).view(-1)
    seeds = [cfg.seed + k for k in range(cfg.eval_seeds)]
    sweep_seeds: dict[float, list[dict[str, torch.Tensor]]] = {}
    for variant, split in tqdm(jobs, desc="inpainting", disable=not progress):
        for seed in seeds:  # the same sampling noise for every variant at a given seed: paired by image and seed
            if variant is not None:
                mode, crit, ef = VARIANTS[variant]
                G, E = edges[ef]
                trace, stats = {}, res.stats.setdefault(variant, SampleStats())
                out = sample(cfg, nets, test, G, E, mode=mode, criterion=crit, seed=seed, trace=trace, stats=stats)
                if seed == cfg.seed:  # pictures and trajectories: the first sampling seed
                    res.outputs[variant], res.traces[variant] = out, trace
                for m, v in score(out, test).items():
                    res.seed_scores.setdefault(variant, {}).setdefault(m, []).append(v)
            else:
                G, E = edges["full"]
                sub = TestSet(test.img[res.sweep_index], test.mask[res.sweep_index], test.bin[res.sweep_index])
                out = sample(cfg, nets, test, G, E, mode="guided", split=split, index=res.sweep_index, seed=seed)
                sweep_seeds.setdefault(split, []).append(score(out, sub))
    res.seed_scores = {v: {m: torch.stack(xs) for m, xs in d.items()} for v, d in res.seed_scores.items()}  # [S, N]
    res.scores = {v: {m: x.mean(0) for m, x in d.items()} for v, d in res.seed_scores.items()}  # [N]
    res.sweep = {sp: {m: torch.stack([d[m] for d in ds]).mean(0) for m in ds[0]} for sp, ds in sweep_seeds.items()}
    g = res.scores["+ structure"]
    res.sweep[cfg.split] = {k: v[res.sweep_index] for k, v in g.items()}
    res.sweep = dict(sorted(res.sweep.items()))
    G, E = edges["full"]
    res.forward = forward_curves(cfg, test, G, E)
    res.d_counts = d_separation(cfg, nets["disc"], test, G, E, masked=True, seeds=cfg.eval_seeds)
    res.d_separation = res.d_counts[0] / res.d_counts[1]
    k, n = d_separation(cfg, nets["disc"], test, G, E, masked=False, seeds=cfg.eval_seeds)
    res.d_separation_full = k / n
    res.fills = {"harmonic fill": score(M.harmonic_fill(test.img, test.mask), test),
                 "mean-colour fill": score(M.mean_fill(test.img, test.mask), test)}
    return res


# -- derived quantities for the claims ------------------------------------------------------
def paired(res: StrResult, a: str, b: str, metric: str = "psnr", bins=None) -> list[float]:
    """Per-image differences ``a − b`` of ``metric``, optionally only for the given mask bins."""
    d = res.scores[a][metric] - res.scores[b][metric]
    if bins is not None:
        d = d[torch.isin(res.test.bin, torch.tensor(bins))]
    return d.tolist()


def per_bin(res: StrResult, variant: str, metric: str) -> list[float]:
    v = res.scores[variant][metric]
    return [v[res.test.bin == b].mean().item() for b in range(len(BINS))]


def sparsity_rise(res: StrResult) -> tuple[list[float], list[float]]:
    """Per image: change of known-region Hoyer sparsity from t=0 to t=T, structure (mean) and texture."""
    f = res.forward
    return ((f["sparsity_structure_mean"][-1] - f["sparsity_structure_mean"][0]).tolist(),
            (f["sparsity_texture"][-1] - f["sparsity_texture"][0]).tolist())


def guidance_gains(res: StrResult) -> tuple[list[float], list[float]]:
    """Per sweep image: PSNR gain of guiding the early stage (split 1 → split) and of also guiding
    the late stage (split → 0)."""
    s, cfg = res.sweep, res.config
    hi, lo = max(s), min(s)
    early = (s[cfg.split]["psnr"] - s[hi]["psnr"]).tolist()
    late = (s[lo]["psnr"] - s[cfg.split]["psnr"]).tolist()
    return early, late


def trace_delta(res: StrResult, variant: str, which: str = "texture") -> tuple[list[int], list[float]]:
    """Mean over images of the reverse-trajectory discrepancy PSNR_known − PSNR_hole at each t."""
    tr = res.traces[variant]
    ts = sorted(tr)
    k, h = (0, 1) if which == "texture" else (2, 3)
    return ts, [float((tr[t][k] - tr[t][h]).mean()) for t in ts]


def early_stage_steps(res: StrResult) -> range:
    return range(early_end(res.config.T, res.config.split), res.config.T + 1)


# -- the record: metrics and claims (the notebook and ``reprobook train`` write the same) -----------
def summary_metrics(res: StrResult) -> dict:
    """The results record's metrics: per-bin and mean scores, split sweep, resampling counts, D, training."""
    return {
        "per_bin": {v: {m: per_bin(res, v, m) for m in ("psnr", "ssim", "psnr_hole")} for v in res.scores},
        "mean": {v: {m: s[m].mean().item() for m in s} for v, s in res.scores.items()},
        "split_sweep_psnr": {str(k): v["psnr"].mean().item() for k, v in res.sweep.items()},
        "resampling": {v: {"rounds": s.rounds, "accepted": s.accepted, "averaged": s.averaged,
                           "rule_agreement": (sum(a) / len(a) if (a := s.agreement()) else float("nan"))}
                       for v, s in res.stats.items() if s.rounds},
        "d_separation": res.d_separation,
        "d_separation_counts": list(res.d_counts),
        "d_separation_full_inputs": res.d_separation_full,
        "sampling_seeds": res.config.eval_seeds,
        "n_images": len(res.test.img),
        "fills": {f: {m: s[m].mean().item() for m in s} for f, s in res.fills.items()},
        "training": {n: {k: v for k, v in i.items() if k != "loss"} for n, i in res.training.items()},
    }


def claim_numbers(res: StrResult) -> dict:
    """The per-image numbers the claims are judged on (:func:`reprobook.strdiffusion.claims.record_claims`)."""
    rise_s, rise_y = sparsity_rise(res)
    early, late = guidance_gains(res)
    return {"rise_structure": rise_s, "rise_texture": rise_y, "early": early, "late": late,
            "bin": res.test.bin.tolist(), "seeds": res.config.eval_seeds,
            **{m: {v: s[m].tolist() for v, s in res.scores.items()} for m in ("psnr", "ssim", "psnr_hole", "ssim_hole")},
            "fills": {f: {m: s[m].tolist() for m in ("psnr", "ssim", "psnr_hole", "ssim_hole")}
                      for f, s in res.fills.items()},
            "d_separation": list(res.d_counts), "rule_agreement": res.stats["+ resampling"].agreement()}


def add_claims(record: results.Record, res: StrResult) -> None:
    """The chapter's claims with verdicts computed from ``res`` (rules in :mod:`reprobook.strdiffusion.claims`)."""
    claims.record_claims(record, claim_numbers(res))


__all__ = ["BIN_NAMES", "MAIN", "VARIANTS", "StrResult", "TestSet", "add_claims", "claim_numbers", "evaluate", "make_test_set", "run",
           "summary_metrics"]
