"""Chapter 2 experiment: pre-train the recognition network, then train M²Net, BlockDrop and the
ablations (phase 1: policy only; phase 2: joint) through :func:`reprobook.engine.loop.fit`, and
evaluate greedy paths on the test set (Chapter 2, §The run).

Every phase goes through a :data:`~reprobook.engine.loop.PhaseFit` ``fitter``: the notebook's
default, :func:`~reprobook.engine.loop.cached_fit`, checkpoints into the run directory;
``reprobook train`` passes its context's resumable phases. The same code runs under ``torchrun``: each rank holds a slice of every global
batch, the trained networks are data-parallel (global batch norm), and everything the method
computes over the batch is taken over the global batch — the sampled paths (Bernoulli draws on the
gathered keep probabilities, from the same random stream on every rank), the batch diversity of
the reward and of its greedy baseline, the number of unique paths, the random block drop of
pre-training, and phase 2's REINFORCE term, which the official code sums (not averages) over the
batch. With one process all of this is the single-process computation, bit for bit.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from reprobook.engine import distributed
from reprobook.engine.config import as_dict
from reprobook.engine.loop import BatchStream, History, PhaseFit, cached_fit
from reprobook.engine.runtime import resolve_device, seed_everything
from reprobook.m2net import method as M
from reprobook.m2net.config import M2NetConfig
from reprobook.m2net.data import CITIES, GeoLandmarks, LandmarkList, geo_landmarks, hard_cities
from reprobook.m2net.model import FlatResNet, LocationBranch, PolicyNet, block_flops, load_resnet18, resnet18_weights_path
from reprobook.engine.evidence import Grid

@dataclass(frozen=True)
class Variant:
    """One trained configuration: policy inputs, fusion weights, reward weights, curriculum."""

    name: str
    label: str
    use_location: bool
    w_img: float
    w_loc: float
    w_div: float
    w_sp: float
    curriculum: bool = False


def variants(cfg: M2NetConfig) -> dict[str, Variant]:
    """M²Net with the config's knobs, the BlockDrop baseline and the issue's ablations."""
    m = Variant("m2net", "M²Net", True, cfg.w_img, cfg.w_loc, cfg.w_div, cfg.w_sp)
    allv = {
        "m2net": m,
        # BlockDrop: image-only policy, sparsity-only reward, curriculum in phase 1.
        "blockdrop": Variant("blockdrop", "BlockDrop", False, 1.0, 0.0, 0.0, 1.0, curriculum=True),
        "no_location": replace(m, name="no_location", label="location off", use_location=False),
        "no_diversity": replace(m, name="no_diversity", label="diversity off", w_div=0.0),
        "fusion_55": replace(m, name="fusion_55", label="fusion 0.5/0.5", w_img=0.5, w_loc=0.5),
        "fusion_73": replace(m, name="fusion_73", label="fusion 0.7/0.3", w_img=0.7, w_loc=0.3),
    }
    return {n: allv[n] for n in cfg.variants}


# --- networks and data ---------------------------------------------------------------------------

def build_rnet(cfg: M2NetConfig) -> FlatResNet:
    """Recognition network: book (BasicBlocks on 16×16 grey) or paper (``FlatResNet224(Bottleneck, [7,7,7])``)."""
    if cfg.arch == "paper":
        # 224 → stem /4 → 56 → 56, 28, 14; AvgPool2d(7) on 14×14 → 2×2×1024 = 4096 features.
        side = 56
        for st in cfg.strides:
            side = (side - 1) // st + 1
        fc_in = (side // 7) ** 2 * cfg.planes[-1] * 4
        return FlatResNet(block="bottleneck", layers=cfg.layers, planes=cfg.planes, strides=cfg.strides,
                          in_channels=3, stem="imagenet", pool=7, fc_in=fc_in, num_classes=cfg.num_classes)
    return FlatResNet(block="basic", layers=cfg.layers, planes=cfg.planes, strides=cfg.strides,
                      in_channels=1, stem="small", num_classes=cfg.num_classes)


def build_policy(cfg: M2NetConfig, variant: Variant) -> PolicyNet:
    """Policy network: ResNet image branch (one BasicBlock per stage) + location MLP, fused."""
    n = len(cfg.policy_planes)
    if cfg.arch == "paper":
        # Policy224_loc: ResNet-18's first block per stage on the 112×112 pooled image; AvgPool2d(4) → 512.
        feats = FlatResNet(block="basic", layers=(1,) * n, planes=cfg.policy_planes, strides=(1,) + (2,) * (n - 1),
                           in_channels=3, stem="imagenet", pool=4, num_classes=0)
    else:
        feats = FlatResNet(block="basic", layers=(1,) * n, planes=cfg.policy_planes, strides=(1,) + (2,) * (n - 1),
                           in_channels=1, stem="small", num_classes=0)
    return PolicyNet(features=feats, num_blocks=cfg.num_blocks, use_location=variant.use_location,
                     loc_widths=cfg.loc_widths, w_img=variant.w_img, w_loc=variant.w_loc)


def load_data(cfg: M2NetConfig):
    """``(train, test)``: GeoLandmarks-synth for the book, Landmark-732 lists under ``data_root`` for the paper."""
    if cfg.dataset == "landmark732":
        return (LandmarkList(split="train", data_root=cfg.data_root),
                LandmarkList(split="test", data_root=cfg.data_root))
    return (geo_landmarks(split="train", per_class=cfg.per_class, detail_p=cfg.detail_p),
            geo_landmarks(split="test", per_class=cfg.test_per_class, detail_p=cfg.detail_p))


def _set_lr(opt: torch.optim.Optimizer, base: float, epoch: int, cfg: M2NetConfig) -> None:
    """Official step schedule: ``lr = base · 0.1^(epoch // lr_step_epochs)``."""
    for g in opt.param_groups:
        g["lr"] = base * 0.1 ** (epoch // cfg.lr_step_epochs)


def _batch(batch, device):
    x, loc, y = batch
    return x.to(device), loc.to(device).float(), torch.as_tensor(y).to(device)


# --- training ------------------------------------------------------------------------------------

def global_batch(x: torch.Tensor) -> torch.Tensor:
    """``[B_local, ...]`` of every rank → the global batch ``[B, ...]`` (no gradient); ``x`` for one process."""
    ctx = distributed.current()
    if not ctx.enabled:
        return x
    full = x.new_zeros((x.shape[0] * ctx.world_size, *x.shape[1:]))
    full[distributed.local_slice(len(full))] = x.detach()
    return distributed.all_reduce(full)  # the other ranks' rows are zeros here: the sum is exact


def sample_global(s_t: torch.Tensor) -> torch.Tensor:
    """``u ~ Bernoulli(s̃)`` drawn for the global batch from the shared random stream; this rank's rows."""
    s_all = global_batch(s_t)
    return M.sample_path(s_all)[distributed.local_slice(len(s_all))]


def pretrain(cfg: M2NetConfig, train, *, seed: int, device, progress: bool = True,
             fitter: PhaseFit | None = None) -> tuple[FlatResNet, History]:
    """Cross-entropy training of the recognition network on full paths (a fraction ``pretrain_drop``
    of blocks dropped at random per sample: a reconstruction that makes it robust to block removal)."""
    seed_everything(seed)
    rnet = build_rnet(cfg).to(device)
    # Blocks dropped by the whole batch get no gradient: DDP must not wait for them.
    model = distributed.wrap(rnet, find_unused_parameters=bool(cfg.pretrain_drop))
    opt = torch.optim.Adam(rnet.parameters(), lr=cfg.pretrain_lr)
    stream = BatchStream(train, batch_size=cfg.batch_size, seed=seed, num_workers=cfg.num_workers)
    spe, K = stream.steps_per_epoch, cfg.num_blocks

    def step(batch, t):
        x, _, y = _batch(batch, device)
        _set_lr(opt, cfg.pretrain_lr, (t - 1) // spe, cfg)
        model.train()
        u = None
        if cfg.pretrain_drop:  # drawn for the global batch, this rank's rows kept
            n = len(y) * distributed.world_size()
            u = (torch.rand(n, K) >= cfg.pretrain_drop).float()[distributed.local_slice(n)].to(device)
        out = model(x, u)
        loss = F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss, "acc": (out.argmax(1) == y).float().mean()}

    fitter = fitter or cached_fit("m2net", as_dict(cfg))
    h = fitter(f"rnet-seed{seed}", step, steps=cfg.pretrain_epochs * spe, stream=stream,
               state={"rnet": rnet, "opt": opt}, ckpt_every=cfg.ckpt_every_epochs * spe,
               desc=f"pre-train ResNet, seed {seed}", progress=progress)
    return rnet, h


def train_variant(cfg: M2NetConfig, variant: Variant, rnet0: FlatResNet, train, *, seed: int, device,
                  progress: bool = True, fitter: PhaseFit | None = None
                  ) -> tuple[FlatResNet, PolicyNet, History, History]:
    """Phase 1 (policy only, frozen recognition network) then phase 2 (joint), for one variant."""
    seed_everything(seed)
    rnet = copy.deepcopy(rnet0).to(device)
    policy = build_policy(cfg, variant)
    if cfg.policy_init != "scratch":  # the official Policy224_loc starts from ImageNet ResNet-18 weights
        load_resnet18(policy.features, cfg.policy_init)
    policy = policy.to(device)
    stream = BatchStream(train, batch_size=cfg.batch_size, seed=seed, num_workers=cfg.num_workers)
    spe, K = stream.steps_per_epoch, cfg.num_blocks
    tag = f"{variant.name}-seed{seed}"
    rw = {"w_div": variant.w_div, "w_sp": variant.w_sp}
    fitter = fitter or cached_fit("m2net", as_dict(cfg))
    # One data-parallel policy for both phases; its value head is never used (official code).
    policy_m = distributed.wrap(policy, find_unused_parameters=True)

    # Phase 1: the recognition network is frozen (eval mode, no gradient).
    for p in rnet.parameters():
        p.requires_grad_(False)
    opt1 = torch.optim.Adam(policy.parameters(), lr=cfg.phase1_lr)

    def step1(batch, t):
        x, loc, y = _batch(batch, device)
        epoch = (t - 1) // spe
        _set_lr(opt1, cfg.phase1_lr, epoch, cfg)
        rnet.eval()
        policy_m.train()
        s = policy_m(x, loc)  # [B, K] keep probabilities
        u_g = M.greedy_path(s)  # greedy baseline path
        s_t = M.bound_probs(s, cfg.alpha)
        u = sample_global(s_t)
        mask = None
        if variant.curriculum:  # BlockDrop: only the last c blocks are decided
            c = min(K, 1 + int((t - 1) // (cfg.cl_epochs * spe)))
            u, u_g, mask = M.curriculum_path(u, c), M.curriculum_path(u_g, c), M.curriculum_mask(K, c, device=device)
        with torch.no_grad():
            ok_g = rnet(x, u_g).argmax(1) == y
            ok = rnet(x, u).argmax(1) == y
        u_all, u_g_all = global_batch(u), global_batch(u_g)  # diversity is relative to the global batch
        R = M.reward(ok, u, penalty=cfg.penalty1, batch=u_all, **rw)
        A = R - M.reward(ok_g, u_g, penalty=cfg.penalty1, batch=u_g_all, **rw)  # self-critical advantage [B]
        loss = M.phase1_loss(s_t, u, A, beta=cfg.beta, mask=mask)  # a batch mean: DDP's average is global
        opt1.zero_grad(set_to_none=True)
        loss.backward()
        opt1.step()
        return {"reward": R.mean(), "acc": ok.float().mean(), "blocks": u.sum(1).mean(),
                "greedy_unique": M.unique_paths(u_g_all)}

    h1 = fitter(tag + "-p1", step1, steps=cfg.phase1_epochs * spe, stream=stream,
                state={"policy": policy, "opt": opt1}, ckpt_every=cfg.ckpt_every_epochs * spe,
                desc=f"{variant.label} phase 1, seed {seed}", progress=progress)

    # Phase 2: joint fine-tuning, REINFORCE (summed over the batch) + CE on the sampled path.
    for p in rnet.parameters():
        p.requires_grad_(True)
    rnet_m = distributed.wrap(rnet, find_unused_parameters=True)  # blocks dropped by the whole batch
    opt2 = torch.optim.Adam([*policy.parameters(), *rnet.parameters()], lr=cfg.phase2_lr)
    n_proc = distributed.world_size()

    def step2(batch, t):
        x, loc, y = _batch(batch, device)
        _set_lr(opt2, cfg.phase2_lr, (t - 1) // spe, cfg)
        rnet_m.train()
        policy_m.train()
        s = policy_m(x, loc)
        u_g = M.greedy_path(s)
        s_t = M.bound_probs(s, cfg.alpha)
        u = sample_global(s_t)
        with torch.no_grad():  # the unwrapped network: no DDP bookkeeping for a gradient-free pass
            ok_g = rnet(x, u_g).argmax(1) == y
        out = rnet_m(x, u)  # gradient into the recognition network only through the sampled path
        ok = out.argmax(1) == y
        u_all, u_g_all = global_batch(u), global_batch(u_g)
        R = M.reward(ok, u, penalty=cfg.penalty2, batch=u_all, **rw)
        A = R - M.reward(ok_g, u_g, penalty=cfg.penalty2, batch=u_g_all, **rw)
        # The REINFORCE term is a sum over the global batch; DDP averages over ranks, hence × ranks.
        loss = n_proc * M.phase2_policy_loss(s_t, u, A) + F.cross_entropy(out, y)
        opt2.zero_grad(set_to_none=True)
        loss.backward()
        opt2.step()
        return {"reward": R.mean(), "acc": ok.float().mean(), "blocks": u.sum(1).mean(),
                "greedy_unique": M.unique_paths(u_g_all)}

    h2 = fitter(tag + "-p2", step2, steps=cfg.phase2_epochs * spe, stream=stream,
                state={"policy": policy, "rnet": rnet, "opt": opt2}, ckpt_every=cfg.ckpt_every_epochs * spe,
                desc=f"{variant.label} phase 2, seed {seed}", progress=progress)
    rnet.eval()
    policy.eval()
    return rnet, policy, h1, h2


# --- evaluation ----------------------------------------------------------------------------------

@torch.no_grad()
def predict(rnet: FlatResNet, policy: PolicyNet | None, x, loc, *, chunk: int = 512):
    """Greedy paths ``u [N, K]`` (all ones without a policy) and logits ``[N, classes]``, eval mode."""
    rnet.eval()
    dev = next(rnet.parameters()).device
    us, outs = [], []
    for i in range(0, len(x), chunk):
        xb, lb = x[i:i + chunk].to(dev), loc[i:i + chunk].to(dev).float()
        if policy is None:
            u = torch.ones(len(xb), rnet.num_blocks, device=dev)
        else:
            policy.eval()
            u = M.greedy_path(policy(xb, lb))
        us.append(u.cpu())
        outs.append(rnet(xb, u).cpu())
    return torch.cat(us), torch.cat(outs)


@torch.no_grad()
def predict_loader(rnet, policy, dataset, *, batch_size: int = 128, num_workers: int = 0, shuffle_loc: bool = False,
                   seed: int = 0):
    """:func:`predict` over a map-style dataset of ``(image, location, label)`` (the paper's data):
    ``(u [N, K], logits [N, classes], y [N])``; ``shuffle_loc`` permutes locations within each batch."""
    from torch.utils.data import DataLoader

    g = torch.Generator().manual_seed(seed)
    us, outs, ys = [], [], []
    for x, loc, y in DataLoader(dataset, batch_size=batch_size, num_workers=num_workers):
        if shuffle_loc:
            loc = loc[torch.randperm(len(loc), generator=g)]
        u, out = predict(rnet, policy, x, loc, chunk=batch_size)
        us.append(u)
        outs.append(out)
        ys.append(torch.as_tensor(y))
    return torch.cat(us), torch.cat(outs), torch.cat(ys)


def evaluate_list(rnet, policy, test, flops, cfg: M2NetConfig, *, seed: int = 0):
    """Metrics and the (true, shuffled) location test on a file-list test set without look-alike labels."""
    u, logits, y = predict_loader(rnet, policy, test, batch_size=cfg.batch_size, num_workers=cfg.num_workers)
    hard = torch.zeros(len(y), dtype=torch.bool)  # not annotated: look-alike accuracy is NaN
    metrics = path_metrics(u, logits, y, hard, flops)
    metrics["info_class"] = M.path_information(u, y, seed=seed)  # no city labels in the lists
    loc = {"true": {"acc": metrics["acc"], "acc_lookalike": float("nan"), "path_change": 0.0}}
    if policy is not None:
        u2, logits2, _ = predict_loader(rnet, policy, test, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                        shuffle_loc=True, seed=seed)
        loc["shuffled"] = {"acc": (logits2.argmax(1) == y).float().mean().item(), "acc_lookalike": float("nan"),
                           "path_change": (u2 != u).any(1).float().mean().item()}
    return metrics, u, logits.argmax(1), loc


def partner_classes(test) -> torch.Tensor:
    """For each sample, the class of the same super-category in the 'partner' city: the look-alike
    partner for look-alike classes, the other detailed class otherwise. ``[N]``."""
    T = int(test.city.max()) + 1 if len(test.city) else 4
    out = torch.empty_like(test.tensors[2])
    for i, (s, t) in enumerate(zip(test.supercat.tolist(), test.city.tolist())):
        h = hard_cities(s)
        others = h if t in h else tuple(c for c in range(T) if c not in h)
        out[i] = s * T + (others[1] if others[0] == t else others[0])
    return out


def path_metrics(u, logits, y, hard, flops) -> dict[str, float]:
    """Accuracy (all, look-alike, other), blocks used, FLOPs, unique paths, mean pairwise Hamming."""
    always, per_block = flops
    ok = (logits.argmax(1) == y).float()
    blocks = u.sum(1)
    macs = always + u @ torch.tensor(per_block)
    return {"acc": ok.mean().item(), "acc_lookalike": ok[hard].mean().item(), "acc_other": ok[~hard].mean().item(),
            "blocks": blocks.mean().item(), "blocks_std": blocks.std().item() if len(u) > 1 else 0.0,
            "mflops": macs.mean().item() / 1e6, "unique_paths": float(M.unique_paths(u)),
            "hamming": M.mean_pairwise_hamming(u)}


def location_test(rnet, policy, test, *, seed: int = 0) -> dict[str, dict[str, float]]:
    """Accuracy and path-change rate with the test locations (a) true, (b) shuffled across samples,
    (c) taken from a random test sample of the partner class (another city's location)."""
    x, loc, y = test.tensors
    g = torch.Generator().manual_seed(seed)
    shuffled = loc[torch.randperm(len(loc), generator=g)]
    partner = partner_classes(test)
    by_class = {int(c): (y == c).nonzero().flatten() for c in y.unique()}
    idx = torch.stack([by_class[int(p)][torch.randint(len(by_class[int(p)]), (1,), generator=g)][0] for p in partner])
    u0, _ = predict(rnet, policy, x, loc)
    out = {}
    for name, l in (("true", loc), ("shuffled", shuffled), ("partner", loc[idx])):
        u, logits = predict(rnet, policy, x, l)
        ok = (logits.argmax(1) == y).float()
        out[name] = {"acc": ok.mean().item(), "acc_lookalike": ok[test.hard].mean().item(),
                     "path_change": (u != u0).any(1).float().mean().item()}
    return out


@dataclass
class RunOut:
    metrics: dict[str, float]
    u: torch.Tensor  # greedy test paths [N, K]
    pred: torch.Tensor  # [N]
    location: dict[str, dict[str, float]]
    history: dict[str, History]


@dataclass
class M2NetResult:
    config: M2NetConfig
    variants: dict[str, Variant]
    test: object  # GeoLandmarks (or LandmarkList)
    flops: tuple[float, list[float]]
    full: list[dict[str, float]]  # full network (all blocks), per seed
    runs: dict[str, list[RunOut]]  # variant -> per seed
    models: dict[str, tuple[FlatResNet, PolicyNet]] = field(default_factory=dict)  # first seed
    pretrain_history: list[History] = field(default_factory=list)

    def values(self, variant: str, metric: str) -> list[float]:
        """``metric`` of ``variant`` over seeds (``variant='full'``: the full network)."""
        if variant == "full":
            return [m[metric] for m in self.full]
        return [r.metrics[metric] for r in self.runs[variant]]

    def location_values(self, variant: str, setting: str, metric: str = "acc_lookalike") -> list[float]:
        return [r.location[setting][metric] for r in self.runs[variant]]


def _evaluate(cfg, rnet, policy, test, flops, seed):
    if not isinstance(test, GeoLandmarks):
        return evaluate_list(rnet, policy, test, flops, cfg, seed=seed)
    x, loc, y = test.tensors
    u, logits = predict(rnet, policy, x, loc)
    metrics = path_metrics(u, logits, y, test.hard, flops)
    metrics["city_share"] = M.explained_share(u, test.city)  # how much of the path variation the city explains
    metrics["info_class"] = M.path_information(u, y, seed=seed)  # bits the greedy path tells about the class
    metrics["info_city"] = M.path_information(u, test.city, seed=seed)  # … and about the city
    loc_test = location_test(rnet, policy, test, seed=seed) if policy is not None else {}
    return metrics, u, logits.argmax(1), loc_test


def check_inputs(cfg: M2NetConfig) -> None:
    """Files the configuration needs beyond its data: the policy's ImageNet weights (``policy_init``)."""
    if cfg.policy_init != "scratch":
        resnet18_weights_path(cfg.policy_init)


def run(cfg: M2NetConfig, *, progress: bool = True, fitter: PhaseFit | None = None) -> M2NetResult:
    """Pre-train, train every variant in ``cfg.variants`` for ``cfg.n_seeds`` seeds, evaluate."""
    check_inputs(cfg)
    device = distributed.device_for(resolve_device(cfg.device))
    train, test = load_data(cfg)
    x_shape = tuple(test[0][0].shape)
    flops = block_flops(build_rnet(cfg), x_shape)
    vs = variants(cfg)
    runs: dict[str, list[RunOut]] = {n: [] for n in vs}
    full, models, pre_h = [], {}, []
    for i in range(cfg.n_seeds):
        seed = cfg.seed + i
        rnet0, h0 = pretrain(cfg, train, seed=seed, device=device, progress=progress, fitter=fitter)
        pre_h.append(h0)
        full.append(_evaluate(cfg, rnet0, None, test, flops, seed)[0])
        for name, v in vs.items():
            rnet, policy, h1, h2 = train_variant(cfg, v, rnet0, train, seed=seed, device=device, progress=progress,
                                                 fitter=fitter)
            metrics, u, pred, loc_test = _evaluate(cfg, rnet, policy, test, flops, seed)
            runs[name].append(RunOut(metrics, u, pred, loc_test, {"phase1": h1, "phase2": h2}))
            if i == 0:
                models[name] = (rnet.cpu(), policy.cpu())
    return M2NetResult(cfg, vs, test, flops, full, runs, models, pre_h)


METRICS = ("acc", "acc_lookalike", "acc_other", "blocks", "blocks_std", "mflops", "unique_paths", "hamming",
           "city_share", "info_class", "info_city")


def flat_metrics(result: M2NetResult) -> dict[str, list[float] | float]:
    """Per-seed metrics of the full network and every variant as ``{"<run>_<metric>": [seed 0, seed 1, …]}``
    (metrics that are NaN on every seed — e.g. look-alike accuracy on unannotated lists — left out), the
    location test as ``<variant>_location_<setting>_<metric>``, and the full network's MFLOPs."""
    metrics = {}
    for n in ["full", *result.runs]:
        rows = result.full if n == "full" else [r.metrics for r in result.runs[n]]
        for k in METRICS:
            vals = [m[k] for m in rows if k in m]
            if vals and not all(math.isnan(v) for v in vals):
                metrics[f"{n}_{k}"] = vals
    for n, runs in result.runs.items():
        for setting in runs[0].location if runs else ():
            for k in ("acc", "acc_lookalike", "path_change"):
                vals = [r.location[setting][k] for r in runs]
                if not all(math.isnan(v) for v in vals):
                    metrics[f"{n}_location_{setting}_{k}"] = vals
    metrics["full_network_mflops"] = (result.flops[0] + sum(result.flops[1])) / 1e6
    return metrics


def vision_ceiling(test) -> float | None:
    """The best look-alike accuracy from pixels alone on the generated set: each look-alike photo is
    drawn identically in its pair's cities, so one over the number of cities in a pair; ``None`` for
    the photo lists (no look-alike annotation)."""
    if not isinstance(test, GeoLandmarks):
        return None
    return 1.0 / len(hard_cities(0))


# --- calibration: location late-fused into the classifier ----------------------------------------

def train_location_classifier(cfg: M2NetConfig, train, *, seed: int, device, progress: bool = True,
                              fitter: PhaseFit | None = None) -> LocationBranch:
    """A classifier from the location alone (the policy's location MLP with ``C`` outputs), cross-entropy
    for ``phase1_epochs + phase2_epochs`` epochs (as long as the policy's location branch trains): the
    location half of the late-fusion baseline."""
    seed_everything(seed)
    net = LocationBranch(widths=cfg.loc_widths, num_blocks=cfg.num_classes).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.pretrain_lr)
    stream = BatchStream(train, batch_size=cfg.batch_size, seed=seed, num_workers=cfg.num_workers)

    def step(batch, _):
        _, loc, y = _batch(batch, device)
        net.train()
        loss = F.cross_entropy(net(loc), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss}

    fitter = fitter or cached_fit("m2net", as_dict(cfg))
    fitter(f"locnet-seed{seed}", step, steps=max(1, cfg.phase1_epochs + cfg.phase2_epochs) * stream.steps_per_epoch,
           stream=stream,
           state={"locnet": net, "opt": opt}, desc=f"location classifier, seed {seed}", progress=progress)
    return net.eval()


def train_vision(cfg: M2NetConfig, rnet0: FlatResNet, train, *, seed: int, device, progress: bool = True,
                 fitter: PhaseFit | None = None) -> FlatResNet:
    """The vision-only calibration classifier: the pre-trained network trained on for ``phase2_epochs`` more
    epochs of cross-entropy on full paths (Adam, ``phase2_lr``), so that its ResNet has as many epochs of
    training as M²Net's (pre-training + phase 2)."""
    seed_everything(seed)
    rnet = copy.deepcopy(rnet0).to(device)
    opt = torch.optim.Adam(rnet.parameters(), lr=cfg.phase2_lr)
    stream = BatchStream(train, batch_size=cfg.batch_size, seed=seed, num_workers=cfg.num_workers)
    spe = stream.steps_per_epoch

    def step(batch, t):
        x, _, y = _batch(batch, device)
        _set_lr(opt, cfg.phase2_lr, (t - 1) // spe, cfg)
        rnet.train()
        out = rnet(x, None)
        loss = F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss, "acc": (out.argmax(1) == y).float().mean()}

    fitter = fitter or cached_fit("m2net", as_dict(cfg))
    fitter(f"vision-seed{seed}", step, steps=max(1, cfg.phase2_epochs) * spe, stream=stream,
           state={"rnet": rnet, "opt": opt}, desc=f"vision-only classifier, seed {seed}", progress=progress)
    return rnet.eval()


@torch.no_grad()
def late_fusion(rnet: FlatResNet, locnet: LocationBranch, test) -> dict[str, float]:
    r"""Accuracy of the vision-only classifier restricted to the city the location classifier names (the
    classes of the generated set are kind × city, class :math:`c` in city :math:`c \bmod T`): the vision
    decides the kind, the location the city. Overall and on the look-alike classes: the upper calibration
    point (location used by the classifier itself, all blocks)."""
    x, loc, y = test.tensors
    _, logits = predict(rnet, None, x, loc)
    dev = next(locnet.parameters()).device
    T = len(CITIES)
    city = locnet(loc.to(dev).float()).argmax(1).cpu() % T  # [N] the located city
    in_city = torch.arange(logits.shape[1])[None, :] % T == city[:, None]  # [N, C]
    fused = logits.masked_fill(~in_city, float("-inf"))
    ok = (fused.argmax(1) == y).float()
    return {"acc": ok.mean().item(), "acc_lookalike": ok[test.hard].mean().item(),
            "city_acc": (city == test.city).float().mean().item()}


# --- shipped evidence ----------------------------------------------------------------------------

EVIDENCE_ARMS = ("m2net", "no_diversity", "no_location", "blockdrop")


def evidence_cell(cfg: M2NetConfig, arm: str, seed: int, *, fit: PhaseFit, progress: bool = True) -> dict:
    """One cell of the evidence grid: pre-train with ``seed``, train variant ``arm``, evaluate greedy test
    paths (metrics of :func:`path_metrics`, path information, the location test). Every cell also reports
    the pre-trained network with all blocks (``full_*``); the ``m2net`` cell adds the calibration classifiers:
    vision only, trained as long as M²Net's ResNet (``vision_*``), and its late fusion with a location
    classifier (``fusion_*``). Weights: the trained recognition and policy networks."""
    if arm not in EVIDENCE_ARMS:
        raise ValueError(f"unknown arm {arm!r}; arms: {', '.join(EVIDENCE_ARMS)}")
    device = resolve_device(cfg.device)
    train, test = load_data(cfg)
    flops = block_flops(build_rnet(cfg), tuple(test[0][0].shape))
    variant = variants(replace(cfg, variants=("m2net", *[a for a in EVIDENCE_ARMS if a != "m2net"])))[arm]
    rnet0, _ = pretrain(cfg, train, seed=seed, device=device, progress=progress, fitter=fit)
    full = _evaluate(cfg, rnet0, None, test, flops, seed)[0]
    rnet, policy, _, _ = train_variant(cfg, variant, rnet0, train, seed=seed, device=device, progress=progress,
                                       fitter=fit)
    m, u, _, loc_test = _evaluate(cfg, rnet, policy, test, flops, seed)
    out = dict(m)
    y = test.tensors[2]
    if isinstance(test, GeoLandmarks):  # P(u_k = 1 | class c), [C·K] row-major: the block-usage heat map
        out["usage"] = torch.stack([u[y == c].float().mean(0) for c in range(cfg.num_classes)]).flatten().tolist()
    out.update({f"full_{k}": full[k] for k in ("acc", "acc_lookalike", "acc_other", "mflops")})
    for setting, vals in loc_test.items():
        out.update({f"location_{setting}_{k}": v for k, v in vals.items()})
    if arm == "m2net" and isinstance(test, GeoLandmarks):  # the calibration classifiers
        vision = train_vision(cfg, rnet0, train, seed=seed, device=device, progress=progress, fitter=fit)
        vm = _evaluate(cfg, vision, None, test, flops, seed)[0]
        out.update({f"vision_{k}": vm[k] for k in ("acc", "acc_lookalike", "acc_other")})
        locnet = train_location_classifier(cfg, train, seed=seed, device=device, progress=progress, fitter=fit)
        out.update({f"fusion_{k}": v for k, v in late_fusion(vision, locnet, test).items()})
    return {"metrics": out, "weights": {"rnet": rnet.cpu().state_dict(), "policy": policy.cpu().state_dict()}}


def evidence_metrics(ev) -> dict[str, list[float]]:
    """A shipped record's per-seed metrics in :func:`flat_metrics`' naming (``<run>_<metric>``), paired by seed:
    every arm's metrics, its location test, and the ``full`` and ``fusion`` calibration classifiers."""
    out: dict[str, list[float]] = {}
    first = ev.cell(EVIDENCE_ARMS[0], ev.seeds[0])["metrics"]
    for arm in ev.data["arms"]:
        for k in ev.cell(arm, ev.seeds[0])["metrics"]:
            if k.startswith(("full_", "fusion_", "vision_")) or k == "usage":
                continue
            name = f"{arm}_{k}"
            out[name] = [float(v) for v in ev.values(arm, k)]
    for k in first:
        if k.startswith(("full_", "fusion_", "vision_")):
            out[k] = [float(v) for v in ev.values(EVIDENCE_ARMS[0], k)]
    return out


# The grid's schedule is the one the chapter's claims need (pre-train 20, phase 1 3, phase 2 12 epochs), given
# on the command line; a replay on another CPU or torch version may differ by rounding: logged losses, rewards
# and accuracies within 2 % (relative).
GRID = Grid("m2net", "reprobook.m2net", arms=EVIDENCE_ARMS, run_cell=evidence_cell, seeds=5, replay_arm="m2net",
            tolerance=0.02, replay_steps=8)
