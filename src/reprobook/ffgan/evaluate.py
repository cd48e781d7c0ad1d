"""Chapter 6 evaluation run: generate from held-out captions with every variant and measure.

:func:`evaluate` returns an :class:`Evaluation` with per-fold metrics (folds = disjoint blocks of
test captions, as the original's R-precision folds), which the notebook's claims compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from reprobook.engine import distributed, results
from reprobook.ffgan import claims
from reprobook.ffgan.config import FFGANConfig
from reprobook.ffgan.data import COLORS, LAYOUTS, SHAPES, SIZES, CUBAllCaptions, caption_words, choose_captions, encode
from reprobook.ffgan.experiment import Models
from reprobook.ffgan.model import trim_words
from reprobook.ffgan.metrics import (attention_entropy, attention_localization, attr_predictions, colour_masks,
                                     frechet_distance, r_precision, swap_colour)


@dataclass
class Generated:
    images: list[torch.Tensor]  # per stage: [N, 3, s, s] in [-1, 1]
    attn: list[torch.Tensor]  # per refinement stage: [N, T, h, w]


@dataclass
class Evaluation:
    config: FFGANConfig
    test: tuple  # the evaluated test tensors (x, cap, cap_len, attrs, masks, word_obj, cls)
    generated: dict[str, Generated]
    folds: dict[str, dict[str, list[float]]]  # variant -> metric -> one value per fold
    fd: dict[str, float]  # variant -> Fréchet distance (all evaluated images); "real" = floor
    real_attr_acc: float
    edit: dict[str, dict[str, float]] = field(default_factory=dict)
    locality: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # variant -> stage -> raw values
    n_params: dict[str, int] = field(default_factory=dict)  # variant -> generator parameters

    def mean(self, variant: str, metric: str) -> float:
        return float(np.mean(self.folds[variant][metric]))


@torch.no_grad()
def generate(G, text_enc, cap: torch.Tensor, cap_len: torch.Tensor, *, seed: int = 0, batch: int = 250,
             trim: bool = False) -> Generated:
    """Images at every stage and attention maps, with noise z and CA noise fixed by ``seed``.

    ``trim``: each batch's word features are cut to its longest caption (official); the attention
    maps are zero-padded back to ``cap``'s width so that batches concatenate.
    """
    g = torch.Generator().manual_seed(seed)
    G.eval()
    imgs, attn = [], []
    for i in range(0, len(cap), batch):
        w, s = text_enc(cap[i:i + batch], cap_len[i:i + batch])
        if trim:
            w = trim_words(w, cap_len[i:i + batch], across_ranks=False)
        z = torch.randn(len(s), G.z_dim, generator=g)
        out, a, _, _ = G(z, s, w, cap_len[i:i + batch], generator=g)
        a = [F.pad(t, (0, 0, 0, 0, 0, cap.shape[1] - t.shape[1])) for t in a]  # [b, T, h, w]
        imgs.append(out)
        attn.append(a)
    return Generated([torch.cat([o[k] for o in imgs]) for k in range(len(imgs[0]))],
                     [torch.cat([a[k] for a in attn]) for k in range(len(attn[0]))])


def _acc(pred: torch.Tensor, attrs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ok = (pred == attrs).float()  # [N, 7]
    return ok.mean(1), ok.prod(1)


def evaluate(models: Models, cfg: FFGANConfig, test, *, seed: int = 0) -> Evaluation:
    """All metrics of the chapter for every generator in ``models``."""
    x, cap, cap_len, attrs, masks, owner, cls = (t[: cfg.n_eval] for t in test.tensors)
    pool = test.tensors
    pred_real, feat_real = attr_predictions(models.clf, test.tensors[0])
    real_acc = float((pred_real == test.tensors[3]).float().mean())
    half = len(feat_real) // 2
    fd = {"real": frechet_distance(feat_real[:half], feat_real[half:])}
    folds, gens, loc = {}, {}, {}
    n_fold = cfg.n_eval // cfg.n_folds
    with torch.no_grad():
        s_true, s_pool = models.eval_text(cap, cap_len)[1], models.eval_text(pool[1], pool[2])[1]
    for v, G in models.generators.items():
        gen = generate(G, models.text_enc, cap, cap_len, seed=seed, trim=cfg.trim_words)
        gens[v] = gen
        m: dict[str, list[float]] = {}
        per_stage = []
        for k, im in enumerate(gen.images):
            pred, feat = attr_predictions(models.clf, im)
            acc, exact = _acc(pred, attrs)
            per_stage.append((acc, exact))
            if k == len(gen.images) - 1:
                fd[v] = frechet_distance(feat, feat_real)
        hits = r_precision(models.eval_text, models.eval_img, gen.images[-1], cap, cap_len, cls, pool[1], pool[2],
                           pool[6], n_candidates=cfg.r_candidates, seed=seed, s_true=s_true, s_pool=s_pool)
        gm = colour_masks(gen.images[-1], attrs)
        loc[v] = {}
        for f in range(cfg.n_folds):
            sl = slice(f * n_fold, (f + 1) * n_fold)
            for k, (acc, exact) in enumerate(per_stage):
                m.setdefault(f"attr_acc_stage{k}", []).append(float(acc[sl].mean()))
                m.setdefault(f"exact_acc_stage{k}", []).append(float(exact[sl].mean()))
            m.setdefault("attr_acc", []).append(float(per_stage[-1][0][sl].mean()))
            m.setdefault("exact_acc", []).append(float(per_stage[-1][1][sl].mean()))
            m.setdefault("r_precision", []).append(float(hits[sl].mean()))
            for k, a in enumerate(gen.attn):
                for name, val in attention_entropy(a[sl]).items():
                    m.setdefault(f"attn_{'entropy' if name == 'ratio' else name}_stage{k + 1}", []).append(
                        float(val.mean()))
                r = attention_localization(a[sl], owner[sl], gm[sl])
                ok = len(r["mass"]) > 0  # no object found by colour in this fold: NaN (verdicts: inconclusive)
                nan = float("nan")
                m.setdefault(f"attn_mass_stage{k + 1}", []).append(float(r["mass"].mean()) if ok else nan)
                m.setdefault(f"attn_chance_stage{k + 1}", []).append(float(r["chance"].mean()) if ok else nan)
                m.setdefault(f"attn_lift_stage{k + 1}", []).append(
                    float(r["mass"].mean() / r["chance"].mean()) if ok else nan)
                m.setdefault(f"attn_point_stage{k + 1}", []).append(float(r["point"].mean()) if ok else nan)
                m.setdefault(f"attn_words_stage{k + 1}", []).append(float(len(r["mass"])))
        for k, a in enumerate(gen.attn):
            loc[v][f"stage{k + 1}"] = attention_localization(a, owner, gm)
        folds[v] = m
    ev = Evaluation(cfg, (x, cap, cap_len, attrs, masks, owner, cls), gens, folds, fd, real_acc, locality=loc,
                    n_params={v: sum(p.numel() for p in G.parameters()) for v, G in models.generators.items()})
    for v, G in models.generators.items():
        ev.edit[v] = word_swap(models, G, ev, seed=seed)
    return ev


@torch.no_grad()
def word_swap(models: Models, G, ev: Evaluation, *, k: int = 0, n: int = 100, seed: int = 0) -> dict[str, float]:
    """Swap object k's colour word (same z): how local is the change, and is it the right one?

    ``locality`` = mean |Δ| inside object k's region (its colour mask before ∪ after the edit)
    divided by mean |Δ| outside; ``edit_ok`` = classifier reads the new colour for k;
    ``other_kept`` = it still reads the old colour of the other object.
    """
    x, cap, cap_len, attrs, masks, owner, cls = (t[:n] for t in ev.test)
    cap2, attrs2 = swap_colour(cap, owner, attrs, k)
    before = generate(G, models.text_enc, cap, cap_len, seed=seed).images[-1]
    after = generate(G, models.text_enc, cap2, cap_len, seed=seed).images[-1]
    region = (colour_masks(before, attrs)[:, k] + colour_masks(after, attrs2)[:, k]).clamp(max=1)  # [n, S, S]
    delta = (after - before).abs().mean(1)  # [n, S, S]
    keep = region.sum((1, 2)) > 0
    inside = (delta * region).sum((1, 2)) / region.sum((1, 2)).clamp_min(1)
    outside = (delta * (1 - region)).sum((1, 2)) / (1 - region).sum((1, 2)).clamp_min(1)
    pred, _ = attr_predictions(models.clf, after)
    other = 1 + 3 * (1 - k)
    return {"locality": float(inside[keep].mean() / outside[keep].mean().clamp_min(1e-8)) if keep.any() else float("nan"),
            "inside": float(inside[keep].mean()) if keep.any() else float("nan"),
            "outside": float(outside[keep].mean()) if keep.any() else float("nan"),
            "edit_ok": float((pred[:, 1 + 3 * k] == attrs2[:, 1 + 3 * k]).float().mean()),
            "other_kept": float((pred[:, other] == attrs2[:, other]).float().mean())}


def record_results(record: results.Record, ev: Evaluation, cfg: FFGANConfig) -> results.Record:
    """This run's metrics and the claims they can judge into ``record`` (over caption folds of one generator per
    variant: the gates and the attention claims; the comparisons between variants need the seed-level
    evidence, :func:`reprobook.ffgan.shipped.record_seed_claims`, and are recorded as not tested)."""
    from reprobook.ffgan.shipped import COMMAND

    F_ = ev.folds
    record.metrics = {
        "per_variant": {v: {k: float(np.mean(x)) for k, x in m.items()} for v, m in F_.items()},
        "folds": F_, "fd": ev.fd, "real_attr_acc": ev.real_attr_acc, "edit": ev.edit,
    }
    values = {v: {**m, "fd": [ev.fd[v]], "fd_real": [ev.fd["real"]], "n_params": [ev.n_params[v]]}
              for v, m in F_.items()}
    return claims.record_claims(record, values, branch_num=cfg.branch_num, r_candidates=cfg.r_candidates,
                                real_attr_acc=ev.real_attr_acc, over="folds", command=COMMAND)


@torch.no_grad()
def evaluate_cub(G, text_enc, img_enc, test, cfg: FFGANConfig, *, seed: int = 0, batch: int = 50,
                 device: torch.device | str = "cpu") -> dict[str, list[float]]:
    """CUB R-precision of generator ``G``, as the official evaluation: per fold, the fraction of images whose caption
    ranks first among 100 (the caption + 99 captions of test images of *other* classes) by the cosine of the DAMSM
    codes.

    ``cfg.n_eval`` images are generated, cycling over the test images with a seeded caption choice
    (official: 30,000 images, 10 folds). The work is split over the ranks (each generates every
    W-th image with noise drawn for all images up front) and the image codes are summed over ranks.
    Returns ``{"r_precision": [one value per fold]}``.
    """
    cub = CUBAllCaptions(test)
    n, W, rank = cfg.n_eval, distributed.world_size(), distributed.current().rank
    g = torch.Generator().manual_seed(seed)
    pool = [cub.captions(i) for i in range(len(cub))]
    caps = torch.stack([c for c, _ in pool])  # [N_test, K, L]
    lens = torch.stack([k for _, k in pool])  # [N_test, K]
    K = caps.shape[1]
    cls = torch.tensor([cub.class_id(i) for i in range(len(cub))])
    items = torch.arange(n) % len(cub)
    cap, cap_len = choose_captions(caps[items], lens[items], words_num=cfg.words_num, generator=g, n_global=n,
                                   rows=slice(0, n))
    z, eps = torch.randn(n, G.z_dim, generator=g), torch.randn(n, G.ca_net.c_dim, generator=g)
    G, text_enc, img_enc = G.to(device).eval(), text_enc.to(device).eval(), img_enc.to(device).eval()

    def sentences(c, k):
        return torch.cat([text_enc(c[i:i + 500].to(device), k[i:i + 500])[1].cpu() for i in range(0, len(c), 500)])

    pool_cap = caps.view(-1, caps.shape[2])[:, : cfg.words_num]  # candidates: every test caption (first words)
    pool_len = lens.view(-1).clamp(max=cfg.words_num)
    s_pool, s_true = sentences(pool_cap, pool_len), sentences(cap, cap_len)
    v_bar = torch.zeros(n, text_enc.nef)
    mine = torch.arange(rank, n, W)
    for i in range(0, len(mine), batch):
        j = mine[i:i + batch]
        w, s = text_enc(cap[j].to(device), cap_len[j])
        if cfg.trim_words:  # this batch's longest caption (the official test)
            w = trim_words(w, cap_len[j], across_ranks=False)
        fake = G(z[j].to(device), s, w, cap_len[j], eps=eps[j])[0][-1]
        v_bar[j] = img_enc(fake)[1].float().cpu()
    if W > 1:
        v_bar = distributed.all_reduce(v_bar.to(device), "sum").cpu()
    hits = r_precision(text_enc, img_enc, None, cap, cap_len, cls[items], pool_cap, pool_len,
                       cls.repeat_interleave(K), n_candidates=cfg.r_candidates, seed=seed, s_true=s_true,
                       s_pool=s_pool, v_bar=v_bar)
    per = n // cfg.n_folds
    return {"r_precision": [float(hits[f * per:(f + 1) * per].mean()) for f in range(cfg.n_folds)]}


RELATIONS = ("above", "below", "left of", "right of")


def compose(colour_a: str, shape_a: str, relation: str, colour_b: str, shape_b: str, *, size_a: str = "large",
            size_b: str = "small") -> tuple[torch.Tensor, torch.Tensor, list[str], list[int]]:
    """A caption "a {size_a} {colour_a} {shape_a} {relation} a {size_b} {colour_b} {shape_b}" as tokens.

    Returns ``cap [1,T]``, ``cap_len [1]``, the words and the attribute vector of the described image.
    """
    for val, allowed, name in ((colour_a, COLORS, "colour"), (colour_b, COLORS, "colour"), (shape_a, SHAPES, "shape"),
                               (shape_b, SHAPES, "shape"), (relation, RELATIONS, "relation"),
                               (size_a, SIZES, "size"), (size_b, SIZES, "size")):
        if val not in allowed:
            raise ValueError(f"unknown {name} {val!r}; choose one of: {', '.join(allowed)}")
    ca, cb = list(COLORS).index(colour_a), list(COLORS).index(colour_b)
    sa, sb = SHAPES.index(shape_a), SHAPES.index(shape_b)
    za, zb = SIZES.index(size_a), SIZES.index(size_b)
    layout = 0 if relation in ("above", "below") else 1
    first_is_0 = relation in ("above", "left of")
    o0, o1 = ((ca, sa, za), (cb, sb, zb)) if first_is_0 else ((cb, sb, zb), (ca, sa, za))
    attrs = [layout, *o0, *o1]
    words, _ = caption_words(attrs, order=0 if first_is_0 else 1, template=0)
    ids, n = encode(words)
    return ids[None], torch.tensor([n]), words, attrs


__all__ = ["Evaluation", "Generated", "LAYOUTS", "RELATIONS", "compose", "evaluate", "evaluate_cub", "generate",
           "record_results", "word_swap"]
